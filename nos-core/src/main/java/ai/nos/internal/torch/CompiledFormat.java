package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import java.nio.file.Path;

/**
 * A kind of compiled artifact another NOS module serves through {@code Nos.load}, found with
 * {@link java.util.ServiceLoader} (nos-optim provides TensorRT engines). The loader asks each
 * format whether it takes a spec's artifact before treating it as TorchScript.
 *
 * <p>Implementations are stateless and thread-safe; {@link #open} runs on the device's loader
 * thread.
 */
public interface CompiledFormat {

  /**
   * Whether this format serves the artifact at {@code origin} (the file the spec names, for its
   * name) whose verified bytes are at {@code verified}: decided from the name and the first
   * bytes, without loading any native library.
   */
  boolean accepts(Path origin, Path verified);

  /**
   * Opens the verified artifact on {@code device} for {@code spec}, checking it against the spec's
   * signature and batching.
   *
   * @throws ai.nos.ModelLoadException if the runtime is missing, the artifact does not open here,
   *     or it does not serve the spec's signature; the message names the model and the file
   */
  CompiledRunner open(ModelSpec spec, VerifiedArtifact verified, Device device);
}
