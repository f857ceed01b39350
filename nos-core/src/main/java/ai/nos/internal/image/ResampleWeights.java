package ai.nos.internal.image;

/**
 * The fixed-point weights of Pillow's convolution resampler (libImaging/Resample.c) and of
 * libtorch's uint8 antialiased kernels (aten UpSampleKernel.cpp, ported from Pillow-SIMD), for
 * one direction of a resize: per output pixel, the first input pixel it reads, how many, and
 * their integer weights with {@link #precision()} fractional bits.
 *
 * <p>Each output pixel is a weighted sum over the input pixels under the filter (triangle for
 * bilinear, Keys a = -0.5 for bicubic); when downscaling, the filter is stretched by the scale,
 * which is the antialiasing. The weights are normalized per output pixel and turned into fixed
 * point: 22 bits for Pillow; for libtorch, int16 weights whose precision is the most that keeps
 * the largest weight of the direction below 2^15. A pass sums {@code pixel * weight} from
 * {@code 2^(precision - 1)} (the rounding), shifts right by the precision and clips to 0..255.
 *
 * <p>Shared by nos-hub's Java resize (an image's bytes on the calling thread) and nos-core's
 * device path (the same integers as matrices on the model's device), so that both give
 * Pillow's and torchvision's bytes exactly. Immutable and thread-safe.
 */
public final class ResampleWeights {
  private static final int PILLOW_PRECISION = 32 - 8 - 2;

  private final int[] first;
  private final int[] count;
  private final int[][] weights;
  private final int precision;

  private ResampleWeights(int[] first, int[] count, int[][] weights, int precision) {
    this.first = first;
    this.count = count;
    this.weights = weights;
    this.precision = precision;
  }

  /**
   * The weights of resizing {@code inSize} pixels to {@code outSize}: bicubic or bilinear,
   * libtorch's int16 precision or Pillow's 22 bits.
   *
   * @throws IllegalArgumentException if a size is not positive
   */
  public static ResampleWeights of(int inSize, int outSize, boolean bicubic, boolean int16) {
    if (inSize < 1 || outSize < 1) {
      throw new IllegalArgumentException("a resize needs positive sizes, was " + inSize + " to "
          + outSize);
    }
    double scale = (double) inSize / outSize;
    double filterScale = Math.max(scale, 1.0);
    double support = (bicubic ? 2.0 : 1.0) * filterScale;
    int[] first = new int[outSize];
    int[] count = new int[outSize];
    double ss = 1.0 / filterScale;
    double[][] normalized = new double[outSize][];
    for (int xx = 0; xx < outSize; xx++) {
      double center = (xx + 0.5) * scale;
      int xmin = Math.max((int) (center - support + 0.5), 0);
      int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
      double[] k = new double[Math.max(xmax, 0)];
      double sum = 0;
      for (int x = 0; x < k.length; x++) {
        double w = filter((x + xmin - center + 0.5) * ss, bicubic);
        k[x] = w;
        sum += w;
      }
      if (sum != 0) {
        for (int x = 0; x < k.length; x++) {
          k[x] /= sum;
        }
      }
      first[xx] = xmin;
      count[xx] = k.length;
      normalized[xx] = k;
    }
    int precision = int16 ? int16Precision(normalized) : PILLOW_PRECISION;
    int[][] weights = new int[outSize][];
    for (int xx = 0; xx < outSize; xx++) {
      double[] k = normalized[xx];
      int[] fixed = new int[k.length];
      for (int x = 0; x < k.length; x++) {
        double f = k[x] * (1 << precision);
        fixed[x] = (int) (k[x] < 0 ? -0.5 + f : 0.5 + f);
      }
      weights[xx] = fixed;
    }
    return new ResampleWeights(first, count, weights, precision);
  }

  /**
   * libtorch's {@code _compute_index_ranges_int16_weights}: the most fractional bits (up to 22)
   * for which twice the largest weight still rounds below 2^15.
   */
  private static int int16Precision(double[][] weights) {
    double max = 0;
    for (double[] k : weights) {
      for (double w : k) {
        max = Math.max(max, w);
      }
    }
    int precision = 0;
    while (precision < 22 && (int) (0.5 + max * (1 << (precision + 1))) < (1 << 15)) {
      precision++;
    }
    return precision;
  }

  private static double filter(double x, boolean bicubic) {
    double t = Math.abs(x);
    if (!bicubic) {
      return t < 1.0 ? 1.0 - t : 0.0;
    }
    double a = -0.5;
    if (t < 1.0) {
      return ((a + 2.0) * t - (a + 3.0)) * t * t + 1;
    }
    if (t < 2.0) {
      return (((t - 5) * t + 8) * t - 4) * a;
    }
    return 0.0;
  }

  /** Output pixels. */
  public int outSize() {
    return first.length;
  }

  /** The first input pixel output pixel {@code out} reads. */
  public int first(int out) {
    return first[out];
  }

  /** How many input pixels output pixel {@code out} reads. */
  public int count(int out) {
    return count[out];
  }

  /** The weight of input pixel {@code first(out) + i} in output pixel {@code out}. */
  public int weight(int out, int i) {
    return weights[out][i];
  }

  /** The weights' fractional bits. */
  public int precision() {
    return precision;
  }

  /**
   * The weights as a dense {@code [outSize, inSize]} row-major matrix of whole numbers, for a
   * pass computed as a matrix product: with at most 22 fractional bits and 8-bit pixels, every
   * partial sum is a whole number below 2^31, which a double holds exactly, in any order.
   */
  public double[] dense(int inSize) {
    return dense(inSize, 0, first.length);
  }

  /** As {@link #dense(int)}, the rows of output pixels {@code from} to {@code from + rows}. */
  public double[] dense(int inSize, int from, int rows) {
    double[] m = new double[rows * inSize];
    for (int r = 0; r < rows; r++) {
      int o = from + r;
      for (int i = 0; i < count[o]; i++) {
        m[r * inSize + first[o] + i] = weights[o][i];
      }
    }
    return m;
  }

  /**
   * The input pixel each of {@code outSize} output pixels takes in Pillow's nearest resize
   * (libImaging/Geometry.c, {@code ImagingScaleAffine}): the centre of output pixel 0 at half the
   * scale, each next one a scale further by addition, truncated. The additions' rounding is
   * Pillow's result: where a centre lands on a pixel boundary, {@code floor((x + 0.5) * scale)}
   * (libtorch's nearest-exact) takes the pixel after the one Pillow takes.
   *
   * @throws IllegalArgumentException if a size is not positive
   */
  public static int[] pillowNearest(int inSize, int outSize) {
    if (inSize < 1 || outSize < 1) {
      throw new IllegalArgumentException("a resize needs positive sizes, was " + inSize + " to "
          + outSize);
    }
    double scale = (double) inSize / outSize;
    double centre = scale * 0.5;
    int[] index = new int[outSize];
    for (int x = 0; x < outSize; x++) {
      index[x] = Math.min((int) centre, inSize - 1);
      centre += scale;
    }
    return index;
  }

  /** Pillow's and libtorch's rounding of a pass's sum (which includes the half). */
  public static int clip8(int fixed, int precision) {
    int v = fixed >> precision;
    return v < 0 ? 0 : Math.min(v, 255);
  }
}
