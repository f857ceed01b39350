package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TimestampRules;
import ai.nos.internal.torch.TorchRuntime;
import java.util.Arrays;
import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Whisper's timestamp rules in the device sampler, on a vocabulary of 14: text 0-4, end of text
 * 5, a special token 6, {@code <|notimestamps|>} 7, timestamps 8-13 (index 0-5), at most index
 * 2 first. Each hand-worked case picks a different id when its rule is left out; a random
 * comparison holds the device masks to a plain-Java transcription of transformers'
 * {@code WhisperTimeStampLogitsProcessor.__call__}.
 */
final class SamplerTimestampTest {
  static final int V = 14;
  static final int EOS = 5;
  static final int NO_TS = 7;
  static final int BEGIN = 8;
  static final TimestampRules RULES = new TimestampRules(BEGIN, NO_TS, EOS, 2);

  @BeforeAll
  static void natives() {
    TorchRuntime.ensureLoaded();
  }

  /** The greedy choice of each row: {@code histories[i]} null for a row without the rules. */
  private static long[] choose(float[][] logits, int[][] histories) {
    float[][] masked = masked(logits, histories);
    long[] ids = new long[logits.length];
    for (int i = 0; i < ids.length; i++) {
      int best = 0;
      for (int v = 1; v < V; v++) {
        best = masked[i][v] > masked[i][best] ? v : best;
      }
      ids[i] = best;
    }
    // The sampler's own argmax agrees with the masked logits'.
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(V,
        Device.cpu())) {
      long[] got = new long[ids.length];
      new LongPointer(sampler.choose(tensor(logits), null, rows(histories)).contiguous()
          .data_ptr()).get(got);
      assertArrayEquals(ids, got);
    }
    return ids;
  }

  /** The logits after the rules, from the device. */
  private static float[][] masked(float[][] logits, int[][] histories) {
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(V,
        Device.cpu())) {
      Tensor out = sampler.timestamps(tensor(logits), rows(histories)).contiguous();
      float[] flat = new float[logits.length * V];
      new FloatPointer(out.data_ptr()).get(flat);
      float[][] rows = new float[logits.length][];
      for (int i = 0; i < rows.length; i++) {
        rows[i] = Arrays.copyOfRange(flat, i * V, (i + 1) * V);
      }
      return rows;
    }
  }

  private static Sampler.Rows rows(int[][] histories) {
    Sampler.Rows rows = new Sampler.Rows(histories.length);
    for (int i = 0; i < histories.length; i++) {
      rows.set(i, 0f, 0, 1f, 1f, 7, 0, V);
      int[] h = histories[i];
      rows.timestamps(i, h == null ? null : TimestampBounds.of(RULES, h, h.length, V));
    }
    return rows;
  }

  private static Tensor tensor(float[][] logits) {
    float[] flat = new float[logits.length * V];
    for (int i = 0; i < logits.length; i++) {
      System.arraycopy(logits[i], 0, flat, i * V, V);
    }
    return torch.from_blob(new FloatPointer(flat), new long[] {logits.length, V},
        new TensorOptions(torch.ScalarType.Float)).clone();
  }

  private static float[] logits(float... values) {
    assertEquals(V, values.length);
    return values;
  }

  @Test
  void noTimestampsToken_neverChosen() {
    // After text, <|notimestamps|> (7) leads: the best text id 1 instead; a row without the
    // rules still takes 7.
    float[] l = logits(0f, 2f, 0f, 0f, 0f, 0f, 0f, 5f, -9f, -9f, -9f, -9f, -9f, -9f);
    assertArrayEquals(new long[] {1, 7}, choose(new float[][] {l, l},
        new int[][] {{8, 3}, null}));
  }

  @Test
  void firstToken_isATimestamp_noLaterThanMaxInitial() {
    // Text 0 leads, then timestamp 12 (index 4, past the bound 2), then 9: 9.
    float[] l = logits(6f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, -1f, 1f, -1f, 0f, 4f, 0f);
    assertArrayEquals(new long[] {9, 0}, choose(new float[][] {l, l}, new int[][] {{}, null}));
    // Without a bound (-1) the first may be late.
    Sampler.Rows rows = new Sampler.Rows(1);
    rows.set(0, 0f, 0, 1f, 1f, 7, 0, V);
    rows.timestamps(0, TimestampBounds.of(new TimestampRules(BEGIN, NO_TS, EOS, -1),
        new int[0], 0, V));
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(V,
        Device.cpu())) {
      long[] got = new long[1];
      new LongPointer(sampler.choose(tensor(new float[][] {l}), null, rows).data_ptr())
          .get(got);
      assertEquals(12, got[0]);
    }
  }

  @Test
  void timestampAfterText_isFollowedByATimestampOrTheEnd() {
    // Text 0 leads after "<|0|> 3 <|2|>": text below EOS is out; EOS 5 (2.0) beats the
    // special 6 (1.0) and the timestamps left (10 = 2 reopens at the same time: 1.5).
    float[] l = logits(6f, 5f, 0f, 0f, 0f, 2f, 1f, 0f, -9f, -9f, 1.5f, -9f, -9f, -9f);
    assertArrayEquals(new long[] {5}, choose(new float[][] {l}, new int[][] {{8, 3, 10}}));
    // The closing timestamp may repeat the last one: 10 when it leads what is allowed.
    float[] same = logits(6f, 5f, 0f, 0f, 0f, 0f, 0f, 0f, -9f, 4f, 3f, -9f, -9f, -9f);
    assertArrayEquals(new long[] {10}, choose(new float[][] {same},
        new int[][] {{8, 3, 10}}));
  }

  @Test
  void timestampAfterTimestamp_isFollowedByText() {
    // "<|0|> 3 <|2|> <|2|>": timestamp 13 leads, but a pair is closed: text 2.
    float[] l = logits(0f, 0f, 1f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 9f);
    assertArrayEquals(new long[] {2}, choose(new float[][] {l},
        new int[][] {{8, 3, 10, 10}}));
    // So is the first timestamp (nothing before it counts as a timestamp).
    assertArrayEquals(new long[] {2}, choose(new float[][] {l}, new int[][] {{9}}));
  }

  @Test
  void timestamps_doNotDecrease() {
    // After "<|0|> 3 <|2|> <|2|> 4": 10 (= the last, not closing) and 9 are out; 11 is in.
    float[] l = logits(0f, 0f, 0f, 0f, 1f, 0f, 0f, 0f, 0f, 8f, 8f, 7f, -9f, -9f);
    assertArrayEquals(new long[] {11}, choose(new float[][] {l},
        new int[][] {{8, 3, 10, 10, 4}}));
  }

  @Test
  void timestampMassAboveTheBestText_onlyTimestamps() {
    // After "<|0|> 3": text 1 at 2.0 leads any one timestamp (1.5 each), but the five left
    // (8 is out: it was the last) together (log-mass 1.5 + ln 5 = 3.11) exceed it: the first
    // of them, 9. At 1.0 each (1.0 + ln 5 = 2.61 > 2.0) still a timestamp; against text at 3.0
    // (2.61 < 3.0) text.
    float[] mass = logits(0f, 2f, 0f, 0f, 0f, 0f, 0f, 0f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f);
    float[] less = logits(0f, 2f, 0f, 0f, 0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f, 1f, 1f);
    float[] text = logits(0f, 3f, 0f, 0f, 0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f, 1f, 1f);
    int[] h = {8, 3};
    assertArrayEquals(new long[] {9, 9, 1, 1}, choose(new float[][] {mass, less, text, mass},
        new int[][] {h, h, h, null}));
  }

  @Test
  void masks_equalTransformersProcessor_onRandomHistoriesAndLogits() {
    Random random = new Random(18);
    for (int round = 0; round < 50; round++) {
      int b = 6;
      float[][] logits = new float[b][V];
      int[][] histories = new int[b][];
      for (int i = 0; i < b; i++) {
        for (int v = 0; v < V; v++) {
          logits[i][v] = (float) (random.nextGaussian() * 2);
        }
        histories[i] = random.ints(random.nextInt(5), 0, V).toArray();
      }
      float[][] got = masked(logits, histories);
      for (int i = 0; i < b; i++) {
        float[] want = transformers(logits[i], histories[i]);
        for (int v = 0; v < V; v++) {
          assertEquals(Float.isInfinite(want[v]), Float.isInfinite(got[i][v]), "round " + round
              + " history " + Arrays.toString(histories[i]) + " id " + v + ": want "
              + Arrays.toString(want) + " got " + Arrays.toString(got[i]));
          if (!Float.isInfinite(want[v])) {
            assertEquals(want[v], got[i][v], 0f);
          }
        }
      }
    }
  }

  /** WhisperTimeStampLogitsProcessor.__call__ for one row, over doubles. */
  static float[] transformers(float[] logits, int[] seq) {
    float[] s = logits.clone();
    float inf = Float.NEGATIVE_INFINITY;
    s[NO_TS] = inf;
    int n = seq.length;
    boolean last = n >= 1 && seq[n - 1] >= BEGIN;
    boolean penultimate = n < 2 || seq[n - 2] >= BEGIN;
    if (last) {
      if (penultimate) {
        Arrays.fill(s, BEGIN, V, inf);
      } else {
        Arrays.fill(s, 0, EOS, inf);
      }
    }
    int[] timestamps = Arrays.stream(seq).filter(t -> t >= BEGIN).toArray();
    if (timestamps.length > 0) {
      int lastTs = timestamps[timestamps.length - 1];
      int until = last && !penultimate ? lastTs : lastTs + 1;
      Arrays.fill(s, BEGIN, Math.max(BEGIN, until), inf);
    }
    if (n == 0) {
      Arrays.fill(s, 0, BEGIN, inf);
      Arrays.fill(s, BEGIN + RULES.maxInitialIndex() + 1, V, inf);
    }
    double max = Double.NEGATIVE_INFINITY;
    for (float x : s) {
      max = Math.max(max, x);
    }
    double sum = 0;
    for (float x : s) {
      sum += Math.exp(x - max);
    }
    double lse = max + Math.log(sum);
    double tsSum = 0;
    double textMax = Double.NEGATIVE_INFINITY;
    for (int v = 0; v < V; v++) {
      if (v >= BEGIN) {
        tsSum += Math.exp(s[v] - lse);
      } else {
        textMax = Math.max(textMax, s[v] - lse);
      }
    }
    if (Math.log(tsSum) > textMax) {
      Arrays.fill(s, 0, BEGIN, inf);
    }
    return s;
  }

  @Test
  void rules_checkTheirValues_andTheVocabularyAtSubmission() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().timestampRules(8, 8, 5, 50));
    assertTrue(e.getMessage().contains("noTimestampsId=8"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().timestampRules(8, 7, 5, -2));
    assertTrue(e.getMessage().contains("maxInitialIndex must be -1 (no bound) or more, was -2"),
        e.getMessage());
    GenerationConfig c = GenerationConfig.builder().timestampRules(80, 7, 5, 50).build();
    assertEquals(new TimestampRules(80, 7, 5, 50), c.toBuilder().build().timestampRules()
        .orElseThrow());
    e = assertThrows(IllegalArgumentException.class,
        () -> GenerationEngine.checkSuppressed("g", c, 80));
    assertTrue(e.getMessage().contains("timestampBegin is token id 80, outside the model's"
        + " vocabulary of 80"), e.getMessage());
    GenerationEngine.checkSuppressed("g", c, 81);
    assertTrue(c.toBuilder().noTimestampRules().build().timestampRules().isEmpty());
  }
}
