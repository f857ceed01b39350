package ai.nos.benchmarks;

import ai.nos.ModelSpec;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.Random;

/** The digit model's spec (on the CPU) and random digit images, for the CPU benchmarks. */
final class DigitInputs {
  private DigitInputs() {}

  /** The committed models: {@code models}, or {@code -Dnos.models.dir}. */
  static Path models() {
    return Path.of(System.getProperty("nos.models.dir", "models"));
  }

  /** {@code models/digits/digits.json}, on the CPU. */
  static ModelSpec spec() {
    return ModelSpec.fromJson(models().resolve("digits/digits.json")).toBuilder().device("cpu")
        .build();
  }

  /** {@code batch} 8x8 images of pixels in 0..1 by sixteenths, the same on every run. */
  static Tensor images(int batch) {
    float[] pixels = new float[batch * 64];
    Random random = new Random(1);
    for (int i = 0; i < pixels.length; i++) {
      pixels[i] = random.nextInt(17) / 16f;
    }
    return Tensor.of(pixels, batch, 1, 8, 8);
  }
}
