package ai.nos.benchmarks;

import ai.nos.ModelSpec;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.Random;

/**
 * The digit model's spec (on the CPU) and random digit images, for the CPU benchmarks (public for
 * the DJL comparison in {@code ai.nos.benchmarks.djl}, which feeds DJL the same pixels).
 */
public final class DigitInputs {
  private DigitInputs() {}

  /** The committed models: {@code models}, or {@code -Dnos.models.dir}. */
  public static Path models() {
    return Path.of(System.getProperty("nos.models.dir", "models"));
  }

  /** {@code models/digits/digits.json}, on the CPU. */
  public static ModelSpec spec() {
    return ModelSpec.fromJson(models().resolve("digits/digits.json")).toBuilder().device("cpu")
        .build();
  }

  /** {@code batch} 8x8 images of pixels in 0..1 by sixteenths, the same on every run. */
  public static Tensor images(int batch) {
    return Tensor.of(pixels(batch), batch, 1, 8, 8);
  }

  /** The pixels of {@link #images}, rows of 64. */
  public static float[] pixels(int batch) {
    float[] pixels = new float[batch * 64];
    Random random = new Random(1);
    for (int i = 0; i < pixels.length; i++) {
      pixels[i] = random.nextInt(17) / 16f;
    }
    return pixels;
  }
}
