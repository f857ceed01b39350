package ai.nos.hub.audio;

/*
 * Band-limited sample-rate conversion: scipy.signal.resample_poly's filter and arithmetic.
 *
 * The ratio target/source is reduced to up/down (44.1 kHz -> 16 kHz is 160/441). The signal is
 * conceptually upsampled by `up` (zeros between samples), low-pass filtered at the lower of the two
 * Nyquist rates, and every `down`-th sample kept. The filter is scipy's: firwin(2 * 10 * max(up,
 * down) + 1, 1 / max(up, down), window=('kaiser', 5.0)), scaled by `up`: a windowed sinc ten zero
 * crossings to each side (about 60 dB of stop-band attenuation from the Kaiser beta 5). Zeros are
 * never multiplied: output sample k is the sum over input i of x[i] h[k*down + half - i*up], the
 * polyphase form, about 20 * max(up, down) / up taps per output sample (55 for 44.1 kHz). Samples
 * outside the input are zero (scipy's padtype='constant'), and the output has
 * ceil(n * up / down) samples, aligned so output k sits at input time k * down / up.
 *
 * Precision: the filter and the sums are double; the result is rounded to float once. Against
 * scipy run in float64 on the same float32 input the difference is that last rounding and the
 * order of summation, well under 1e-6 on signals in [-1, 1].
 *
 * Memory: the filter is a table of 20 * max(up, down) + 1 doubles, 2.4 MB at worst for the usual
 * rates (gcd with 16 kHz of at least 50); for odd rates whose table would pass TABLE_LIMIT taps the
 * taps are computed where used instead (slower, same values).
 */
final class Resampler {

  static final double KAISER_BETA = 5.0;
  static final int ZERO_CROSSINGS = 10;
  private static final int TABLE_LIMIT = 1 << 21;

  private Resampler() {}

  static float[] resample(float[] x, int from, int to) {
    int g = gcd(from, to);
    int up = to / g;
    int down = from / g;
    if (up == 1 && down == 1) {
      return x.clone();
    }
    long outLong = ((long) x.length * up + down - 1) / down;
    if (outLong > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("resampling " + x.length + " samples from " + from
          + " to " + to + " Hz would give " + outLong + " samples, more than an array holds");
    }
    // A low rate is a large factor: 100,000 samples declared at 1 Hz (a 200 KB WAV) become 1.6
    // billion at 16 kHz. Refused before the allocation, not met by an OutOfMemoryError that any
    // thread of the application could have drawn instead.
    long heap = Runtime.getRuntime().maxMemory();
    if (outLong * Float.BYTES > heap / 2) {
      throw new IllegalArgumentException("resampling " + x.length + " samples from " + from
          + " to " + to + " Hz would give " + outLong + " samples (" + outLong * Float.BYTES
          + " bytes), more than half of this JVM's heap (" + heap + " bytes, -Xmx): is " + from
          + " Hz the audio's real rate?");
    }
    int max = Math.max(up, down);
    int half = ZERO_CROSSINGS * max;
    Filter h = new Filter(2 * half + 1, 1.0 / max, up);
    int n = (int) outLong;
    float[] y = new float[n];
    int taps = h.length;
    for (int k = 0; k < n; k++) {
      long t = (long) k * down + half; // y[k] = sum_i x[i] h[t - i*up]
      long first = Math.max(0, Math.floorDiv(t - taps + up, up)); // smallest i with t-i*up < taps
      long last = Math.min(x.length - 1, Math.floorDiv(t, up));
      double sum = 0;
      for (long i = first; i <= last; i++) {
        sum += x[(int) i] * h.tap((int) (t - i * up));
      }
      y[k] = (float) sum;
    }
    return y;
  }

  /** firwin(length, cutoff, window=('kaiser', 5.0)) * up, as a table or computed per tap. */
  private static final class Filter {
    final int length;
    private final double cutoff;
    private final double scale;
    private final double[] table;

    Filter(int length, double cutoff, int up) {
      this.length = length;
      this.cutoff = cutoff;
      double[] t = length <= TABLE_LIMIT ? new double[length] : null;
      double sum = 0;
      for (int j = 0; j < length; j++) {
        double v = raw(j);
        sum += v;
        if (t != null) {
          t[j] = v;
        }
      }
      // firwin scales the pass band's gain at 0 Hz to 1; resample_poly multiplies by up.
      this.scale = up / sum;
      if (t != null) {
        for (int j = 0; j < length; j++) {
          t[j] = t[j] / sum * up;
        }
      }
      this.table = t;
    }

    double tap(int j) {
      return table != null ? table[j] : raw(j) * scale;
    }

    private double raw(int j) {
      double alpha = 0.5 * (length - 1);
      double m = j - alpha;
      double r = (j - alpha) / alpha;
      double window = besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r)))
          / besselI0(KAISER_BETA);
      return cutoff * sinc(cutoff * m) * window;
    }
  }

  /** numpy.sinc: sin(pi x) / (pi x), 1 at 0. */
  static double sinc(double x) {
    if (x == 0) {
      return 1.0;
    }
    double y = Math.PI * x;
    return Math.sin(y) / y;
  }

  /** The modified Bessel function of the first kind, order 0, by its power series. */
  static double besselI0(double x) {
    double term = 1;
    double sum = 1;
    double q = x * x / 4;
    for (int k = 1; k < 500; k++) {
      term *= q / ((double) k * k);
      sum += term;
      if (term < sum * 1e-17) {
        break;
      }
    }
    return sum;
  }

  static int gcd(int a, int b) {
    while (b != 0) {
      int t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
}
