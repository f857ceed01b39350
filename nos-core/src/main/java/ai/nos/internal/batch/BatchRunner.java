package ai.nos.internal.batch;

import ai.nos.Tensor;
import java.util.Map;

/**
 * Runs one batch on a model replica. A {@link DynamicBatcher} calls it from its worker threads:
 * with one worker (the default) one batch at a time, so the runner may reuse its buffers; with
 * {@code n > 1} workers ({@link DynamicBatcher.Builder#workers}) up to n batches at once from n
 * threads, so the runner runs concurrently with itself and must be thread-safe.
 */
@FunctionalInterface
public interface BatchRunner {

  /**
   * Runs the model on {@code batch} and returns its outputs by name, each with the batch's
   * {@link Batch#size()} rows in dimension 0. The batcher splits them per request, sharing their
   * memory, so the returned tensors must not change afterwards (they may not wrap a buffer the
   * runner reuses for the next batch).
   *
   * @throws Exception if the model fails; when the batch holds several requests, the batcher runs
   *     each of them alone so that only those that fail by themselves get the failure
   */
  Map<String, Tensor> run(Batch batch) throws Exception;
}
