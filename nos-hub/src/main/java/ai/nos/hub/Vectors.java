package ai.nos.hub;

import java.util.Arrays;

/** The arithmetic of the task facades on float vectors; all in double, results in float. */
final class Vectors {

  private Vectors() {}

  /**
   * Returns {@code v} if every value is finite.
   *
   * @throws IllegalStateException naming model {@code id}, the first value that is not, and the
   *     facade that needs them
   */
  static float[] checkFinite(float[] v, String id, String facade) {
    for (int i = 0; i < v.length; i++) {
      if (!Float.isFinite(v[i])) {
        throw new IllegalStateException("model '" + id + "' returned " + v[i] + " at element " + i
            + " of its embedding; " + facade + " needs finite values");
      }
    }
    return v;
  }

  /** Softmax, stable: the maximum is subtracted before exponentiating. */
  static float[] softmax(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : logits) {
      max = Math.max(max, v);
    }
    double[] e = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < logits.length; i++) {
      e[i] = Math.exp(logits[i] - max);
      sum += e[i];
    }
    float[] p = new float[logits.length];
    for (int i = 0; i < p.length; i++) {
      p[i] = (float) (e[i] / sum);
    }
    return p;
  }

  /**
   * The indices of the {@code k} highest values, highest first; equal values in index order,
   * NaN last. {@code k} larger than the length gives all indices.
   */
  static int[] topK(float[] values, int k) {
    Integer[] order = new Integer[values.length];
    Arrays.setAll(order, i -> i);
    Arrays.sort(order, (a, b) -> {
      int c = Float.compare(nanLow(values[b]), nanLow(values[a]));
      return c != 0 ? c : Integer.compare(a, b);
    });
    int n = Math.min(k, values.length);
    int[] top = new int[n];
    for (int i = 0; i < n; i++) {
      top[i] = order[i];
    }
    return top;
  }

  private static float nanLow(float v) {
    return Float.isNaN(v) ? Float.NEGATIVE_INFINITY : v;
  }

  /** Scales {@code v} in place to unit L2 norm; a zero vector stays zero. Returns {@code v}. */
  static float[] l2Normalize(float[] v) {
    double sum = 0;
    for (float x : v) {
      sum += (double) x * x;
    }
    double norm = Math.max(Math.sqrt(sum), 1e-12);
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (v[i] / norm);
    }
    return v;
  }

  /**
   * The mean of the token vectors of one text whose mask is nonzero.
   *
   * @param tokens {@code [batch, length, dim]}, row-major
   * @param mask {@code [batch, length]}, row-major
   * @param row the text
   */
  static float[] meanPool(float[] tokens, long[] mask, int row, int length, int dim) {
    double[] sum = new double[dim];
    long count = 0;
    for (int t = 0; t < length; t++) {
      if (mask[row * length + t] == 0) {
        continue;
      }
      count++;
      int base = (row * length + t) * dim;
      for (int d = 0; d < dim; d++) {
        sum[d] += tokens[base + d];
      }
    }
    float[] mean = new float[dim];
    for (int d = 0; d < dim; d++) {
      mean[d] = (float) (sum[d] / Math.max(count, 1));
    }
    return mean;
  }

  /** The vector of the first token of one text of {@code [batch, length, dim]}. */
  static float[] firstToken(float[] tokens, int row, int length, int dim) {
    return Arrays.copyOfRange(tokens, row * length * dim, row * length * dim + dim);
  }
}
