package ai.nos.internal.manager;

import ai.nos.Tensor;
import ai.nos.internal.batch.Batch;
import java.util.HashMap;
import java.util.Map;

/** One loaded copy of a model on one device, as a {@link Backend} made it. */
public interface Replica {

  /**
   * Runs inputs the manager has already validated against the signature (so a backend need not
   * check them again); may be called from many threads at once.
   */
  Map<String, Tensor> infer(Map<String, Tensor> inputs);

  /**
   * Runs a batch gathered by a dynamic batcher. The default joins each input into one tensor;
   * a backend may instead write the batch straight into its own (pinned) buffers.
   */
  default Map<String, Tensor> inferBatch(Batch batch) {
    Map<String, Tensor> inputs = new HashMap<>();
    for (String name : batch.inputNames()) {
      inputs.put(name, batch.concat(name));
    }
    return infer(inputs);
  }

  /** The load-time steps this copy runs with, in order (labels); none by default. */
  default java.util.List<String> optimizations() {
    return java.util.List.of();
  }

  /**
   * The batch sizes this copy runs batches at: its batcher pads each batch up to one
   * ({@link ai.nos.internal.batch.BatchBuckets}); none by default (any size).
   */
  default ai.nos.internal.batch.BatchBuckets batchBuckets() {
    return ai.nos.internal.batch.BatchBuckets.NONE;
  }

  /**
   * Whether this copy can run {@code inputs} (validated) on a thread its batch workers' warm-up
   * never ran on as fast as on a worker: a call that needs none of the per-thread state
   * {@link #warmUpThread} makes. On a GPU, a replay of an already recorded CUDA graph. False by
   * default.
   */
  default boolean runsColdThreadsWarm(Map<String, Tensor> inputs) {
    return false;
  }

  /**
   * Warms the calling thread up for this copy: its batch workers each call it once before the
   * copy is ready, since native libraries keep per-thread state (cuDNN's plans, cuBLAS handles).
   * Nothing by default.
   */
  default void warmUpThread() {}

  /** Nanoseconds the load spent warming this copy up on the loading thread; 0 if none. */
  default long warmUpNanos() {
    return 0;
  }

  /** Device bytes this copy holds: its weights plus its peak working memory when measured. */
  long footprintBytes();

  /** Frees the copy. Called once, when no call is running, unless it was parked instead. */
  void close();

  /**
   * Moves this copy off its device into host memory for the manager's host tier (the copy was
   * evicted, and no call is running), giving its device memory back; null if this copy cannot be
   * parked (the default), and the manager closes it. On success the returned {@link Parked} owns
   * the copy and this replica is not used again; on failure (null or a throw) the copy is left
   * for the manager to {@link #close()}.
   */
  default Parked park() {
    return null;
  }
}
