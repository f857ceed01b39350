package ai.nos;

/**
 * A request was refused because its model's queue already held {@code batching.maxQueueSize}
 * waiting requests. Nothing ran; the caller may retry later or shed the load. The message states
 * the model, the queue's size and its limit, e.g. {@code "model 'digits' queue is full (1024 of
 * 1024 requests waiting); request rejected"}.
 */
public class QueueFullException extends NosException {
  private static final long serialVersionUID = 1L;

  private final String modelId;
  private final int queueSize;
  private final int maxQueueSize;

  /**
   * @param modelId the model whose queue is full
   * @param queueSize requests waiting when this one was refused
   * @param maxQueueSize the limit, {@code batching.maxQueueSize}
   */
  public QueueFullException(String modelId, int queueSize, int maxQueueSize) {
    super("model '" + modelId + "' queue is full (" + queueSize + " of " + maxQueueSize
        + " requests waiting); request rejected");
    this.modelId = modelId;
    this.queueSize = queueSize;
    this.maxQueueSize = maxQueueSize;
  }

  /** The id of the model whose queue is full. */
  public String modelId() {
    return modelId;
  }

  /** Requests waiting in the queue when this one was refused. */
  public int queueSize() {
    return queueSize;
  }

  /** The most requests the queue holds, {@code batching.maxQueueSize}. */
  public int maxQueueSize() {
    return maxQueueSize;
  }
}
