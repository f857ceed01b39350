package ai.nos.hub.audio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GridFilter, the long filters' path, against the exact per-tap computation it replaced
 * ({@link ExactResampler}), and the guard on its work.
 *
 * <p>Tolerance: one float32 ulp of the output's peak (both sides round a double to float once;
 * where the doubles straddle a rounding boundary the floats differ by one ulp) plus 1e-9 of the
 * input's peak (GridFilter's interpolation: each tap within 7e-12 of firwin's, ~20 taps' worth
 * of weight per output). A filter that differs in design (window, cutoff, length) misses by 1e-3
 * or more.
 */
final class ResamplerKernelTest {

  private static float[] signal(int n, int rate, long seed) {
    Random random = new Random(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (0.6 * Math.sin(2 * Math.PI * 440.5 * i / rate)
          + 0.3 * Math.sin(2 * Math.PI * 3001.0 * i / rate) + 0.05 * random.nextGaussian());
    }
    return x;
  }

  private static double peak(float[] v) {
    double p = 0;
    for (float f : v) {
      p = Math.max(p, Math.abs(f));
    }
    return p;
  }

  /**
   * Coprime and near-coprime rates, both directions, and a target so low that each tap finds its
   * own nodes (767,999 -> 100 Hz): the outputs asked for spread over the signal, both edges
   * included.
   */
  @ParameterizedTest
  @CsvSource({"767999, 16000, 0.05", "705601, 16000, 0.05", "16000, 767999, 0.02",
      "44101, 16000, 0.2", "104851, 16000, 0.1", "8001, 16000, 0.2", "16001, 16000, 0.2",
      "767999, 100, 0.25"})
  void gridFilter_matchesTheExactComputation(int from, int to, double seconds) {
    float[] x = signal((int) (seconds * from), from, from);
    float[] y = Resampler.resample(x, from, to);
    int step = Math.max(1, y.length / 150);
    List<Integer> picked = new ArrayList<>();
    for (int k = 0; k < y.length; k += step) {
      picked.add(k);
    }
    for (int k = Math.max(0, y.length - 5); k < y.length; k++) {
      picked.add(k);
    }
    int[] ks = picked.stream().mapToInt(Integer::intValue).toArray();
    float[] expected = ExactResampler.outputs(x, from, to, ks);
    double bound = Math.ulp((float) peak(expected)) + 1e-9 * peak(x);
    double worst = 0;
    for (int s = 0; s < ks.length; s++) {
      worst = Math.max(worst, Math.abs(expected[s] - y[ks[s]]));
    }
    assertTrue(worst <= bound, from + " -> " + to + " Hz: max |diff| " + worst + " over "
        + ks.length + " outputs, bound " + bound);
  }

  /** Where the exact table serves, the output is the old one bit for bit. */
  @ParameterizedTest
  @CsvSource({"44100, 16000", "48000, 16000", "768000, 16000", "11025, 16000", "16000, 22050"})
  void exactFilter_isTheOldComputationBitForBit(int from, int to) {
    int g = Resampler.gcd(from, to);
    assertInstanceOf(Resampler.ExactFilter.class, Resampler.filter(to / g, from / g));
    float[] x = signal(from / 10, from, 7);
    float[] y = Resampler.resample(x, from, to);
    int[] ks = new int[y.length];
    for (int k = 0; k < ks.length; k++) {
      ks[k] = k;
    }
    assertArrayEquals(ExactResampler.outputs(x, from, to, ks), y);
  }

  /** The closed form of the taps' sum (Euler-Maclaurin) against the sum tap by tap. */
  @ParameterizedTest
  @CsvSource({"1639", "16001", "44101", "705601", "767999"})
  void tapSum_closedForm_matchesTheExactSum(int max) {
    double exact = ExactResampler.tapSum(max);
    double closed = KaiserKernel.tapSum(max) / max;
    assertEquals(exact, closed, 1e-12 * exact, "max " + max);
  }

  /** The Euler-Maclaurin remainder's size: K'''(10) by central differences, about -0.026. */
  @Test
  void kernel_edgeDerivatives_areWhatTheErrorBoundsAssume() {
    double h = 1e-3;
    double slope = (KaiserKernel.at(10 + h) - KaiserKernel.at(10 - h)) / (2 * h);
    assertEquals(KaiserKernel.EDGE_SLOPE, slope, 1e-8);
    double third = (KaiserKernel.at(10 + 2 * h) - 2 * KaiserKernel.at(10 + h)
        + 2 * KaiserKernel.at(10 - h) - KaiserKernel.at(10 - 2 * h)) / (2 * h * h * h);
    assertTrue(Math.abs(third) < 0.05, "K'''(10) " + third);
    // The continuation past 10 is smooth with K: no jump in value or slope at the edge.
    assertEquals(0, KaiserKernel.at(10), 1e-15);
  }

  /**
   * The guard on work, not on time: a filter runs the Bessel series only to build itself (at most
   * 2^15 times: the exact table's taps, or the grid's points to one side, at most 2^14 + 3) and
   * never while filtering; the grid and its runs stay within 1.3 MB.
   * Before GridFilter, 767,999 -> 16 kHz ran it 15.4 million times to build and again for every
   * tap of every output.
   */
  @Test
  void filters_runTheBesselSeriesOnlyToBuild() {
    List<int[]> rates = new ArrayList<>();
    for (int from : new int[] {767999, 705601, 104851, 44101, 16001, 8001, 1, 7, 768000, 44100}) {
      rates.add(new int[] {from, 16000});
    }
    rates.add(new int[] {16000, 767999});
    rates.add(new int[] {767999, 100});
    rates.add(new int[] {768000, 1});
    for (int from = 1; from <= 768_000; from += 7919) { // a prime step: every kind of gcd
      rates.add(new int[] {from, 16000});
    }
    for (int[] pair : rates) {
      int g = Resampler.gcd(pair[0], pair[1]);
      int up = pair[1] / g;
      int down = pair[0] / g;
      if (up == 1 && down == 1) {
        continue;
      }
      Resampler.Filter filter = Resampler.filter(up, down);
      long built = filter.besselEvaluations();
      String name = pair[0] + " -> " + pair[1] + " Hz";
      assertTrue(built <= Resampler.EXACT_TABLE_LIMIT, name + ": " + built + " Bessel series");
      if (filter instanceof GridFilter grid) {
        assertTrue(grid.gridLength() <= 2 * GridFilter.GRID_LIMIT + 1, name);
        assertTrue(grid.tableLength() <= 8 * GridFilter.GRID_LIMIT, name + ": "
            + grid.tableLength() + " doubles");
      }
      int n = (int) Math.min(pair[0] / 20 + 1, 40_000);
      int out = (int) (((long) n * up + down - 1) / down);
      filter.apply(signal(n, pair[0], 3), out);
      assertEquals(built, filter.besselEvaluations(), name + ": Bessel series while filtering");
    }
    Resampler.Filter odd = Resampler.filter(16000, 767999);
    assertTrue(odd instanceof GridFilter grid && grid.aligned(), "767999 -> 16000 Hz");
    assertFalse(((GridFilter) Resampler.filter(100, 767999)).aligned(), "767999 -> 100 Hz");
  }
}
