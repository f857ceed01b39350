package ai.nos.hub;

import ai.nos.internal.image.ResampleWeights;

/*
 * Resizing 8-bit RGB images exactly as Pillow's Image.resize does (torchvision's transforms on
 * PIL images, transformers' PIL-backed image processors), or as torchvision resizes a uint8
 * tensor on the CPU (transformers 5's default, torchvision-backed image processors).
 *
 * Bilinear and bicubic: Pillow's convolution resampler (libImaging/Resample.c). Each output
 * pixel is a weighted sum over the input pixels under the filter; when downscaling, the filter is
 * stretched by the scale, which is the antialiasing. The weights are normalized per output pixel,
 * turned into 22-bit fixed point, and the sums rounded and clipped to 0..255. The horizontal
 * pass runs first into an 8-bit intermediate image, then the vertical pass: the intermediate
 * rounding is part of Pillow's result, so it is reproduced here.
 *
 * libtorch's uint8 antialiased kernels (aten UpSampleKernel.cpp, ported from Pillow-SIMD) are the
 * same algorithm with the weights in int16: their precision is not 22 bits but the most that
 * keeps the largest weight of the direction below 2^15 (14 bits when a weight is near 1, more
 * when downscaling spreads them), so a sum near a half rounds the other way now and then: one
 * pixel level, on about one value in a thousand of the reference images. Same passes, same
 * intermediate rounding, same integer sums otherwise.
 *
 * Nearest: Pillow maps output pixel centres through the affine scale, adding the scale pixel
 * after pixel, and truncates (ResampleWeights.pillowNearest); libtorch's
 * (legacy) nearest takes floor(x * scale) with the scale in float.
 *
 * A region of the resized image (the centre crop that follows a resize) can be computed alone:
 * each output pixel depends only on its coefficients and the input, so the region's pixels are
 * the same bytes as cropping the whole result, and the work outside it (columns the crop drops,
 * input rows no kept row reads) is skipped.
 */
final class PilResize {

  private PilResize() {}

  /** Returns {@code rgb} (width x height) resized to outWidth x outHeight. */
  static byte[] resize(byte[] rgb, int width, int height, int outWidth, int outHeight,
      ImagePreprocessing.Interpolation interpolation, ImagePreprocessing.Resampler resampler) {
    return resize(rgb, width, height, outWidth, outHeight, interpolation, resampler, 0, 0,
        outWidth, outHeight);
  }

  /**
   * Returns the region {@code [left, left + regionWidth) x [top, top + regionHeight)} of
   * {@code rgb} (width x height) resized to outWidth x outHeight: the bytes of cropping
   * {@link #resize(byte[], int, int, int, int, ImagePreprocessing.Interpolation,
   * ImagePreprocessing.Resampler)} there.
   *
   * @throws IllegalArgumentException if the region is not inside the resized image
   */
  static byte[] resize(byte[] rgb, int width, int height, int outWidth, int outHeight,
      ImagePreprocessing.Interpolation interpolation, ImagePreprocessing.Resampler resampler,
      int left, int top, int regionWidth, int regionHeight) {
    if (left < 0 || top < 0 || regionWidth < 1 || regionHeight < 1
        || left + regionWidth > outWidth || top + regionHeight > outHeight) {
      throw new IllegalArgumentException("region " + regionWidth + "x" + regionHeight + " at ("
          + left + ", " + top + ") must lie inside the resized " + outWidth + "x" + outHeight);
    }
    if (interpolation == ImagePreprocessing.Interpolation.NEAREST
        && (width != outWidth || height != outHeight)) {
      return nearest(rgb, width, height, outWidth, outHeight, left, top, regionWidth,
          regionHeight, resampler == ImagePreprocessing.Resampler.TORCH);
    }
    boolean int16 = resampler == ImagePreprocessing.Resampler.TORCH;
    ResampleWeights rows = outHeight == height ? null
        : coefficients(height, outHeight, interpolation, int16);
    // The input rows the region's output rows read (all of them when only the width changes).
    int rowFrom = top;
    int rowTo = top + regionHeight;
    if (rows != null) {
      rowFrom = Integer.MAX_VALUE;
      rowTo = 0;
      for (int yy = top; yy < top + regionHeight; yy++) {
        rowFrom = Math.min(rowFrom, rows.first(yy));
        rowTo = Math.max(rowTo, rows.first(yy) + rows.count(yy));
      }
    }
    byte[] horizontal = outWidth == width
        ? columns(rgb, width, rowFrom, rowTo, left, regionWidth)
        : horizontal(rgb, width, rowFrom, rowTo, coefficients(width, outWidth,
            interpolation, int16), left, regionWidth);
    if (rows == null) {
      return horizontal;
    }
    return vertical(horizontal, regionWidth, rowFrom, rows, top, regionHeight);
  }

  private static ResampleWeights coefficients(int inSize, int outSize,
      ImagePreprocessing.Interpolation interpolation, boolean int16) {
    return ResampleWeights.of(inSize, outSize,
        interpolation == ImagePreprocessing.Interpolation.BICUBIC, int16);
  }

  /** Rows {@code [rowFrom, rowTo)}, output columns {@code [left, left + outWidth)}. */
  private static byte[] horizontal(byte[] in, int width, int rowFrom, int rowTo,
      ResampleWeights c, int left, int outWidth) {
    byte[] out = new byte[outWidth * (rowTo - rowFrom) * 3];
    for (int y = rowFrom; y < rowTo; y++) {
      int row = y * width * 3;
      int outRow = (y - rowFrom) * outWidth * 3 - left * 3;
      for (int xx = left; xx < left + outWidth; xx++) {
        int start = row + c.first(xx) * 3;
        int r = 1 << (c.precision() - 1);
        int g = r;
        int b = r;
        for (int x = 0; x < c.count(xx); x++) {
          int p = start + x * 3;
          int k = c.weight(xx, x);
          r += (in[p] & 0xff) * k;
          g += (in[p + 1] & 0xff) * k;
          b += (in[p + 2] & 0xff) * k;
        }
        int o = outRow + xx * 3;
        out[o] = clip8(r, c.precision());
        out[o + 1] = clip8(g, c.precision());
        out[o + 2] = clip8(b, c.precision());
      }
    }
    return out;
  }

  /**
   * Output rows {@code [top, top + outHeight)} from {@code in}, whose row 0 is input row
   * {@code rowFrom}.
   */
  private static byte[] vertical(byte[] in, int width, int rowFrom, ResampleWeights c, int top,
      int outHeight) {
    byte[] out = new byte[width * outHeight * 3];
    int stride = width * 3;
    for (int yy = top; yy < top + outHeight; yy++) {
      int start = (c.first(yy) - rowFrom) * stride;
      int o = (yy - top) * stride;
      int count = c.count(yy);
      int[] k = new int[count];
      for (int y = 0; y < count; y++) {
        k[y] = c.weight(yy, y);
      }
      for (int i = 0; i < stride; i++) {
        int s = 1 << (c.precision() - 1);
        for (int y = 0; y < count; y++) {
          s += (in[start + y * stride + i] & 0xff) * k[y];
        }
        out[o + i] = clip8(s, c.precision());
      }
    }
    return out;
  }

  /** Rows {@code [rowFrom, rowTo)} and columns {@code [left, left + cols)} of an image. */
  private static byte[] columns(byte[] in, int width, int rowFrom, int rowTo, int left,
      int cols) {
    byte[] out = new byte[cols * (rowTo - rowFrom) * 3];
    for (int y = rowFrom; y < rowTo; y++) {
      System.arraycopy(in, (y * width + left) * 3, out, (y - rowFrom) * cols * 3, cols * 3);
    }
    return out;
  }

  private static byte clip8(int fixed, int precision) {
    return (byte) ResampleWeights.clip8(fixed, precision);
  }

  private static byte[] nearest(byte[] in, int width, int height, int outWidth, int outHeight,
      int left, int top, int regionWidth, int regionHeight, boolean legacy) {
    int[] xs = nearest(width, outWidth, legacy);
    int[] ys = nearest(height, outHeight, legacy);
    byte[] out = new byte[regionWidth * regionHeight * 3];
    for (int y = top; y < top + regionHeight; y++) {
      int iy = ys[y];
      for (int x = left; x < left + regionWidth; x++) {
        int ix = xs[x];
        System.arraycopy(in, (iy * width + ix) * 3, out,
            ((y - top) * regionWidth + x - left) * 3, 3);
      }
    }
    return out;
  }

  /**
   * The input pixel each output pixel takes: libtorch's legacy nearest, or Pillow's
   * ({@link ResampleWeights#pillowNearest}: its additions' rounding decides where a centre lands
   * on a pixel boundary, which {@code (x + 0.5) * scale} got wrong for whole pixels).
   */
  private static int[] nearest(int inSize, int outSize, boolean legacy) {
    if (!legacy) {
      return ResampleWeights.pillowNearest(inSize, outSize);
    }
    float scale = (float) inSize / outSize;
    int[] index = new int[outSize];
    for (int x = 0; x < outSize; x++) {
      index[x] = Math.min((int) Math.floor(x * scale), inSize - 1);
    }
    return index;
  }
}
