package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.ImageInput;
import java.util.Random;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.InterpolateFuncOptions;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The device path's fixed-point resize ({@code DeviceImages.fixedPoint}), which the CUDA path
 * runs for torchvision's uint8 resize, gives libtorch's own uint8 CPU kernel (what torchvision
 * and transformers' processors run) byte for byte: down and up, bilinear and bicubic, odd sizes,
 * one direction or both. Pillow's variant is held to Pillow's bytes by nos-hub's
 * PreprocessingParityTest.
 */
final class DeviceImagesFixedPointTest {
  @BeforeAll
  static void natives() {
    TorchRuntime.ensureLoaded();
  }

  @ParameterizedTest(name = "{0}x{1} to {2}x{3} {4}")
  @CsvSource({
      "500, 375, 224, 168, BILINEAR", "500, 375, 224, 168, BICUBIC",
      "375, 500, 256, 341, BILINEAR", "640, 480, 640, 224, BICUBIC",
      "17, 13, 64, 49, BILINEAR", "17, 13, 64, 49, BICUBIC",
      "301, 97, 97, 301, BICUBIC", "224, 224, 223, 225, BILINEAR"})
  void fixedPoint_equalsLibtorchsUint8Kernel(int width, int height, int outWidth,
      int outHeight, ImageInput.Interpolation interpolation) {
    byte[] pixels = new byte[2 * 3 * height * width];
    new Random(width * 31L + height).nextBytes(pixels);
    try (PointerScope scope = new PointerScope()) {
      Tensor bytes = torch.from_blob(new BytePointer(pixels), new long[] {2, 3, height, width},
          new TensorOptions(torch.ScalarType.Byte)).clone();
      ImageInput.Geometry g = new ImageInput.Geometry(outWidth, outHeight, 0, 0,
          Math.max(outWidth, outHeight), (double) outWidth / width, (double) outHeight / height);
      Tensor ours = DeviceImages.fixedPoint(bytes, g, interpolation, true);
      InterpolateFuncOptions options = new InterpolateFuncOptions();
      options.size().put(new LongVector(outHeight, outWidth));
      if (interpolation == ImageInput.Interpolation.BICUBIC) {
        options.mode().put(new org.bytedeco.pytorch.kBicubic());
      } else {
        options.mode().put(new org.bytedeco.pytorch.kBilinear());
      }
      options.align_corners().put(new BoolOptional(false));
      options.antialias().put(true);
      Tensor theirs = torch.interpolate(bytes, options).to(torch.ScalarType.Float);
      assertEquals(theirs.numel(), ours.numel());
      Tensor differing = ours.ne(theirs).sum();
      assertEquals(0L, differing.item_long(), interpolation + " " + width + "x" + height
          + " to " + outWidth + "x" + outHeight + ": values that differ from libtorch's uint8"
          + " kernel, largest difference " + ours.sub(theirs).abs().max().item_double());
    }
  }
}
