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
 * Two filters
 *
 * - ExactFilter, for filters of at most EXACT_TABLE_LIMIT (2^15) taps, max(up, down) <= 1638:
 *   every tap by the Bessel series into a table, as scipy does, at most ~5 ms to build. All the
 *   usual rates are here (8, 11.025, 22.05, 44.1, 48, 96, 192, 705.6, 768 kHz to 16 kHz: max at
 *   most 640); their output is bit for bit what it was before GridFilter existed.
 * - GridFilter, for longer filters: rates that share few factors with the target (44,101 or
 *   767,999 Hz to 16 kHz, whose filter has 882,021 and 15.4 million taps). One kernel function
 *   sampled on a fine grid, a cubic through four grid values per tap, and the taps' sum in closed
 *   form (KaiserKernel). Before it, such a filter was either a table of up to 2^21 taps built by
 *   the Bessel series on every call (0.15 s for 44,101 Hz), or, over that, a Bessel series for
 *   every tap of every output sample: about 3 s of a 2-core machine per second of 767,999 Hz
 *   audio. Its output is within one float32 ulp plus 1e-9 of the input's peak of the exact
 *   computation (GridFilter's comment has the error's bound; ResamplerKernelTest checks it
 *   against ExactResampler, the old per-tap code, in the tests).
 *
 * Precision: the filter and the sums are double; the result is rounded to float once. Against
 * scipy run in float64 on the same float32 input the difference is that last rounding and the
 * order of summation, well under 1e-6 on signals in [-1, 1].
 *
 * Work: a Filter counts the Bessel series it runs (the exact table's taps, the grid's points: at
 * most 2^15 either way) and runs none while filtering; ResamplerKernelTest fails if a path
 * goes back to a series per tap. Thread-safety: resample is a pure function; a Filter is one
 * call's and stays on its thread; KaiserKernel's one shared value is built by class
 * initialization.
 */
final class Resampler {

  static final double KAISER_BETA = 5.0;
  static final int ZERO_CROSSINGS = 10;
  /** The longest filter tabulated tap by tap with the Bessel series (~5 ms to build). */
  static final int EXACT_TABLE_LIMIT = 1 << 15;

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
    return filter(up, down).apply(x, (int) outLong);
  }

  /** The filter for up/down (in lowest terms, not both 1): exact table or grid. */
  static Filter filter(int up, int down) {
    long length = 2L * ZERO_CROSSINGS * Math.max(up, down) + 1;
    return length <= EXACT_TABLE_LIMIT ? new ExactFilter(up, down) : new GridFilter(up, down);
  }

  /** firwin(2 * half + 1, 1 / max, window=('kaiser', 5.0)) * up and the polyphase sum over it. */
  abstract static class Filter {
    private long besselEvaluations;

    /** The n output samples of x filtered and decimated. */
    abstract float[] apply(float[] x, int n);

    /** How many times this filter has run the Bessel series (to build itself; none per tap). */
    final long besselEvaluations() {
      return besselEvaluations;
    }

    final void countBessel(int n) {
      besselEvaluations += n;
    }
  }

  /** Every tap by the Bessel series into a table: firwin's taps, as scipy computes them. */
  static final class ExactFilter extends Filter {
    private final int up;
    private final int down;
    private final int half;
    private final double[] table;

    ExactFilter(int up, int down) {
      this.up = up;
      this.down = down;
      int max = Math.max(up, down);
      this.half = ZERO_CROSSINGS * max;
      int length = 2 * half + 1;
      double cutoff = 1.0 / max;
      double[] t = new double[length];
      double sum = 0;
      for (int j = 0; j < length; j++) {
        double v = rawTap(j, length, cutoff);
        sum += v;
        t[j] = v;
      }
      countBessel(length);
      // firwin scales the pass band's gain at 0 Hz to 1; resample_poly multiplies by up.
      for (int j = 0; j < length; j++) {
        t[j] = t[j] / sum * up;
      }
      this.table = t;
    }

    @Override
    float[] apply(float[] x, int n) {
      float[] y = new float[n];
      double[] h = table;
      int taps = h.length;
      for (int k = 0; k < n; k++) {
        long t = (long) k * down + half; // y[k] = sum_i x[i] h[t - i*up]
        long first = Math.max(0, Math.floorDiv(t - taps + up, up)); // smallest i: t-i*up < taps
        long last = Math.min(x.length - 1, Math.floorDiv(t, up));
        double sum = 0;
        // The same products in the same order as ever (bit-equal output); int indices are
        // what the JIT unrolls: i < x.length and t - i*up < taps.
        for (int i = (int) first, j = (int) (t - first * up), end = (int) last; i <= end;
            i++, j -= up) {
          sum += x[i] * h[j];
        }
        y[k] = (float) sum;
      }
      return y;
    }
  }

  /** Tap j of firwin(length, cutoff, window=('kaiser', 5.0)) before firwin's normalization. */
  static double rawTap(int j, int length, double cutoff) {
    double alpha = 0.5 * (length - 1);
    double m = j - alpha;
    double r = (j - alpha) / alpha;
    double window = besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r)))
        / besselI0(KAISER_BETA);
    return cutoff * sinc(cutoff * m) * window;
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
    return i0Series(x * x / 4);
  }

  /**
   * sum_k q^k / (k!)^2: I0(2 sqrt(q)) for q >= 0, and for q < 0 its analytic continuation
   * J0(2 sqrt(-q)).
   */
  static double i0Series(double q) {
    double term = 1;
    double sum = 1;
    for (int k = 1; k < 500; k++) {
      term *= q / ((double) k * k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-17) {
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
