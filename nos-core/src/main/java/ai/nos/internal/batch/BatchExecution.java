package ai.nos.internal.batch;

import ai.nos.DeadlineExceededException;
import ai.nos.NosException;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs formed batches with the runner and settles each request's future with its outcome,
 * counting it. A batch of several requests that the runner fails on is run again request by
 * request, so that only the requests that fail alone fail. Whatever fails while a batch is made,
 * run or split (an OutOfMemoryError too) fails that batch's requests and nothing else: the worker
 * goes on. Each request is released ({@link Request#release()}) before the batcher completes its
 * future, once the runner is done with it, so that its submitter's books are settled by the time
 * the caller sees the outcome. Outputs are handed back by {@link #run} and completed by
 * {@link #complete} apart, so that the batcher frees the batch's slot in between (see the
 * batcher's "Skipping the queue"). Called by the batcher's workers, several batches at once when
 * there are several (or, for the failing methods, by any thread); holds no state of its own and
 * no lock.
 */
final class BatchExecution {
  private static final Logger LOG = LoggerFactory.getLogger(BatchExecution.class);

  private final BatchLayout layout;
  private final BatchRunner runner;
  private final Counters counters;

  BatchExecution(BatchLayout layout, BatchRunner runner, Counters counters) {
    this.layout = layout;
    this.runner = runner;
    this.counters = counters;
  }

  /**
   * Runs a batch, retrying each request alone if the runner fails on several. Returns the outputs
   * per request, in batch order, for {@link #complete} once the caller has freed the batch's slot;
   * null if every request is settled already (a failure, or a batch run again request by
   * request). The runner is done with the batch either way.
   */
  List<Map<String, Tensor>> run(List<Request> requests) {
    Ran ran = runOnce(requests);
    if (ran.failure == null) {
      return ran.outputs;
    }
    LOG.debug("model '{}' failed on a batch of {} requests; running each alone",
        layout.modelId, requests.size());
    for (Request r : requests) {
      if (!r.isSettled()) {
        counters.retries.increment();
        Ran alone = runOnce(List.of(r));
        if (alone.outputs != null) {
          complete(List.of(r), alone.outputs);
        }
      }
    }
    return null;
  }

  /**
   * Releases each request and completes its future with its outputs, unless its caller settled it
   * first; {@code outputs} as {@link #run} returned them.
   */
  void complete(List<Request> requests, List<Map<String, Tensor>> outputs) {
    for (int i = 0; i < requests.size(); i++) {
      Request r = requests.get(i);
      r.release();
      if (r.settle()) {
        (r.future.complete(outputs.get(i)) ? counters.completed : counters.cancelled).increment();
      }
    }
  }

  /**
   * What one run of the runner left: the outputs per request (not completed yet), or the failure
   * of a batch of several requests (left for {@link #run} to isolate), or neither when the
   * requests were failed here.
   */
  private record Ran(List<Map<String, Tensor>> outputs, Throwable failure) {
    static final Ran SETTLED = new Ran(null, null);
  }

  private Ran runOnce(List<Request> requests) {
    Batch batch;
    Map<String, Tensor> outputs;
    try {
      batch = new Batch(layout, requests);
      counters.batch(batch.requestRows());
      outputs = runner.run(batch);
    } catch (Exception e) {
      if (requests.size() > 1) {
        return new Ran(null, e);
      }
      failAll(requests, failure(e, 1));
      return Ran.SETTLED;
    } catch (Error e) {
      failAll(requests, failure(e, requests.size()));
      return Ran.SETTLED;
    }
    try {
      return new Ran(Splitter.split(layout, batch, outputs), null);
    } catch (NosException e) {
      failAll(requests, e);
    } catch (RuntimeException e) {
      failAll(requests, new NosException("model '" + layout.modelId
          + "' returned outputs that cannot be split per request: " + e, e));
    } catch (Error e) {
      failAll(requests, failure(e, requests.size()));
    }
    return Ran.SETTLED;
  }

  /** The runner's own NosException, or a NosException with the failure as its cause. */
  private NosException failure(Throwable e, int requests) {
    if (e instanceof NosException n) {
      return n;
    }
    return new NosException("model '" + layout.modelId + "' failed"
        + (requests > 1 ? " on a batch of " + requests + " requests" : "") + ": " + e, e);
  }

  /**
   * Releases every request of {@code requests}, which the runner is done with, and fails those
   * not settled yet, counting them as failed.
   */
  void failAll(List<Request> requests, NosException failure) {
    for (Request r : requests) {
      fail(r, failure, counters.failed, true);
    }
  }

  /** Releases {@code r}, dropped at {@code now} because its deadline passed, and fails it. */
  void expire(Request r, long now) {
    // A deadline taken a moment before the request arrived (a timeout of zero) is before it.
    fail(r, new DeadlineExceededException(layout.modelId, Duration.ofNanos(now - r.arrival),
        Duration.ofNanos(Math.max(0, r.deadline - r.arrival))), counters.expired, true);
  }

  /**
   * Fails {@code r} unless it is settled, counting it under {@code outcome}, or as cancelled if
   * its caller completed the future between the settling and the failing; with {@code release},
   * releases it first (without, the request is in a batch that still runs, and is released when
   * the run ends). Returns whether it settled {@code r}.
   */
  boolean fail(Request r, Throwable failure, LongAdder outcome, boolean release) {
    if (release) {
      r.release();
    }
    if (r.settle()) {
      (r.future.completeExceptionally(failure) ? outcome : counters.cancelled).increment();
      return true;
    }
    return false;
  }
}
