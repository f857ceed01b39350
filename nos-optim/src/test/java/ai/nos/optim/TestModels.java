package ai.nos.optim;

import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.function.UnaryOperator;

/**
 * The committed models the guard tests load, read from the system property {@code nos.models.dir}
 * that the build sets (as nos-core's tests do), and a {@link Model} wrapper that plays a broken
 * optimization step.
 */
final class TestModels {
  private TestModels() {}

  static Path modelsDir() {
    String dir = System.getProperty("nos.models.dir");
    Path p = dir != null ? Path.of(dir) : Path.of("../models");
    if (!Files.isDirectory(p)) {
      throw new IllegalStateException("models folder " + p.toAbsolutePath() + " not found; set"
          + " -Dnos.models.dir");
    }
    return p;
  }

  /** models/digits/digits.json, on the CPU. */
  static ModelSpec digits() {
    return ModelSpec.fromJson(modelsDir().resolve("digits/digits.json")).toBuilder()
        .device("cpu").build();
  }

  /**
   * The held-out digits of models/digits/digits-test.csv, a row each: the label, then 64 pixels
   * 0..16. (nos-core's {@code Fixtures} has the same, in a package this module's tests cannot
   * read: {@code ai.nos} is nos-core's.)
   */
  static List<int[]> heldOutDigits() throws IOException {
    try (Stream<String> lines = Files.lines(modelsDir().resolve("digits/digits-test.csv"))) {
      return lines.filter(l -> !l.isBlank() && !l.startsWith("#"))
          .map(l -> Arrays.stream(l.split(",")).mapToInt(Integer::parseInt).toArray()).toList();
    }
  }

  /** Digits {@code start..start+n} as the model's input, {@code [n, 1, 8, 8]}, pixel / 16. */
  static Tensor digitImages(List<int[]> digits, int start, int n) {
    float[] px = new float[n * 64];
    for (int i = 0; i < px.length; i++) {
      px[i] = digits.get(start + i / 64)[1 + i % 64] / 16f;
    }
    return Tensor.of(px, n, 1, 8, 8);
  }

  /** A model whose every output goes through {@code change}: an optimization step gone wrong. */
  static Model perturbed(Model inner, UnaryOperator<float[]> change) {
    return new Model() {
      @Override
      public ModelSpec spec() {
        return inner.spec();
      }

      @Override
      public Device device() {
        return inner.device();
      }

      @Override
      public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        inner.infer(inputs).forEach((name, t) ->
            out.put(name, Tensor.of(change.apply(t.toFloatArray()), t.shape())));
        return out;
      }

      @Override
      public void close() {
        inner.close();
      }
    };
  }
}
