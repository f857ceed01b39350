package ai.nos.hub.audio;

import static ai.nos.hub.audio.Resampler.KAISER_BETA;
import static ai.nos.hub.audio.Resampler.ZERO_CROSSINGS;

/*
 * The resampling filter as one function: K(u) = sinc(u) * I0(beta * sqrt(1 - (u/10)^2)) / I0(beta)
 * on [-10, 10], the same for every pair of rates.
 *
 * Tap j of firwin(2 * half + 1, 1 / max, window=('kaiser', 5.0)), m = j - half taps from the
 * centre, is K(m / max) / max before firwin's normalization (half = 10 * max). Only where K is
 * sampled depends on the rates, so one function serves every filter, and the normalization (the
 * sum of all taps) has a closed form instead of a sum over up to 15 million taps.
 *
 * The sum of the taps. sum_{m = -half..half} K(m / max) / max is K's trapezoid rule on steps of
 * h = 1 / max (K(10) = sinc(10) * I0(0) / I0(beta) = 0, so the rule and the plain sum agree).
 * Euler-Maclaurin for a smooth K: it is the integral I of K over [-10, 10] plus
 * h^2 / 12 * (K'(10) - K'(-10)) - h^4 / 720 * (K'''(10) - K'''(-10)) + ..., and K is even, so
 * sum = I + h^2 K'(10) / 6 - h^4 K'''(10) / 360 + .... K'(10) = sinc'(10) * I0(0) / I0(beta) =
 * 0.1 / I0(beta) (sinc(10) = 0 takes the window's slope out). I is computed once per JVM by the
 * same rule on steps of 1/1024 (10,241 evaluations, both sides by symmetry) less its h^2 term;
 * what is left is the h^4 term, with K'''(10) = -0.026 (finite differences; ResamplerKernelTest
 * bounds it): under 1e-16 at 1/1024 and smaller still at any max over 1024. Summed tap by tap in
 * double (as the exact table does) the sum has rounding of its own, up to ~2e-13 relative for 15
 * million taps; ResamplerKernelTest holds the closed form to the exact tap-by-tap sum within
 * 1e-12.
 *
 * Beyond |u| = 10 the window has an analytic continuation, I0(i y) = J0(y): the same power series
 * in (beta^2 (1 - r^2) / 4), whose argument turns negative. GridFilter samples K a few steps past
 * 10 so that the cubic through four nodes stays the cubic of one smooth function up to the last
 * tap; no tap beyond |m| = half is ever summed.
 *
 * Thread-safety: pure functions; the integral is built once by the JVM's class initialization.
 */
final class KaiserKernel {

  private static final double I0_BETA = Resampler.besselI0(KAISER_BETA);
  /** K'(10): sinc'(10) = cos(10 pi) / 10 = 0.1 times the window at its end, 1 / I0(beta). */
  static final double EDGE_SLOPE = 1.0 / ZERO_CROSSINGS / I0_BETA;
  private static final int INTEGRAL_STEPS = 1024;

  private KaiserKernel() {}

  /** K(u); for |u| > 10 the window's analytic continuation. */
  static double at(double u) {
    double r = u / ZERO_CROSSINGS;
    double s = 1 - r * r;
    double window = s >= 0
        ? Resampler.besselI0(KAISER_BETA * Math.sqrt(s))
        : Resampler.i0Series(KAISER_BETA * KAISER_BETA * s / 4);
    return Resampler.sinc(u) * window / I0_BETA;
  }

  /** sum_{m = -10 max .. 10 max} K(m / max): firwin's taps summed, times max. */
  static double tapSum(int max) {
    double h = 1.0 / max;
    return max * (Integral.VALUE + h * h * EDGE_SLOPE / 6);
  }

  /** The integral of K over [-10, 10]. */
  static double integral() {
    return Integral.VALUE;
  }

  private static final class Integral {
    static final double VALUE = compute();

    private static double compute() {
      int n = ZERO_CROSSINGS * INTEGRAL_STEPS;
      double side = 0;
      for (int m = 1; m <= n; m++) {
        side += at(m / (double) INTEGRAL_STEPS);
      }
      double h = 1.0 / INTEGRAL_STEPS;
      return h * (at(0) + 2 * side) - h * h * EDGE_SLOPE / 6;
    }
  }
}
