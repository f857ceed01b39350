package ai.nos.internal.torch;

import ai.nos.ImageInput;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.InterpolateFuncOptions;
import org.bytedeco.pytorch.InterpolateMode;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
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
    Tensor x = image.resampler() == ImageInput.Resampler.TORCH
        ? torchvision(pixels.permute(0, 3, 1, 2), g, image.interpolation())
        : pillow(pixels.permute(0, 3, 1, 2).to(torch.ScalarType.Float), g,
            image.interpolation());
    if (image.bgr()) {
      x = x.flip(1);
    }
    int out = g.outputSize();
    if (image.resize() == ImageInput.Resize.LETTERBOX) {
      x = torch.constant_pad_nd(x, new long[] {g.left(), out - g.resizedWidth() - g.left(),
          g.top(), out - g.resizedHeight() - g.top()}, new Scalar(image.padValue()));
    } else if (out != g.resizedWidth() || out != g.resizedHeight()) {
      x = x.narrow(2, -g.top(), out).narrow(3, -g.left(), out);
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

  /**
   * torchvision's {@code resize} of a uint8 tensor ({@code transforms.v2.functional
   * .resize_image}): on the CPU libtorch resamples the bytes itself (its antialiased uint8
   * kernels: int16 weights, rounded after each direction); elsewhere in float over both
   * directions at once, clamped (bicubic overshoots) and rounded once. Nearest is libtorch's
   * legacy nearest, as torchvision's NEAREST on tensors.
   */
  private static Tensor torchvision(Tensor bytes, ImageInput.Geometry g,
      ImageInput.Interpolation interpolation) {
    int height = (int) bytes.size(2);
    int width = (int) bytes.size(3);
    if (g.resizedWidth() == width && g.resizedHeight() == height) {
      return bytes.to(torch.ScalarType.Float);
    }
    if (bytes.is_cpu() || interpolation == ImageInput.Interpolation.NEAREST) {
      return interpolate(bytes, g.resizedHeight(), g.resizedWidth(), interpolation, true)
          .to(torch.ScalarType.Float);
    }
    Tensor x = interpolate(bytes.to(torch.ScalarType.Float), g.resizedHeight(),
        g.resizedWidth(), interpolation, true);
    x.clamp_(new ScalarOptional(new Scalar(0.0)), new ScalarOptional(new Scalar(255.0)));
    return x.round_();
  }

  /**
   * Pillow's resize: horizontally, rounded to 8 bits, then vertically, so that a bicubic
   * overshoot at a sharp edge is clipped between them as there.
   */
  private static Tensor pillow(Tensor x, ImageInput.Geometry g,
      ImageInput.Interpolation interpolation) {
    int height = (int) x.size(2);
    int width = (int) x.size(3);
    if (interpolation == ImageInput.Interpolation.NEAREST) {
      if (g.resizedWidth() != width || g.resizedHeight() != height) {
        x = pillowPass(x, g.resizedHeight(), g.resizedWidth(), interpolation);
      }
      return x;
    }
    if (g.resizedWidth() != width) {
      x = pillowPass(x, height, g.resizedWidth(), interpolation);
    }
    if (g.resizedHeight() != height) {
      x = pillowPass(x, g.resizedHeight(), g.resizedWidth(), interpolation);
    }
    return x;
  }

  /**
   * One pass of Pillow's resize: antialiased bilinear or bicubic (libtorch's antialias mode
   * follows Pillow's kernels), rounded to whole pixel values as Pillow's 8-bit output is;
   * nearest as Pillow picks it (libtorch's nearest-exact).
   */
  private static Tensor pillowPass(Tensor x, int height, int width,
      ImageInput.Interpolation interpolation) {
    Tensor resized = interpolate(x, height, width, interpolation, false);
    if (interpolation == ImageInput.Interpolation.NEAREST) {
      return resized;
    }
    resized.round_();
    return resized.clamp_(new ScalarOptional(new Scalar(0.0)),
        new ScalarOptional(new Scalar(255.0)));
  }

  /** libtorch's interpolate, antialiased for bilinear and bicubic. */
  private static Tensor interpolate(Tensor x, int height, int width,
      ImageInput.Interpolation interpolation, boolean legacyNearest) {
    InterpolateFuncOptions options = new InterpolateFuncOptions();
    options.size().put(new LongVector(height, width));
    switch (interpolation) {
      // Two calls, not one over a conditional: put is overloaded per mode class, and a
      // conditional of two of them would pick JavaCPP's put(Pointer), a raw memory copy.
      case NEAREST -> {
        if (legacyNearest) {
          options.mode().put(new org.bytedeco.pytorch.kNearest());
        } else {
          options.mode().put(new org.bytedeco.pytorch.kNearestExact());
        }
      }
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
