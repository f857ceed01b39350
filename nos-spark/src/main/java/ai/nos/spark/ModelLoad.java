package ai.nos.spark;

import java.io.Serializable;

/**
 * One load of a model in an executor JVM, as {@link NosSpark#loads} reports it.
 *
 * @param executorId Spark's id of the executor ({@code "driver"} in local mode)
 * @param modelId the id of the spec that was loaded (for a GPU copy, with its device appended; for
 *     a spec whose id this JVM already held with another spec, with "-" and a digest of the spec)
 * @param device where the copy runs, {@code cpu} or {@code cuda:N}
 * @param loadMillis how long the load took, verification and warm-up included
 */
public record ModelLoad(String executorId, String modelId, String device, long loadMillis)
    implements Serializable {
  private static final long serialVersionUID = 1L;
}
