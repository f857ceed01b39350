package ai.nos.hub.audio;

import static ai.nos.hub.audio.Resampler.ZERO_CROSSINGS;

/*
 * The resampling filter for long filters (more than Resampler.EXACT_TABLE_LIMIT taps): K sampled
 * once on a fine grid, each tap a cubic through four grid values.
 *
 * Why. Such a filter belongs to rates that share few factors: 767,999 Hz to 16 kHz is up 16,000,
 * down 767,999, 15.4 million taps, 960 of them per output sample, and every one of the 16,000
 * phases is used each second. A table of it would be 123 MB; computing each tap by the Bessel
 * series (what Resampler did before) cost ~3 s of a 2-core machine per second of audio.
 *
 * The grid. Output k sits at input time s = k * down / up; write k * down = i0 * up + r
 * (0 <= r < up). Input i0 - j is then (r / up + j) * rho from the filter's centre in units of u,
 * rho = up / max: the same fraction of a step, r / up, for every tap of the output. With the
 * grid step h = rho / P for a whole number of phases P, tap j lies at grid position
 * (r / up + j) * P = q + a + j * P: the same integer part q and the same fraction a for all taps.
 * So the cubic's four Lagrange weights are computed once per output, and the output is four dot
 * products of the input with the grid's nodes around each tap, combined by the weights: no per-tap
 * arithmetic but the multiply-adds. The nodes are copied per phase q into runs, a tap's four side
 * by side, so that an output reads one contiguous run (~40,000 doubles in all, in the cache;
 * reading the grid at stride P instead was 2.5x slower). P = ceil(PHASES * rho), so
 * h <= 1 / PHASES.
 *
 * Below rho = 1 / PHASES (a target under the source rate / 512, say 767,999 Hz to 1 kHz) P is 1
 * and the grid needs 20 / rho points; past GRID_LIMIT to a side (rho under ~1 / 1638, 767,999 Hz to
 * 100 Hz) the grid has the fixed step 1 / PHASES instead and each tap finds its own four nodes and
 * weights: ~10 ns a tap, 4x real time at 768 kHz, never the speech path (rho >= 16,000 / 768,000
 * there).
 *
 * Error. The Lagrange cubic through the nodes at -1, 0, 1, 2 steps is within
 * (9/16) * h^4 / 24 * max|K''''| of K between the middle two; max|K''''| is about sinc's,
 * pi^4 / 5 (~19.5), at u = 0, the window's derivatives adding little (scaled by 1/10 each; 20.4
 * by finite differences over [0, 11]), so at h = 1/512 under 7e-12 of K's peak (1). An output
 * sums about 20 / rho taps of rho / (sum / max) each, so it is off by at most ~20 * 7e-12 of the
 * input's peak, before the one rounding to float32; the normalization is KaiserKernel.tapSum's
 * closed form, within 1e-12. The taps were firwin's to double precision; they are now within
 * ~1e-11 of them (ResamplerKernelTest holds the outputs to the exact per-tap computation within
 * one float32 ulp plus 1e-9).
 *
 * Work: the grid's points, each one Bessel series (counted); none while filtering.
 * Thread-safety: one call's, confined to its thread.
 */
final class GridFilter extends Resampler.Filter {

  /** Grid steps per unit of u at least (the interpolation error goes as PHASES^-4). */
  static final int PHASES = 512;
  /**
   * The most grid points to each side of the centre on the aligned grid (256 KB; its runs, four
   * nodes a tap and phase, 1 MB at most). Every rho >= 1/512 needs at most ~10,760.
   */
  static final int GRID_LIMIT = 1 << 14;

  private final int up;
  private final int down;
  private final int half;
  private final int length;
  private final int max;
  /** Phases per input step on the aligned grid; 0 when each tap finds its own nodes. */
  private final int phases;
  /** K at (n - offset) * step, n = 0 .. 2 * offset. */
  private final double[] grid;
  private final int offset;
  /**
   * Aligned: for phase q and tap slot s (tap j = reach - 1 - s; taps run from j = -reach to
   * reach - 1), the four nodes around the tap,
   * grid[offset + q + j * phases - 1 ..+ 3], at (q * slots + s) * 4: each output reads one run.
   */
  private final double[] runs;
  private final int reach;
  private final int slots;
  /** up / the sum of K over the taps: the normalization and resample_poly's gain of up. */
  private final double scale;

  GridFilter(int up, int down) {
    this.up = up;
    this.down = down;
    this.max = Math.max(up, down);
    this.half = ZERO_CROSSINGS * max;
    this.length = 2 * half + 1;
    int p = (int) Math.max(1, ((long) PHASES * up + max - 1) / max);
    long alignedSide = ((long) half / up + 1) * p + 3;
    double step;
    if (alignedSide <= GRID_LIMIT) {
      this.phases = p;
      this.offset = (int) alignedSide;
      step = up / ((double) max * p);
    } else {
      this.phases = 0;
      this.offset = ZERO_CROSSINGS * PHASES + 3;
      step = 1.0 / PHASES;
    }
    double[] g = new double[2 * offset + 1];
    for (int n = 0; n <= offset; n++) {
      double v = kernel(n * step);
      g[offset + n] = v;
      g[offset - n] = v; // K is even
    }
    this.grid = g;
    this.reach = half / up + 1;
    this.slots = 2 * reach;
    if (phases > 0) {
      double[] runs = new double[phases * slots * 4];
      for (int q = 0; q < phases; q++) {
        for (int s = 0; s < slots; s++) {
          int node = offset + q + (reach - 1 - s) * phases - 1;
          System.arraycopy(g, node, runs, (q * slots + s) * 4, 4);
        }
      }
      this.runs = runs;
    } else {
      this.runs = null;
    }
    this.scale = up / KaiserKernel.tapSum(max);
  }

  /** Whether each output's taps share one phase of the grid (else each tap finds its own). */
  boolean aligned() {
    return phases > 0;
  }

  /** The grid's length in doubles. */
  int gridLength() {
    return grid.length;
  }

  /** The aligned runs' length in doubles (0 when each tap finds its own nodes). */
  int tableLength() {
    return runs == null ? 0 : runs.length;
  }

  @Override
  float[] apply(float[] x, int n) {
    return phases > 0 ? aligned(x, n) : perTap(x, n);
  }

  private float[] aligned(float[] x, int n) {
    float[] y = new float[n];
    double[] c = runs;
    int stride = phases;
    double perUp = 1.0 / up;
    // k * down = i0 * up + r, stepped from k = 0 without a division: down = dq * up + dr.
    int dq = down / up;
    int dr = down % up;
    int hq = half / up;
    int hr = half % up;
    long i0 = 0;
    int r = 0;
    for (int k = 0; k < n; k++) {
      int rp = r * stride; // < up * PHASES: an int
      int q = rp / up;
      double a = (rp - q * up) * perUp;
      // Taps j with |r + j * up| <= half (the filter: floorDiv(half - r, up) and
      // -floorDiv(half + r, up), as 0 <= r < up) and 0 <= i0 - j < x.length (the input).
      long jHi = Math.min(hq - (r > hr ? 1 : 0), i0);
      long jLo = Math.max(-(hq + (hr + r >= up ? 1 : 0)), i0 - (x.length - 1));
      int at = (q * slots + reach - 1 - (int) jHi) * 4;
      y[k] = (float) (run(x, (int) (i0 - jHi), (int) (i0 - jLo), c, at, a) * scale);
      i0 += dq;
      r += dr;
      if (r >= up) {
        r -= up;
        i0++;
      }
    }
    return y;
  }

  /**
   * x[first..last] against the runs from `at`, four nodes a tap, the cubic's weights at a
   * applied once. A method of its own so that the JIT compiles it whole after a few hundred
   * outputs (inside aligned's loop it waited for on-stack replacement: 2.5x slower on a first
   * call).
   */
  private static double run(float[] x, int first, int last, double[] c, int at, double a) {
    double d0 = 0;
    double d1 = 0;
    double d2 = 0;
    double d3 = 0;
    for (int i = first; i <= last; i++, at += 4) {
      double v = x[i];
      d0 += v * c[at];
      d1 += v * c[at + 1];
      d2 += v * c[at + 2];
      d3 += v * c[at + 3];
    }
    double am1 = a - 1;
    double am2 = a - 2;
    double ap1 = a + 1;
    return -a * am1 * am2 / 6 * d0 + ap1 * am1 * am2 / 2 * d1 - ap1 * a * am2 / 2 * d2
        + ap1 * a * am1 / 6 * d3;
  }

  private float[] perTap(float[] x, int n) {
    float[] y = new float[n];
    double[] g = grid;
    double perTap = PHASES / (double) max;
    for (int k = 0; k < n; k++) {
      long t = (long) k * down + half; // y[k] = sum_i x[i] h[t - i*up], as the exact table
      long first = Math.max(0, Math.floorDiv(t - length + up, up));
      long last = Math.min(x.length - 1, Math.floorDiv(t, up));
      int m = (int) (t - half - first * up); // the tap's distance from the centre, |m| <= half
      double sum = 0;
      for (int i = (int) first, end = (int) last; i <= end; i++, m -= up) {
        double position = m * perTap + offset; // > 0: truncation is the floor
        int at = (int) position;
        double a = position - at;
        double am1 = a - 1;
        double am2 = a - 2;
        double ap1 = a + 1;
        double tap = -a * am1 * am2 / 6 * g[at - 1] + ap1 * am1 * am2 / 2 * g[at]
            - ap1 * a * am2 / 2 * g[at + 1] + ap1 * a * am1 / 6 * g[at + 2];
        sum += x[i] * tap;
      }
      y[k] = (float) (sum * scale);
    }
    return y;
  }

  private double kernel(double u) {
    countBessel(1);
    return KaiserKernel.at(u);
  }
}
