package ai.nos;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

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
   * @throws IllegalArgumentException if {@code inputs}, a name or a tensor in it is null, or an
   *     input is missing, unknown, or has a dtype or shape the signature does not accept (checked
   *     before any native call)
   * @throws InferenceException if the model fails while running
   * @throws NosException if the calling thread is interrupted (or already was) while its call
   *     waits in a batch queue: the call is withdrawn and the thread keeps its interrupt status
   * @throws IllegalStateException if the model is closed
   */
  Map<String, Tensor> infer(Map<String, Tensor> inputs);

  /**
   * Runs a model that has exactly one input.
   *
   * @throws IllegalArgumentException if the model has more than one input, or as
   *     {@link #infer(Map)} (a null {@code input} included)
   */
  default Map<String, Tensor> infer(Tensor input) {
    var inputs = spec().signature().inputs();
    if (inputs.size() != 1) {
      throw new IllegalArgumentException("model '" + spec().id() + "' has " + inputs.size()
          + " inputs " + spec().signature().inputNames() + "; call infer(Map) with each by name");
    }
    // A map that holds null, so that a null tensor gets infer(Map)'s message, which names it.
    return infer(Collections.singletonMap(inputs.get(0).name(), input));
  }

  /**
   * Queues a call and returns at once. With {@link ModelSpec#batching()} set, concurrent calls
   * are gathered into batches (see {@link Batching}); without it the call runs on the calling
   * thread and the future is already complete.
   *
   * <p>The future fails with {@link QueueFullException} when the model's queue is full, with
   * {@link DeadlineExceededException} when the call did not start within {@code timeout} (at its
   * deadline, even while the model's runs last longer: the call leaves the queue then), with
   * {@link InferenceException} when the model fails. Cancelling it, timing it out
   * ({@code orTimeout}) or completing it yourself before its batch starts takes the call out of
   * the queue; a call whose batch already runs finishes and its outputs are dropped. Either way
   * the model's memory is held only as long as the call needs it.
   *
   * <p>With batching, the future completes on a thread of the manager's callback pool (see
   * {@link ModelManager.Builder#threadFactory}), never on a thread that runs batches: a dependent
   * action ({@code thenApply}, ...) may block, call this model again, or throw, without holding
   * up the model. A future that is already complete runs dependent actions on the thread that
   * adds them.
   *
   * @param priority calls of a higher level are taken first; FIFO within a level
   * @param timeout how long the call may wait before it starts; null for no limit
   * @throws IllegalArgumentException if the inputs do not match the signature, or
   *     {@code timeout} is negative (checked at once)
   * @throws IllegalStateException if the model is closed
   */
  default CompletableFuture<Map<String, Tensor>> inferAsync(Map<String, Tensor> inputs,
      Priority priority, Duration timeout) {
    if (timeout != null && timeout.isNegative()) {
      throw new IllegalArgumentException("timeout of model '" + spec().id() + "' must be >= 0"
          + " (null for none) but was " + timeout);
    }
    try {
      return CompletableFuture.completedFuture(infer(inputs));
    } catch (IllegalArgumentException | IllegalStateException e) {
      throw e;
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** {@link #inferAsync(Map, Priority, Duration)} at normal priority, without a timeout. */
  default CompletableFuture<Map<String, Tensor>> inferAsync(Map<String, Tensor> inputs) {
    return inferAsync(inputs, Priority.NORMAL, null);
  }

  /** {@link #inferAsync(Map)} for a model with exactly one input. */
  default CompletableFuture<Map<String, Tensor>> inferAsync(Tensor input) {
    var inputs = spec().signature().inputs();
    if (inputs.size() != 1) {
      throw new IllegalArgumentException("model '" + spec().id() + "' has " + inputs.size()
          + " inputs " + spec().signature().inputNames() + "; call inferAsync(Map) with each by"
          + " name");
    }
    return inferAsync(Collections.singletonMap(inputs.get(0).name(), input));
  }

  /**
   * Submits many calls at once (they may share batches) and returns their futures in order.
   *
   * @throws IllegalArgumentException if {@code calls} is null, or a call's inputs are null or do
   *     not match the signature (the message names its index); none of the calls before it is
   *     withdrawn
   */
  default List<CompletableFuture<Map<String, Tensor>>> inferAll(
      List<Map<String, Tensor>> calls) {
    if (calls == null) {
      throw new IllegalArgumentException("calls of model '" + spec().id() + "' must not be null"
          + " (an empty list for none)");
    }
    List<CompletableFuture<Map<String, Tensor>>> out = new ArrayList<>(calls.size());
    for (int i = 0; i < calls.size(); i++) {
      try {
        out.add(inferAsync(calls.get(i)));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("calls[" + i + "] of " + calls.size() + ": "
            + e.getMessage() + (i == 0 ? "; no call was submitted"
                : "; calls[0.." + (i - 1) + "] were submitted and run"), e);
      }
    }
    return out;
  }

  /** Stops new calls and frees the model once running calls end. Idempotent. */
  @Override
  void close();
}
