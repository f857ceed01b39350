package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.nos.Artifact;
import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Signature;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ImagePreprocessing.Resampler#TORCH}: the Java port ({@link PilResize} with libtorch's
 * int16 weights) and libtorch's own uint8 kernels (the device path on the CPU, nos-core's
 * ImageInput) give the same bytes, for random images and sizes (down, up, one side), every
 * interpolation (nearest: libtorch's legacy nearest) and both crop roundings; and the torch and
 * Pillow resamplers do differ (else the setting would mean nothing). torchvision's agreement is
 * {@link PreprocessingParityTest}'s.
 */
final class TorchResamplerTest {

  private static final Path IDENTITY = Path.of(System.getProperty("nos.models.dir",
      "../models"), "fixtures", "identity.pt");

  @Test
  void javaPort_equalsLibtorchsUint8Kernels() {
    Random random = new Random(19);
    int differentFromPillow = 0;
    for (int trial = 0; trial < 36; trial++) {
      int side = 8 + random.nextInt(24);
      ImagePreprocessing p = ImagePreprocessing.builder().resize(side + random.nextInt(6))
          .crop(side)
          .interpolation(ImagePreprocessing.Interpolation.values()[trial % 3])
          .resampler(ImagePreprocessing.Resampler.TORCH)
          .cropRounding(trial % 4 < 2 ? ImagePreprocessing.CropRounding.FLOOR
              : ImagePreprocessing.CropRounding.HALF_EVEN).build();
      int w = 3 + random.nextInt(120);
      int h = 3 + random.nextInt(120);
      byte[] rgb = new byte[w * h * 3];
      random.nextBytes(rgb);
      RgbImage image = RgbImage.of(w, h, rgb);
      float[] java = ImageTensors.prepare(image, p).tensor().toFloatArray();
      float[] device;
      try (Model model = Nos.load(ImageTensors.onDevice(ModelSpec.builder().id("identity")
          .artifact(Artifact.of(IDENTITY)).signature(Signature.builder()
              .input("image", DType.FLOAT32, -1, 3, side, side)
              .output("y", DType.FLOAT32, -1, 3, side, side).build()).device("cpu").build(),
          p))) {
        device = model.infer(Map.of("image", ImageTensors.input(model, "image", image, p)
            .tensor())).get("y").toFloatArray();
      }
      String what = w + "x" + h + " " + p;
      assertArrayEquals(levels(java), levels(device), what);
      float[] pillow = ImageTensors.prepare(image, p.toBuilder()
          .resampler(ImagePreprocessing.Resampler.PILLOW).build()).tensor().toFloatArray();
      if (!Arrays.equals(levels(java), levels(pillow))) {
        differentFromPillow++;
      }
    }
    assertNotEquals(0, differentFromPillow, "no image came out differently with Pillow's weights");
  }

  /** Values in [0, 1] (mean 0, std 1) back to whole pixel levels. */
  private static int[] levels(float[] values) {
    int[] out = new int[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = Math.round(values[i] * 255);
    }
    return out;
  }
}
