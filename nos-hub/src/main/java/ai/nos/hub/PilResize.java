package ai.nos.hub;

/*
 * Resizing 8-bit RGB images exactly as Pillow's Image.resize does, which is what torchvision's
 * transforms do on PIL images and what HuggingFace image processors do.
 *
 * Bilinear and bicubic: Pillow's convolution resampler (libImaging/Resample.c). Each output
 * pixel is a weighted sum over the input pixels under the filter; when downscaling, the filter is
 * stretched by the scale, which is the antialiasing. The weights are normalized per output pixel,
 * turned into 22-bit fixed point, and the sums rounded and clipped to 0..255. The horizontal
 * pass runs first into an 8-bit intermediate image, then the vertical pass: the intermediate
 * rounding is part of Pillow's result, so it is reproduced here.
 *
 * Nearest: Pillow maps output pixel centres through the affine scale and truncates.
 */
final class PilResize {

  private static final int PRECISION_BITS = 32 - 8 - 2;

  private PilResize() {}

  /** Returns {@code rgb} (width x height) resized to outWidth x outHeight. */
  static byte[] resize(byte[] rgb, int width, int height, int outWidth, int outHeight,
      ImagePreprocessing.Interpolation interpolation) {
    if (width == outWidth && height == outHeight) {
      return rgb;
    }
    if (interpolation == ImagePreprocessing.Interpolation.NEAREST) {
      return nearest(rgb, width, height, outWidth, outHeight);
    }
    double support = interpolation == ImagePreprocessing.Interpolation.BICUBIC ? 2.0 : 1.0;
    byte[] horizontal = rgb;
    if (outWidth != width) {
      horizontal = horizontal(rgb, width, height, outWidth, coefficients(width, outWidth,
          support, interpolation));
    }
    if (outHeight == height) {
      return horizontal;
    }
    return vertical(horizontal, outWidth, height, outHeight,
        coefficients(height, outHeight, support, interpolation));
  }

  /** Per output pixel: the first input pixel, how many, and their fixed-point weights. */
  private record Coefficients(int[] first, int[] count, int[][] weights) {}

  private static Coefficients coefficients(int inSize, int outSize, double filterSupport,
      ImagePreprocessing.Interpolation interpolation) {
    double scale = (double) inSize / outSize;
    double filterScale = Math.max(scale, 1.0);
    double support = filterSupport * filterScale;
    int[] first = new int[outSize];
    int[] count = new int[outSize];
    int[][] weights = new int[outSize][];
    double ss = 1.0 / filterScale;
    for (int xx = 0; xx < outSize; xx++) {
      double center = (xx + 0.5) * scale;
      int xmin = Math.max((int) (center - support + 0.5), 0);
      int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
      double[] k = new double[Math.max(xmax, 0)];
      double sum = 0;
      for (int x = 0; x < k.length; x++) {
        double w = filter((x + xmin - center + 0.5) * ss, interpolation);
        k[x] = w;
        sum += w;
      }
      int[] fixed = new int[k.length];
      for (int x = 0; x < k.length; x++) {
        double w = sum != 0 ? k[x] / sum : k[x];
        double f = w * (1 << PRECISION_BITS);
        fixed[x] = (int) (w < 0 ? -0.5 + f : 0.5 + f);
      }
      first[xx] = xmin;
      count[xx] = k.length;
      weights[xx] = fixed;
    }
    return new Coefficients(first, count, weights);
  }

  private static double filter(double x, ImagePreprocessing.Interpolation interpolation) {
    double t = Math.abs(x);
    if (interpolation == ImagePreprocessing.Interpolation.BILINEAR) {
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

  private static byte[] horizontal(byte[] in, int width, int height, int outWidth,
      Coefficients c) {
    byte[] out = new byte[outWidth * height * 3];
    for (int y = 0; y < height; y++) {
      int row = y * width * 3;
      int outRow = y * outWidth * 3;
      for (int xx = 0; xx < outWidth; xx++) {
        int[] k = c.weights[xx];
        int start = row + c.first[xx] * 3;
        int r = 1 << (PRECISION_BITS - 1);
        int g = r;
        int b = r;
        for (int x = 0; x < c.count[xx]; x++) {
          int p = start + x * 3;
          r += (in[p] & 0xff) * k[x];
          g += (in[p + 1] & 0xff) * k[x];
          b += (in[p + 2] & 0xff) * k[x];
        }
        int o = outRow + xx * 3;
        out[o] = clip8(r);
        out[o + 1] = clip8(g);
        out[o + 2] = clip8(b);
      }
    }
    return out;
  }

  private static byte[] vertical(byte[] in, int width, int height, int outHeight,
      Coefficients c) {
    byte[] out = new byte[width * outHeight * 3];
    int stride = width * 3;
    for (int yy = 0; yy < outHeight; yy++) {
      int[] k = c.weights[yy];
      int start = c.first[yy] * stride;
      for (int i = 0; i < stride; i++) {
        int s = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < c.count[yy]; y++) {
          s += (in[start + y * stride + i] & 0xff) * k[y];
        }
        out[yy * stride + i] = clip8(s);
      }
    }
    return out;
  }

  private static byte clip8(int fixed) {
    int v = fixed >> PRECISION_BITS;
    return (byte) (v < 0 ? 0 : Math.min(v, 255));
  }

  private static byte[] nearest(byte[] in, int width, int height, int outWidth, int outHeight) {
    byte[] out = new byte[outWidth * outHeight * 3];
    double sx = (double) width / outWidth;
    double sy = (double) height / outHeight;
    for (int y = 0; y < outHeight; y++) {
      int iy = Math.min((int) ((y + 0.5) * sy), height - 1);
      for (int x = 0; x < outWidth; x++) {
        int ix = Math.min((int) ((x + 0.5) * sx), width - 1);
        System.arraycopy(in, (iy * width + ix) * 3, out, (y * outWidth + x) * 3, 3);
      }
    }
    return out;
  }
}
