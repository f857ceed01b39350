package ai.nos.internal.torch;

import ai.nos.ImageInput;
import ai.nos.internal.image.ResampleWeights;
import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.InterpolateFuncOptions;
import org.bytedeco.pytorch.InterpolateMode;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * {@link ImageInput} in libtorch, on whatever device the pixels are: uint8
 * {@code [batch, height, width, 3]} to the model's {@code [batch, 3, side, side]}. Each step is
 * one libtorch operation over the whole batch; the native objects are the caller's scope's.
 * Stateless and thread-safe.
 */
final class DeviceImages {
  private DeviceImages() {}

  /**
   * The model input for {@code pixels}, in {@code as}. The images' size was checked against
   * {@code image} with the other inputs ({@code ai.nos.internal.Inputs}), before any copy.
   */
  static Tensor apply(Tensor pixels, ImageInput image, torch.ScalarType as) {
    int height = (int) pixels.size(1);
    int width = (int) pixels.size(2);
    ImageInput.Geometry g = image.geometry(width, height);
    int out = g.outputSize();
    boolean letterbox = image.resize() == ImageInput.Resize.LETTERBOX;
    // Only the kept region is resized (the crop; all of a letterboxed image): resizing all of a
    // thin image first made a matrix of resized height x height doubles, 4.6 GB for 1x1500.
    Region r = letterbox ? new Region(0, 0, g.resizedWidth(), g.resizedHeight())
        : new Region(-g.left(), -g.top(), out, out);
    Tensor x = image.resampler() == ImageInput.Resampler.TORCH
        ? torchvision(pixels.permute(0, 3, 1, 2), g, image.interpolation(), r)
        : pillow(pixels.permute(0, 3, 1, 2), g, image.interpolation(), r);
    if (image.bgr()) {
      x = x.flip(1);
    }
    if (letterbox) {
      x = torch.constant_pad_nd(x, new long[] {g.left(), out - g.resizedWidth() - g.left(),
          g.top(), out - g.resizedHeight() - g.top()}, new Scalar(image.padValue()));
    }
    x = x.contiguous();
    x.div_(new Scalar(255.0));
    float[] mean = image.mean();
    float[] std = image.std();
    for (int c = 0; c < 3; c++) {
      Tensor plane = x.select(1, c);
      plane.sub_(new Scalar(mean[c]));
      plane.div_(new Scalar(std[c]));
    }
    return as == torch.ScalarType.Float ? x : x.to(as);
  }

  /** A region of the resized image: columns {@code x} to {@code x + w}, rows likewise. */
  record Region(int x, int y, int w, int h) {

    Tensor of(Tensor resized) {
      return resized.narrow(2, y, h).narrow(3, x, w);
    }
  }

  /**
   * torchvision's {@code resize} of a uint8 tensor ({@code transforms.v2.functional
   * .resize_image}) as it runs where the Python pipelines run it, on the CPU: libtorch's
   * antialiased uint8 kernels (int16 weights, rounded after each direction). On the CPU that is
   * libtorch's own kernel; elsewhere the same integers as matrices ({@link #fixedPoint}), since
   * libtorch's CUDA kernel resamples in float and lands a level off now and then. Nearest is
   * libtorch's legacy nearest, as torchvision's NEAREST on tensors.
   */
  private static Tensor torchvision(Tensor bytes, ImageInput.Geometry g,
      ImageInput.Interpolation interpolation, Region r) {
    int height = (int) bytes.size(2);
    int width = (int) bytes.size(3);
    if (g.resizedWidth() == width && g.resizedHeight() == height) {
      return r.of(bytes).to(torch.ScalarType.Float);
    }
    if (bytes.is_cpu() || interpolation == ImageInput.Interpolation.NEAREST) {
      return r.of(interpolate(bytes, g.resizedHeight(), g.resizedWidth(), interpolation))
          .to(torch.ScalarType.Float);
    }
    return fixedPoint(bytes, g, interpolation, true, r);
  }

  /**
   * Pillow's resize: horizontally, rounded to 8 bits, then vertically, with Pillow's 22-bit
   * weights ({@link #fixedPoint}); nearest as Pillow picks it
   * ({@link ResampleWeights#pillowNearest}: not libtorch's nearest-exact, which takes the next
   * pixel where a centre lands on a boundary).
   */
  private static Tensor pillow(Tensor bytes, ImageInput.Geometry g,
      ImageInput.Interpolation interpolation, Region r) {
    int height = (int) bytes.size(2);
    int width = (int) bytes.size(3);
    if (g.resizedWidth() == width && g.resizedHeight() == height) {
      return r.of(bytes).to(torch.ScalarType.Float);
    }
    if (interpolation == ImageInput.Interpolation.NEAREST) {
      Tensor x = bytes.to(torch.ScalarType.Float);
      int[] xs = ResampleWeights.pillowNearest(width, g.resizedWidth());
      int[] ys = ResampleWeights.pillowNearest(height, g.resizedHeight());
      x = x.index_select(3, indexes(Arrays.copyOfRange(xs, r.x(), r.x() + r.w()), x));
      return x.index_select(2, indexes(Arrays.copyOfRange(ys, r.y(), r.y() + r.h()), x));
    }
    return fixedPoint(bytes, g, interpolation, false, r);
  }

  /**
   * Pillow's convolution resampler, and libtorch's uint8 one ({@code int16}), to the byte:
   * each direction that changes is one matrix product with the fixed-point weights of
   * {@link ResampleWeights} (whole numbers in float64, and every partial sum a whole number
   * below 2^31, so the product is exact whatever order the device sums in), then the integer
   * code's rounding: add half, shift right (a division by a power of two, floored) and clip to
   * 0..255. Horizontal first, as both libraries do, so the 8-bit rounding between the passes
   * is theirs. Float {@code [batch, 3, height', width']} of whole pixel values.
   */
  static Tensor fixedPoint(Tensor bytes, ImageInput.Geometry g,
      ImageInput.Interpolation interpolation, boolean int16) {
    return fixedPoint(bytes, g, interpolation, int16,
        new Region(0, 0, g.resizedWidth(), g.resizedHeight()));
  }

  /** As above, only region {@code r} of the result: the weights of its rows and columns. */
  static Tensor fixedPoint(Tensor bytes, ImageInput.Geometry g,
      ImageInput.Interpolation interpolation, boolean int16, Region r) {
    int height = (int) bytes.size(2);
    int width = (int) bytes.size(3);
    boolean bicubic = interpolation == ImageInput.Interpolation.BICUBIC;
    Tensor x = bytes.to(torch.ScalarType.Double);
    if (g.resizedWidth() != width) {
      ResampleWeights w = ResampleWeights.of(width, g.resizedWidth(), bicubic, int16);
      x = rounded(torch.matmul(x, weights(w, width, r.x(), r.w(), x).t()), w.precision());
    } else {
      x = x.narrow(3, r.x(), r.w());
    }
    if (g.resizedHeight() != height) {
      ResampleWeights w = ResampleWeights.of(height, g.resizedHeight(), bicubic, int16);
      x = rounded(torch.matmul(weights(w, height, r.y(), r.h(), x), x), w.precision());
    } else {
      x = x.narrow(2, r.y(), r.h());
    }
    return x.to(torch.ScalarType.Float);
  }

  /** {@code index} as an int64 tensor on {@code like}'s device ({@link TorchTensors#staged}). */
  private static Tensor indexes(int[] index, Tensor like) {
    return TorchTensors.staged(new long[] {index.length}, ai.nos.DType.INT64, 8L * index.length,
        b -> {
          for (int i = 0; i < index.length; i++) {
            b.putLong(8 * i, index[i]);
          }
        }, like.device(), ai.nos.DType.INT64);
  }

  /**
   * Output pixels {@code from} to {@code from + count} of {@code w} as a dense float64
   * {@code [count, in]} matrix on {@code like}'s device.
   */
  private static Tensor weights(ResampleWeights w, int in, int from, int count, Tensor like) {
    double[] dense = w.dense(in, from, count);
    DoublePointer host = new DoublePointer(dense);
    Tensor view = torch.from_blob(host, new long[] {count, in},
        new TensorOptions(torch.ScalarType.Double));
    // A copy on every device (synchronous from pageable memory): the view reads `host`, which
    // the caller's scope frees.
    return view.to(like.device(), torch.ScalarType.Double, false, true,
        new MemoryFormatOptional());
  }

  private static Tensor rounded(Tensor sum, int precision) {
    sum.add_(new Scalar((double) (1L << (precision - 1))));
    sum.div_(new Scalar((double) (1L << precision))).floor_();
    return sum.clamp_(new ScalarOptional(new Scalar(0.0)),
        new ScalarOptional(new Scalar(255.0)));
  }

  /** libtorch's interpolate: legacy nearest, antialiased bilinear and bicubic. */
  private static Tensor interpolate(Tensor x, int height, int width,
      ImageInput.Interpolation interpolation) {
    InterpolateFuncOptions options = new InterpolateFuncOptions();
    options.size().put(new LongVector(height, width));
    switch (interpolation) {
      // One call per case, not one over a conditional: put is overloaded per mode class, and a
      // conditional of two of them would pick JavaCPP's put(Pointer), a raw memory copy.
      case NEAREST -> options.mode().put(new org.bytedeco.pytorch.kNearest());
      case BILINEAR -> options.mode().put(new org.bytedeco.pytorch.kBilinear());
      case BICUBIC -> options.mode().put(new org.bytedeco.pytorch.kBicubic());
      default -> throw new AssertionError(interpolation);
    }
    if (interpolation != ImageInput.Interpolation.NEAREST) {
      options.align_corners().put(new BoolOptional(false));
      options.antialias().put(true);
    }
    return torch.interpolate(x, options);
  }
}
