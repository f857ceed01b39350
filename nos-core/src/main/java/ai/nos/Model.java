package ai.nos;

import java.util.Map;

/**
 * A loaded model, ready to run. Get one from {@link Nos#load(ModelSpec)}.
 *
 * <h2>Thread safety</h2>
 * A model may be called from any number of threads at once; calls run concurrently on the one copy
 * of the weights (libtorch's TorchScript interpreter is re-entrant). {@link #close()} may be called
 * from any thread, even while calls are running: it stops new calls at once and the native memory
 * is freed when the last running call returns.
 *
 * <h2>Memory</h2>
 * Every call frees its native tensors before it returns; outputs are copied into JVM
 * {@link Tensor}s. Nothing has to be scoped or closed by the caller except the model itself.
 */
public interface Model extends AutoCloseable {

  /** The spec this model was loaded from. */
  ModelSpec spec();

  /** Where the model runs: {@code cpu} or {@code cuda:N}, never {@code auto}. */
  Device device();

  /**
   * Runs the model on named inputs.
   *
   * @param inputs one tensor per input of the signature, by name
   * @return one tensor per output of the signature, in signature order
   * @throws IllegalArgumentException if an input is missing, unknown, or has a dtype or shape the
   *     signature does not accept (checked before any native call)
   * @throws InferenceException if the model fails while running
   * @throws IllegalStateException if the model is closed
   */
  Map<String, Tensor> infer(Map<String, Tensor> inputs);

  /**
   * Runs a model that has exactly one input.
   *
   * @throws IllegalArgumentException if the model has more than one input, or as
   *     {@link #infer(Map)}
   */
  default Map<String, Tensor> infer(Tensor input) {
    var inputs = spec().signature().inputs();
    if (inputs.size() != 1) {
      throw new IllegalArgumentException("model '" + spec().id() + "' has " + inputs.size()
          + " inputs " + spec().signature().inputNames() + "; call infer(Map) with each by name");
    }
    return infer(Map.of(inputs.get(0).name(), input));
  }

  /** Stops new calls and frees the model once running calls end. Idempotent. */
  @Override
  void close();
}
