package ai.nos;

/**
 * How urgent a request is. A batcher takes waiting requests of a higher level before any of a
 * lower one, and requests of one level in the order they arrived.
 *
 * <p>Priority orders the queue; it does not preempt a batch that is already running, and under a
 * steady stream of {@link #HIGH} requests the lower levels wait.
 */
public enum Priority {
  /** Taken before every {@link #NORMAL} and {@link #LOW} request. */
  HIGH,
  /** The default level. */
  NORMAL,
  /** Taken only when no {@link #HIGH} or {@link #NORMAL} request is waiting to join the batch. */
  LOW
}
