package ai.nos;

/**
 * How urgent a request is. A batcher takes waiting requests of a higher level before any of a
 * lower one, and requests of one level in the order they arrived, with one exception that keeps
 * the lower levels from starving: one batch in eight starts with the request that has waited
 * longest, whatever its level. So under a steady flood of {@link #HIGH} requests a {@link #LOW}
 * one still runs, within eight batches of becoming the oldest request waiting, and the higher
 * level still leads the other seven batches.
 *
 * <p>Priority orders the queue; it does not preempt a batch that is already running.
 */
public enum Priority {
  /** Taken before every {@link #NORMAL} and {@link #LOW} request (but see the share above). */
  HIGH,
  /** The default level. */
  NORMAL,
  /**
   * Taken when no {@link #HIGH} or {@link #NORMAL} request is waiting to join the batch, or when
   * it is the oldest request waiting and its share of batches comes round.
   */
  LOW
}
