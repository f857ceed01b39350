package ai.nos.internal.batch;

import ai.nos.Priority;
import ai.nos.Tensor;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One submitted call: its inputs, when it arrived, how long it may wait, and the future its caller
 * holds. {@link #settle()} decides, once, who completes the future: the batcher, or the caller by
 * cancelling it, so each request is counted under exactly one outcome. {@link #release()} runs the
 * submitter's release hook, once, when the batcher lets go of the request: that may be later than
 * the settling (a request cancelled while its batch runs is let go when the run ends).
 */
final class Request {
  private static final Logger LOG = LoggerFactory.getLogger(Request.class);

  /** In signature order. */
  final Tensor[] tensors;
  /** As the caller sees them, in signature order; unmodifiable. */
  final Map<String, Tensor> inputs;
  final int rows;
  final Priority priority;
  final ShapeKey key;
  /** On the batcher's clock. */
  final long arrival;
  /** Absolute, on the batcher's clock; Long.MAX_VALUE for none. */
  final long deadline;
  /** Order of arrival, for ties between queues. */
  final long seq;
  final CompletableFuture<Map<String, Tensor>> future = new CompletableFuture<>();

  private final AtomicBoolean settled = new AtomicBoolean();
  /** Null for none. */
  private final Runnable onRelease;
  private final AtomicBoolean released = new AtomicBoolean();

  Request(Tensor[] tensors, Map<String, Tensor> inputs, Priority priority, ShapeKey key,
      long arrival, long deadline, long seq, Runnable onRelease) {
    this.onRelease = onRelease;
    this.tensors = tensors;
    this.inputs = inputs;
    this.rows = (int) tensors[0].dim(0);
    this.priority = priority;
    this.key = key;
    this.arrival = arrival;
    this.deadline = deadline;
    this.seq = seq;
  }

  /** Claims the right to complete the future; true for the first caller only. */
  boolean settle() {
    return settled.compareAndSet(false, true);
  }

  boolean isSettled() {
    return settled.get();
  }

  /**
   * Runs the release hook unless it ran already. A hook that throws is logged, never passed on:
   * it runs on workers, cancelling callers and closers, none of which can do anything about it.
   */
  void release() {
    if (onRelease != null && released.compareAndSet(false, true)) {
      try {
        onRelease.run();
      } catch (RuntimeException e) {
        LOG.error("the release hook of a request failed", e);
      }
    }
  }

  /** Whether this request ranks before {@code other}: higher priority, then earlier arrival. */
  boolean before(Request other) {
    return priority != other.priority ? priority.compareTo(other.priority) < 0 : seq < other.seq;
  }
}
