package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.internal.torch.TorchRuntime;
import java.util.Arrays;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The device sampler on fixed logits against a plain-Java reference of the same rules. */
final class SamplerTest {
  static final int V = 8;
  static final float[][] LOGITS = {
      {2.0f, -1.0f, 0.5f, 3.1f, -2.2f, 1.7f, 0.1f, -0.4f},
      {-0.3f, 0.9f, 4.0f, -1.5f, 2.6f, 0.2f, -3.0f, 1.1f},
      {1.2f, 1.0f, 0.8f, 0.6f, 0.4f, 0.2f, 0.0f, -0.2f}};
  /** Tokens each row's sequence holds (the repetition penalty's). */
  static final int[][] SEEN = {{3, 6}, {2, 1}, {}};

  @BeforeAll
  static void natives() {
    TorchRuntime.ensureLoaded();
  }

  private static Sampler.Rows rows(float temperature, int topK, float topP, float penalty) {
    Sampler.Rows rows = new Sampler.Rows(LOGITS.length);
    for (int i = 0; i < LOGITS.length; i++) {
      rows.set(i, temperature, topK, topP, penalty, 99 + i, 5, V);
    }
    return rows;
  }

  /** The reference: transformers' order, written out over floats. */
  static float[] javaFilter(float[] logits, int[] seen, float t, int k, float p, float penalty) {
    float[] x = logits.clone();
    for (int s : seen) {
      x[s] = x[s] < 0 ? x[s] * penalty : x[s] / penalty;
    }
    for (int i = 0; i < V; i++) {
      x[i] = x[i] / t;
    }
    Integer[] order = new Integer[V];
    for (int i = 0; i < V; i++) {
      order[i] = i;
    }
    float[] y = x;
    Arrays.sort(order, (a, b) -> Float.compare(y[b], y[a]));
    boolean[] remove = new boolean[V];
    int kk = k == 0 ? V : k;
    for (int r = kk; r < V; r++) {
      remove[order[r]] = true;
    }
    double max = x[order[0]];
    double sum = 0;
    for (int r = 0; r < kk; r++) {
      sum += Math.exp(x[order[r]] - max);
    }
    double above = 0;
    for (int r = 0; r < kk; r++) {
      if (p < 1f && above >= p) {
        remove[order[r]] = true;
      }
      above += Math.exp(x[order[r]] - max) / sum;
    }
    float[] out = x.clone();
    for (int i = 0; i < V; i++) {
      if (remove[i]) {
        out[i] = Float.NEGATIVE_INFINITY;
      }
    }
    return out;
  }

  private static float[][] run(Sampler.Rows rows, boolean chooseToo, long[] chosen) {
    try (PointerScope scope = new PointerScope()) {
      float[] flat = new float[LOGITS.length * V];
      byte[] seenFlat = new byte[LOGITS.length * V];
      for (int i = 0; i < LOGITS.length; i++) {
        System.arraycopy(LOGITS[i], 0, flat, i * V, V);
        for (int s : SEEN[i]) {
          seenFlat[i * V + s] = 1;
        }
      }
      Tensor logits = torch.from_blob(new FloatPointer(flat), new long[] {LOGITS.length, V},
          new TensorOptions(torch.ScalarType.Float)).clone();
      Tensor seen = torch.from_blob(new org.bytedeco.javacpp.BytePointer(seenFlat),
          new long[] {LOGITS.length, V}, new TensorOptions(torch.ScalarType.Bool)).clone();
      try (Sampler sampler = new Sampler(V, Device.cpu())) {
        Tensor filtered = sampler.filter(sampler.penalize(logits, seen, rows), rows)
            .contiguous();
        float[] out = new float[flat.length];
        new FloatPointer(filtered.data_ptr()).get(out);
        if (chooseToo) {
          Tensor ids = sampler.choose(logits, seen, rows).contiguous();
          new LongPointer(ids.data_ptr()).get(chosen);
        }
        float[][] rowsOut = new float[LOGITS.length][];
        for (int i = 0; i < LOGITS.length; i++) {
          rowsOut[i] = Arrays.copyOfRange(out, i * V, (i + 1) * V);
        }
        return rowsOut;
      }
    }
  }

  private static void assertFilter(float t, int k, float p, float penalty) {
    float[][] device = run(rows(t, k, p, penalty), false, null);
    for (int i = 0; i < LOGITS.length; i++) {
      float[] expected = javaFilter(LOGITS[i], SEEN[i], t, k, p, penalty);
      for (int v = 0; v < V; v++) {
        String what = "row " + i + " token " + v + " (t=" + t + " k=" + k + " p=" + p
            + " penalty=" + penalty + "): " + Arrays.toString(device[i]) + " vs "
            + Arrays.toString(expected);
        if (Float.isInfinite(expected[v])) {
          assertEquals(expected[v], device[i][v], what);
        } else {
          assertEquals(expected[v], device[i][v], 1e-6, what);
        }
      }
    }
  }

  @Test
  void filters_matchTheJavaReference() {
    assertFilter(1f, 0, 1f, 1f);
    assertFilter(0.7f, 3, 1f, 1f);
    assertFilter(1.3f, 0, 0.8f, 1f);
    assertFilter(1f, 5, 0.6f, 1.4f);
    assertFilter(0.5f, 1, 0.3f, 2f);
    assertFilter(2f, 0, 0.99f, 0.8f);
  }

  @Test
  void draw_isTheArgmaxOfFilteredPlusTheHashedGumbelNoise() {
    Sampler.Rows rows = rows(0.9f, 6, 0.95f, 1.2f);
    long[] chosen = new long[LOGITS.length];
    float[][] filtered = run(rows, true, chosen);
    for (int i = 0; i < LOGITS.length; i++) {
      int best = -1;
      double bestScore = Double.NEGATIVE_INFINITY;
      for (int v = 0; v < V; v++) {
        double g = -Math.log(-Math.log(Sampler.uniform(rows.noiseKey[i], v)));
        double score = filtered[i][v] + g;
        if (score > bestScore) {
          bestScore = score;
          best = v;
        }
      }
      assertEquals(best, chosen[i], "row " + i);
    }
  }

  @Test
  void greedyRows_takeTheArgmaxAfterThePenalty() {
    long[] chosen = new long[LOGITS.length];
    run(rows(0f, 0, 1f, 2f), true, chosen);
    // Row 0: 3.1 held, /2 = 1.55 < 2.0; row 1: 4.0 held, /2 = 2.0 < 2.6; row 2: none held.
    assertEquals(0, chosen[0]);
    assertEquals(4, chosen[1]);
    assertEquals(0, chosen[2]);
  }

  @Test
  void draws_followTheSoftmax() {
    // One row per draw index: 20,000 draws of one distribution in a single call.
    int n = 20_000;
    float[] logits = {1.0f, 0.0f, -1.0f, 0.5f};
    try (PointerScope scope = new PointerScope(); Sampler sampler = new Sampler(4,
        Device.cpu())) {
      float[] flat = new float[n * 4];
      for (int i = 0; i < n; i++) {
        System.arraycopy(logits, 0, flat, i * 4, 4);
      }
      Sampler.Rows rows = new Sampler.Rows(n);
      for (int i = 0; i < n; i++) {
        rows.set(i, 1f, 0, 1f, 1f, 42, i, 4);
      }
      Tensor t = torch.from_blob(new FloatPointer(flat), new long[] {n, 4},
          new TensorOptions(torch.ScalarType.Float)).clone();
      Tensor seen = torch.from_blob(new org.bytedeco.javacpp.BytePointer(new byte[n * 4]),
          new long[] {n, 4}, new TensorOptions(torch.ScalarType.Bool)).clone();
      long[] ids = new long[n];
      new LongPointer(sampler.choose(t, seen, rows).contiguous().data_ptr()).get(ids);
      double sum = 0;
      for (float l : logits) {
        sum += Math.exp(l);
      }
      int[] counts = new int[4];
      for (long id : ids) {
        counts[(int) id]++;
      }
      for (int v = 0; v < 4; v++) {
        double expected = Math.exp(logits[v]) / sum;
        double got = counts[v] / (double) n;
        // 5 standard errors at n = 20,000: about 0.017 at p = 0.5.
        assertTrue(Math.abs(got - expected) < 5 * Math.sqrt(expected * (1 - expected) / n),
            "token " + v + ": " + got + " vs " + expected + " " + Arrays.toString(counts));
      }
    }
  }
}
