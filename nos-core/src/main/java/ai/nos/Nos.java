package ai.nos;

import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import java.util.List;

/**
 * The entry point: load a model and run it.
 *
 * <pre>{@code
 * ModelSpec spec = ModelSpec.fromJson(Path.of("models/digits/digits.json"));
 * try (Model model = Nos.load(spec)) {
 *   Tensor logits = model.infer(Tensor.of(pixels, 1, 1, 8, 8)).get("logits");
 * }
 * }</pre>
 *
 * <p>Thread-safe. The first call loads libtorch's native libraries.
 */
public final class Nos {
  private Nos() {}

  /**
   * Loads the model a spec describes, on the device the spec prefers ({@code auto}: CUDA when this
   * process has it, else the CPU), through the process-wide {@link ModelManager#getDefault()}:
   * loading the same spec twice shares one copy, and closing the last handle unloads it.
   *
   * @throws ModelLoadException if the artifact is missing, fails its checksum or cannot be read
   * @throws DeviceUnavailableException if the spec asks for CUDA and this process has none; NOS
   *     never falls back to the CPU on its own
   */
  public static Model load(ModelSpec spec) {
    if (spec == null) {
      throw new IllegalArgumentException("spec must not be null");
    }
    return ModelManager.getDefault().load(spec);
  }

  /**
   * Loads the model described by a JSON spec file; a relative artifact path is read against the
   * file's folder.
   *
   * @throws IllegalArgumentException if the file is missing, a directory or unreadable, or its
   *     JSON is not a valid spec (see {@link ModelSpec#fromJson(Path)})
   * @throws ModelLoadException as {@link #load(ModelSpec)}
   */
  public static Model load(Path specJson) {
    return load(ModelSpec.fromJson(specJson));
  }

  /** The devices this process can run models on: {@code cpu}, then {@code cuda:0}, ... */
  public static List<Device> devices() {
    return TorchRuntime.devices();
  }
}
