package ai.nos.hub.audio;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The resampler as it was before GridFilter: every tap of firwin by the Bessel series, in a table
 * up to 2^21 taps (tap / sum * up) and computed where used over that (tap * (up / sum)); the same
 * arithmetic, in the same order, for the output samples asked for. The reference that
 * ResamplerKernelTest holds the grid to. The sum of the taps is cached per filter length: it is
 * the costly part (15.4 million Bessel series, ~2.5 s, for 767,999 Hz).
 */
final class ExactResampler {

  private static final int OLD_TABLE_LIMIT = 1 << 21;
  private static final Map<Integer, Double> SUMS = new ConcurrentHashMap<>();

  private ExactResampler() {}

  /** The sum of firwin's unnormalized taps for max(up, down) = max, in tap order. */
  static double tapSum(int max) {
    return SUMS.computeIfAbsent(max, m -> {
      int length = 2 * Resampler.ZERO_CROSSINGS * m + 1;
      double cutoff = 1.0 / m;
      double sum = 0;
      for (int j = 0; j < length; j++) {
        sum += Resampler.rawTap(j, length, cutoff);
      }
      return sum;
    });
  }

  /** Output samples ks of x resampled from `from` to `to` Hz, as the old Resampler gave them. */
  static float[] outputs(float[] x, int from, int to, int[] ks) {
    int g = Resampler.gcd(from, to);
    int up = to / g;
    int down = from / g;
    int max = Math.max(up, down);
    int half = Resampler.ZERO_CROSSINGS * max;
    int taps = 2 * half + 1;
    double cutoff = 1.0 / max;
    double sum = tapSum(max);
    double scale = up / sum;
    float[] y = new float[ks.length];
    for (int s = 0; s < ks.length; s++) {
      long t = (long) ks[s] * down + half;
      long first = Math.max(0, Math.floorDiv(t - taps + up, up));
      long last = Math.min(x.length - 1, Math.floorDiv(t, up));
      double acc = 0;
      for (long i = first; i <= last; i++) {
        double raw = Resampler.rawTap((int) (t - i * up), taps, cutoff);
        double tap = taps <= OLD_TABLE_LIMIT ? raw / sum * up : raw * scale;
        acc += x[(int) i] * tap;
      }
      y[s] = (float) acc;
    }
    return y;
  }
}
