package ai.nos.hub.audio;

/*
 * A complex FFT of one fixed size, mixed radix (any size; fast when it factors into small primes:
 * Whisper's 400 = 2^4 * 5^2). Recursive decimation in time: a transform of n = p * m is p
 * transforms of m over the inputs i = r (mod p), combined with twiddles from one table of the
 * n-th roots of unity. Double precision throughout.
 *
 * Immutable and thread-safe; transform() allocates its own scratch.
 */
final class Fft {

  private final int n;
  private final double[] cos;
  private final double[] sin;

  Fft(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("FFT size must be positive but was " + n);
    }
    this.n = n;
    cos = new double[n];
    sin = new double[n];
    for (int k = 0; k < n; k++) {
      double a = -2 * Math.PI * k / n;
      cos[k] = Math.cos(a);
      sin[k] = Math.sin(a);
    }
  }

  int size() {
    return n;
  }

  /** X[k] = sum_j x[j] e^{-2 pi i jk/n}: fills outRe, outIm from re, im (inputs untouched). */
  void transform(double[] re, double[] im, double[] outRe, double[] outIm) {
    double[] scratchRe = new double[n];
    double[] scratchIm = new double[n];
    step(re, im, 0, 1, n, outRe, outIm, 0, scratchRe, scratchIm);
  }

  private void step(double[] re, double[] im, int offset, int stride, int len, double[] outRe,
      double[] outIm, int outAt, double[] sRe, double[] sIm) {
    if (len == 1) {
      outRe[outAt] = re[offset];
      outIm[outAt] = im[offset];
      return;
    }
    int p = smallestFactor(len);
    int m = len / p;
    // Sub-transforms into out[outAt + r*m ..], then combine through the scratch.
    for (int r = 0; r < p; r++) {
      step(re, im, offset + r * stride, stride * p, m, outRe, outIm, outAt + r * m, sRe, sIm);
    }
    int twiddleStep = n / len;
    for (int k = 0; k < m; k++) {
      for (int q = 0; q < p; q++) {
        int kk = k + q * m;
        double accRe = 0;
        double accIm = 0;
        int e = 0; // r * kk mod len, stepped instead of multiplied
        for (int r = 0; r < p; r++) {
          int w = e * twiddleStep;
          double yRe = outRe[outAt + r * m + k];
          double yIm = outIm[outAt + r * m + k];
          accRe += yRe * cos[w] - yIm * sin[w];
          accIm += yRe * sin[w] + yIm * cos[w];
          e += kk;
          if (e >= len) {
            e -= len;
          }
        }
        sRe[outAt + kk] = accRe;
        sIm[outAt + kk] = accIm;
      }
    }
    System.arraycopy(sRe, outAt, outRe, outAt, len);
    System.arraycopy(sIm, outAt, outIm, outAt, len);
  }

  private static int smallestFactor(int len) {
    for (int p = 2; (long) p * p <= len; p++) {
      if (len % p == 0) {
        return p;
      }
    }
    return len;
  }
}
