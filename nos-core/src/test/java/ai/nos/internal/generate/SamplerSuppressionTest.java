package ai.nos.internal.generate;

import static ai.nos.internal.generate.SamplerTest.LOGITS;
import static ai.nos.internal.generate.SamplerTest.V;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.generate.GenerationConfig;
import ai.nos.internal.torch.TorchRuntime;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Suppressed and begin-suppressed ids in the device sampler, on fixed logits. */
final class SamplerSuppressionTest {
  @BeforeAll
  static void natives() {
    TorchRuntime.ensureLoaded();
  }

  private static Sampler.Rows greedyRows(int[]... suppressed) {
    Sampler.Rows rows = new Sampler.Rows(LOGITS.length);
    for (int i = 0; i < LOGITS.length; i++) {
      rows.set(i, 0f, 0, 1f, 1f, 7, 3, V);
      rows.suppress(i, suppressed[i]);
    }
    return rows;
  }

  /** The chosen ids of SamplerTest's logits, given as [B, V] or, transposed, not contiguous. */
  private static long[] choose(Sampler.Rows rows, boolean contiguous) {
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(V,
        Device.cpu())) {
      int b = LOGITS.length;
      float[] flat = new float[b * V];
      for (int i = 0; i < b; i++) {
        for (int v = 0; v < V; v++) {
          flat[contiguous ? i * V + v : v * b + i] = LOGITS[i][v];
        }
      }
      Tensor t = torch.from_blob(new FloatPointer(flat), contiguous ? new long[] {b, V}
          : new long[] {V, b}, new TensorOptions(torch.ScalarType.Float)).clone();
      Tensor logits = contiguous ? t : t.t();
      long[] ids = new long[b];
      new LongPointer(sampler.choose(logits, null, rows).contiguous().data_ptr()).get(ids);
      return ids;
    }
  }

  @Test
  void greedy_withoutSuppression_picksTheArgmax() {
    // The baseline the tests below move away from: 3.1, 4.0, 1.2.
    assertArrayEquals(new long[] {3, 2, 0}, choose(greedyRows(null, null, null), true));
  }

  @Test
  void greedy_suppressedWinnerIsNotChosen_rowsOfOneBatchDiffer() {
    Sampler.Rows rows = greedyRows(new int[] {3}, new int[] {2, 4}, null);
    // Row 0 without 3: 2.0 (id 0); row 1 without 2 and 4: 1.1 (id 7); row 2 untouched.
    assertArrayEquals(new long[] {0, 7, 0}, choose(rows, true));
    assertArrayEquals(new long[] {0, 7, 0}, choose(rows, false), "non-contiguous logits");
  }

  @Test
  void greedy_sameIdsForEveryRow() {
    int[] ids = {3, 2, 0};
    // Equal lists in distinct arrays take the shared path as one array does.
    Sampler.Rows shared = greedyRows(ids, ids, ids);
    Sampler.Rows equal = greedyRows(ids.clone(), ids.clone(), ids.clone());
    // Row 0: 1.7 (id 5); row 1: 2.6 (id 4); row 2: 1.0 (id 1).
    assertArrayEquals(new long[] {5, 4, 1}, choose(shared, true));
    assertArrayEquals(new long[] {5, 4, 1}, choose(equal, false));
  }

  @Test
  void sharedLists_goToTheDeviceOnce_notOncePerStep() {
    int[] later = {3, 2, 0};
    int[] first = {3, 2, 0, 5};
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(V,
        Device.cpu())) {
      for (int step = 0; step < 12; step++) {
        // Whisper's pattern: a first token's list at each admission (steps 0 and 6), the
        // suppressed ids between them; every row its own array of the same ids.
        boolean admission = step % 6 == 0;
        int[] ids = admission ? first : later;
        Sampler.Rows rows = greedyRows(ids.clone(), ids.clone(), ids.clone());
        Tensor logits = torch.from_blob(new FloatPointer(flatLogits()),
            new long[] {LOGITS.length, V}, new TensorOptions(torch.ScalarType.Float)).clone();
        long[] got = new long[LOGITS.length];
        new LongPointer(sampler.choose(logits, null, rows).contiguous().data_ptr()).get(got);
        // greedy_sameIdsForEveryRow's ids; without 5 too, row 0 falls to 1.5 (id 6)
        assertArrayEquals(admission ? new long[] {6, 4, 1} : new long[] {5, 4, 1}, got,
            "step " + step);
      }
      assertEquals(2, sampler.suppressionUploads(), "12 steps of two shared lists");
      // A step whose rows differ sends its pairs with the step.
      Sampler.Rows mixed = greedyRows(new int[] {3}, null, null);
      Tensor logits = torch.from_blob(new FloatPointer(flatLogits()),
          new long[] {LOGITS.length, V}, new TensorOptions(torch.ScalarType.Float)).clone();
      sampler.choose(logits, null, mixed);
      assertEquals(3, sampler.suppressionUploads());
    }
  }

  @Test
  void sharedLists_beyondTheKeptNumber_areEvictedAndSentAgain() {
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(V,
        Device.cpu())) {
      for (int round = 0; round < 2; round++) {
        for (int list = 0; list <= Sampler.SHARED_LISTS; list++) {
          int[] ids = list < V ? new int[] {list} : new int[] {0, 1}; // 9 distinct lists
          Tensor logits = torch.from_blob(new FloatPointer(flatLogits()),
              new long[] {LOGITS.length, V}, new TensorOptions(torch.ScalarType.Float)).clone();
          Tensor out = sampler.suppress(logits, greedyRows(ids, ids, ids)).contiguous();
          float[] row = new float[V];
          new FloatPointer(out.data_ptr()).get(row);
          assertEquals(Float.NEGATIVE_INFINITY, row[ids[0]], "list " + list);
        }
      }
      // SHARED_LISTS + 1 lists used in turn: each evicts the oldest, so every use sends again
      assertEquals(2L * (Sampler.SHARED_LISTS + 1), sampler.suppressionUploads());
    }
  }

  private static float[] flatLogits() {
    float[] flat = new float[LOGITS.length * V];
    for (int i = 0; i < LOGITS.length; i++) {
      System.arraycopy(LOGITS[i], 0, flat, i * V, V);
    }
    return flat;
  }

  @Test
  void sampling_suppressedIdIsNeverDrawn_onlyInTheRowsThatSuppressIt() {
    // 4,000 rows, one draw index each: even rows suppress id 0 (the likeliest, p = 0.47), odd
    // rows do not and must still draw it.
    int n = 4_000;
    float[] logits = {1.0f, 0.0f, -1.0f, 0.5f};
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(4,
        Device.cpu())) {
      float[] flat = new float[n * 4];
      Sampler.Rows rows = new Sampler.Rows(n);
      for (int i = 0; i < n; i++) {
        System.arraycopy(logits, 0, flat, i * 4, 4);
        rows.set(i, 1f, 0, 1f, 1f, 42, i, 4);
        rows.suppress(i, i % 2 == 0 ? new int[] {0} : null);
      }
      Tensor t = torch.from_blob(new FloatPointer(flat), new long[] {n, 4},
          new TensorOptions(torch.ScalarType.Float)).clone();
      long[] ids = new long[n];
      new LongPointer(sampler.choose(t, null, rows).contiguous().data_ptr()).get(ids);
      int[][] counts = new int[2][4];
      for (int i = 0; i < n; i++) {
        counts[i % 2][(int) ids[i]]++;
      }
      assertEquals(0, counts[0][0], "even rows: " + Arrays.toString(counts[0]));
      assertTrue(counts[1][0] > n / 2 * 0.35, "odd rows: " + Arrays.toString(counts[1]));
      // Without id 0 the even rows draw from the other three: id 3 the likeliest (0.55).
      assertTrue(counts[0][3] > n / 2 * 0.5, "even rows: " + Arrays.toString(counts[0]));
    }
  }

  @Test
  void beginSuppression_onlyAtTheFirstGeneratedToken() {
    GenerationConfig config = GenerationConfig.builder().suppressTokens(4)
        .beginSuppressTokens(3, 4, 6).build();
    Sequence s = new Sequence(new int[] {1, 2}, config, new int[] {99}, 1, 0, Long.MAX_VALUE,
        new CompletableFuture<>(), new Delivery(Runnable::run, null, new CompletableFuture<>()));
    int[] first = s.suppressedNow().clone();
    Arrays.sort(first);
    assertArrayEquals(new int[] {3, 4, 6}, first);
    // The first token goes through the sampler with all three: row 0's 3.1 is not chosen.
    Sampler.Rows rows = greedyRows(s.suppressedNow(), null, null);
    assertNotEquals(3L, choose(rows, true)[0]);
    s.add(0, 100);
    assertArrayEquals(new int[] {4}, s.suppressedNow());
    // From the second token on, 3 may win again.
    assertEquals(3L, choose(greedyRows(s.suppressedNow(), null, null), true)[0]);
  }

  @Test
  void noSuppression_logitsUntouched() {
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(V,
        Device.cpu())) {
      Tensor t = torch.from_blob(new FloatPointer(LOGITS[0]), new long[] {1, V},
          new TensorOptions(torch.ScalarType.Float)).clone();
      Sampler.Rows rows = new Sampler.Rows(1);
      rows.set(0, 0f, 0, 1f, 1f, 7, 0, V);
      rows.suppress(0, new int[0]);
      Tensor out = sampler.suppress(t, rows).contiguous();
      float[] got = new float[V];
      new FloatPointer(out.data_ptr()).get(got);
      assertArrayEquals(LOGITS[0], got);
    }
  }
}
