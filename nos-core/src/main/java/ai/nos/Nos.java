package ai.nos;

import ai.nos.internal.torch.TorchRuntime;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

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
   * @throws NosException if libtorch's native libraries cannot be loaded (the message says which)
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

  /**
   * NOS's version, e.g. {@code "0.1.0"}: the {@code Implementation-Version} of nos-core's jar
   * manifest, or, run from a build's classes folder without a jar, the version Maven wrote into
   * the resource {@code ai/nos/nos-version.properties}; {@code "unknown"} if neither is there.
   * Loads no native library.
   */
  public static String version() {
    return NosVersion.VALUE;
  }

  /**
   * NOS's, libtorch's and CUDA's versions (see {@link Versions}). Loads libtorch's natives if
   * they are not loaded yet.
   *
   * @throws NosException if libtorch's natives cannot be loaded
   */
  public static Versions versions() {
    String cuda = TorchRuntime.cudaVersion();
    return new Versions(version(), TorchRuntime.libtorchVersion(), Optional.ofNullable(cuda));
  }

  /** Read once: a class's jar does not change under a running JVM. */
  private static final class NosVersion {
    static final String VALUE = version(Nos.class.getPackage().getImplementationVersion(),
        Nos.class.getResourceAsStream("nos-version.properties"));
  }

  /** The manifest's version if given, else the resource's {@code version}, else "unknown". */
  static String version(String manifest, InputStream resource) {
    try (InputStream in = resource) {
      if (manifest != null && !manifest.isBlank()) {
        return manifest;
      }
      if (in != null) {
        Properties p = new Properties();
        p.load(in);
        String v = p.getProperty("version", "").strip();
        // An unfiltered copy (an IDE that skips Maven's resource filtering) holds the placeholder.
        if (!v.isEmpty() && !v.startsWith("${")) {
          return v;
        }
      }
    } catch (IOException | IllegalArgumentException e) {
      // A broken resource says nothing about the version: fall through to "unknown".
    }
    return "unknown";
  }
}
