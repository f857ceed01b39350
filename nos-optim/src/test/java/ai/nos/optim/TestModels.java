package ai.nos.optim;

import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
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
