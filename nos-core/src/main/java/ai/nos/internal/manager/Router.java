package ai.nos.internal.manager;

import ai.nos.NosException;
import ai.nos.Priority;
import ai.nos.Tensor;
import ai.nos.internal.Inputs;
import ai.nos.internal.Lease;
import ai.nos.internal.batch.DynamicBatcher;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The call routing of a {@link ManagerCore}: which copy a call goes to, how the call holds that
 * copy while it runs, and what happens when the copy goes away under it. The core keeps the
 * lifecycle (open, fill, load, free, close) and the books; this class only serves calls on the
 * copies the core publishes. The core's essay ("Concurrency", "Threads", "Callers' futures",
 * "Replicas") says why the rules are what they are.
 *
 * <h2>Picking a copy</h2>
 * A call goes to the ready copy with the fewest calls in flight ({@link #acquire}), read from the
 * entry's copy-on-write list without any lock. Taking it is one CAS on the copy's {@link Lease}
 * ({@link Lease#tryAcquire()}); a lease that closed between the read and the CAS (an eviction, a
 * scale-down) is skipped and the pick runs again, a few times, before the call asks the core for a
 * copy ({@link #ensureCopy}): it books one and loads it on the calling thread, or waits for the
 * copy another thread loads, up to the load timeout.
 *
 * <h2>Holding a copy</h2>
 * Every call holds one reference on its copy from the pick until {@link #done} gives it back,
 * exactly once: on the caller's thread for a CPU call without batching; on the device's {@link
 * CallThreads} after the call for a GPU call without batching (or by the caller, interrupted
 * before the call ran); by the batcher's release hook for a batched call (when the call leaves the
 * queue, or its batch stops running). So an eviction ({@link Lease#closeIfIdle()}) never frees a
 * copy a call may still use, and a copy closed while busy is freed by its last call.
 *
 * <h2>Retries</h2>
 * A call without batching that runs out of device memory evicts the idle copies on its device and
 * runs once more. A batched call whose batcher was found closed while its copy was ready (its
 * worker interrupted from outside, or dead of a bug) retires that copy ({@link #retire}) and goes
 * to a fresh one, up to three copies in a row.
 *
 * <h2>Locking</h2>
 * No lock of its own, and none held while a call runs. It takes the core's one lock ({@link
 * ManagerCore#lock}) only through the core: to book or wait for a copy ({@link
 * ManagerCore#bookWhenRoom}), to publish a copy it loaded ({@link ManagerCore#load}), to evict on
 * out-of-memory ({@link Books#evictIdle}), and to wake waiting threads ({@link
 * ManagerCore#signal}) when a copy it gave back goes idle while someone waits for room (the core's
 * {@code waiters} count, read without the lock, keeps that off the fast path). Lock order: the
 * core's lock may be held when a batcher's or call threads' lock is taken (a copy freed under the
 * lock shuts its batcher down), never the reverse: the batcher and the call threads run the
 * release hook ({@link #done}) after letting go of their own locks.
 */
final class Router {
  /** The core's logger: these lines keep the category they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(ManagerCore.class);

  private final ManagerCore core;

  Router(ManagerCore core) {
    this.core = core;
  }

  /**
   * Queues a call on the least busy ready copy's batcher (loading a copy first if none is ready);
   * without batching, runs it here and returns a completed future. A batched call's future is
   * the caller's: it completes on the callback pool (see the core's "Callers' futures"), and
   * settling it first (cancel, a timeout, a value) takes the call out of the queue.
   */
  CompletableFuture<Map<String, Tensor>> inferAsync(Entry entry,
      Map<String, Tensor> inputs, Priority priority, Duration timeout) {
    // Checked here for both paths: a call without batching never waits, but a negative timeout
    // is the caller's mistake all the same.
    if (timeout != null && timeout.isNegative()) {
      throw new IllegalArgumentException("timeout of model '" + entry.spec.id() + "' must be >= 0"
          + " (null for none) but was " + timeout);
    }
    if (entry.spec.batching().isEmpty()) {
      try {
        return CompletableFuture.completedFuture(infer(entry, inputs));
      } catch (IllegalArgumentException | IllegalStateException e) {
        throw e;
      } catch (RuntimeException | Error e) {
        return CompletableFuture.failedFuture(e);
      }
    }
    Inputs.ordered(entry.spec, inputs);
    CompletableFuture<Map<String, Tensor>> call =
        submit(entry, inputs, priority, timeout, false, null);
    if (call.isDone()) {
      // Settled already (no copy could be loaded, the queue was full, or a quick worker): the
      // caller's dependents run on the caller's own thread, as on any completed future.
      return call;
    }
    return core.completions.forCaller(entry.spec.id(), call);
  }

  /**
   * Submits a call to a copy's batcher and returns the batcher's own future, which completes on
   * a worker: only the manager's bookkeeping may depend on it. The call holds a reference on its
   * copy until the batcher releases it (see {@link DynamicBatcher#submit(Map, Priority, long,
   * Runnable)}), so a copy with queued or running calls is never evicted, and the reference is
   * given back exactly once whoever settles the call. A caller that {@code waits} for the result
   * may have the call run on its own thread when nothing is queued and a worker slot is free, or
   * while the batcher measures that faster ({@link DynamicBatcher#submitOrRun}; CPU copies only,
   * see {@code ManagerCore.startBatcher}). The inputs were validated ({@link Inputs#ordered});
   * {@code first}, if not null, is a copy the caller took a reference on, for the first try.
   */
  private CompletableFuture<Map<String, Tensor>> submit(Entry entry, Map<String, Tensor> inputs,
      Priority priority, Duration timeout, boolean waits, Copy first) {
    long start = core.clock.getAsLong();
    for (int retired = 0; ; ) {
      Copy copy = retired == 0 && first != null ? first : acquire(entry);
      try {
        while (copy == null) {
          copy = ensureCopy(entry, start + core.loadTimeoutNanos);
          if (copy == null) {
            copy = acquire(entry);
          }
        }
      } catch (IllegalArgumentException | IllegalStateException e) {
        throw e;
      } catch (RuntimeException | Error e) {
        // No copy could be loaded (no room in time, a broken artifact): the call fails through
        // its future, as one that runs and fails does.
        entry.requests.increment();
        entry.failures.increment();
        return CompletableFuture.failedFuture(e);
      }
      Copy c = copy;
      DynamicBatcher batcher = c.batcher;
      CompletableFuture<Map<String, Tensor>> call;
      try {
        Priority p = priority == null ? Priority.NORMAL : priority;
        long deadline = timeout == null ? Long.MAX_VALUE : batcher.deadlineAfter(timeout);
        call = waits ? batcher.submitOrRun(inputs, p, deadline, () -> done(c))
            : batcher.submit(inputs, p, deadline, () -> done(c));
      } catch (RuntimeException e) {
        // We hold a reference, so the copy is not being freed: a closed batcher stopped by itself.
        boolean stopped = e instanceof IllegalStateException && batcher.isClosed();
        if (stopped) {
          retire(c);
        }
        done(c);
        if (!stopped) {
          throw e;
        }
        if (++retired < 3) {
          continue;
        }
        entry.requests.increment();
        entry.failures.increment();
        return CompletableFuture.failedFuture(new NosException("model '" + entry.spec.id()
            + "' could not take the call: the batchers of " + retired + " copies in a row"
            + " stopped as it arrived", e));
      }
      call.whenComplete((out, failure) -> {
        entry.requests.increment();
        if (failure == null) {
          entry.latency.record(core.clock.getAsLong() - start);
        } else if (!(failure instanceof CancellationException)) {
          // Cancelled is the caller's choice, not the model's failure.
          entry.failures.increment();
        }
      });
      return call;
    }
  }

  /**
   * Takes a copy whose batcher stopped while the copy was ready (its worker was interrupted or
   * died of a bug) out of service, so that calls go to a fresh copy instead of failing on it for
   * good; it is freed once its last call ends.
   */
  private void retire(Copy copy) {
    Lease l = copy.lease;
    if (l != null && l.close()) {
      LOG.warn("model '{}' on {}: its batcher stopped; the copy is retired and a fresh one serves"
          + " the next calls", copy.entry.spec.id(), copy.slot.info.device());
      core.signal();
    }
  }

  void done(Copy copy) {
    copy.lastUsed = core.clock.getAsLong();
    copy.lease.release();
    if (core.waiters.get() > 0 && copy.inFlight() == 0) {
      core.signal();
    }
  }

  /** Runs a call on the least busy ready copy, loading one first if none is ready. */
  Map<String, Tensor> infer(Entry entry, Map<String, Tensor> inputs) {
    if (entry.spec.batching().isPresent()) {
      Inputs.ordered(entry.spec, inputs);
      long start = core.clock.getAsLong();
      Copy first = acquire(entry);
      if (first != null && first.batcher.runsOnCallers()) {
        Map<String, Tensor> out = plainOnCaller(entry, inputs, first, start);
        if (out != null) {
          return out;
        }
        first = null;
      }
      // The batcher's own future: no user code depends on it, so no hop to the callback pool.
      CompletableFuture<Map<String, Tensor>> call =
          submit(entry, inputs, Priority.NORMAL, null, true, first);
      try {
        return call.get();
      } catch (InterruptedException e) {
        // Withdraws the call if it still waits in the queue; a running batch drops its outputs.
        call.cancel(false);
        Thread.currentThread().interrupt();
        throw new NosException("interrupted while a call to model '" + entry.spec.id()
            + "' waited for its batch; the call was withdrawn", e);
      } catch (ExecutionException e) {
        if (e.getCause() instanceof RuntimeException) {
          throw (RuntimeException) e.getCause();
        }
        throw new NosException("model '" + entry.spec.id() + "' failed: " + e.getCause(), e);
      }
    }
    Inputs.ordered(entry.spec, inputs);
    long start = core.clock.getAsLong();
    long deadline = start + core.loadTimeoutNanos;
    boolean retried = false;
    for (;;) {
      Copy copy = acquire(entry);
      if (copy == null) {
        copy = ensureCopy(entry, deadline);
        if (copy == null) {
          continue;
        }
      }
      Copy c = copy;
      CallThreads threads = c.slot.callThreads;
      boolean handedOver = threads != null;
      try {
        // On a call thread, the reference is given back there (or by this thread if the call
        // never ran), exactly once, before call returns or throws.
        Map<String, Tensor> out = handedOver ? threads.call(c.replica, inputs, () -> done(c))
            : copy.replica.infer(inputs);
        entry.requests.increment();
        entry.latency.record(core.clock.getAsLong() - start);
        return out;
      } catch (RuntimeException | Error e) {
        // An Error too (an OutOfMemoryError, say): counted, passed on as it is, the copy given
        // back by the finally below.
        if (!retried && core.backend.isOutOfMemory(e)) {
          retried = true;
          LOG.warn("model '{}' ran out of memory on {}; evicting idle models there and retrying"
              + " once", entry.spec.id(), copy.slot.info.device());
          core.books.evictIdle(copy.slot, Long.MAX_VALUE, entry);
          continue;
        }
        entry.requests.increment();
        entry.failures.increment();
        throw e;
      } finally {
        if (!handedOver) {
          done(copy);
        }
      }
    }
  }

  /**
   * Runs a synchronous batched call on the calling thread through the copy's own infer, as a call
   * without batching runs, when its batcher would run it on the caller anyway ({@link
   * DynamicBatcher#runOnCaller}: CPU copies, and a GPU copy's lone replay of a recorded CUDA
   * graph); returns null, having run nothing, when the
   * call must go through the batcher (it queues the call now). Nothing of
   * the batch machinery (request, futures, batch, splitting) is paid: about 4 us a call on the
   * 2-core VM, 7-12% of a small CPU call (issue 20). Gives {@code c}'s reference back either
   * way.
   */
  private Map<String, Tensor> plainOnCaller(Entry entry, Map<String, Tensor> inputs, Copy c,
      long start) {
    Map<String, Tensor> out;
    try {
      out = c.batcher.runOnCaller(inputs, Long.MAX_VALUE, c.replica::infer);
    } catch (IllegalArgumentException e) {
      throw e;
    } catch (RuntimeException e) {
      entry.requests.increment();
      entry.failures.increment();
      throw e;
    } finally {
      done(c);
    }
    if (out != null) {
      entry.requests.increment();
      entry.latency.record(core.clock.getAsLong() - start);
    }
    return out;
  }

  /** Takes a reference on the ready copy with the fewest calls in flight, or null. */
  Copy acquire(Entry entry) {
    for (int attempt = 0; attempt < 4; attempt++) {
      Copy best = null;
      for (Copy c : entry.copies) {
        if (c.isServing() && (best == null || c.routingLoad() < best.routingLoad())) {
          best = c;
        }
      }
      if (best == null) {
        return null;
      }
      if (best.lease.tryAcquire()) {
        best.slot.calls.increment();
        return best;
      }
    }
    return null;
  }

  /**
   * Waits until the model has a ready copy, loading one if none is loading. Returns the loaded
   * copy with a reference already taken for the caller, or null if another thread's copy became
   * ready (the caller then acquires it).
   */
  Copy ensureCopy(Entry entry, long deadline) {
    Copy loading = core.bookWhenRoom(entry, deadline, () -> {
      if (entry.removed) {
        throw new IllegalStateException("model '" + entry.spec.id() + "' was unloaded");
      }
      boolean busy = false;
      for (Copy c : entry.copies) {
        if (c.isServing()) {
          return ManagerCore.Booking.DONE;
        }
        busy |= c.state == Copy.State.LOADING;
      }
      return busy ? ManagerCore.Booking.WAIT : ManagerCore.Booking.PLACE;
    }, () -> "model '" + entry.spec.id() + "' could not be loaded within "
        + TimeUnit.NANOSECONDS.toMillis(core.loadTimeoutNanos) + " ms: it needs " + entry.estimate
        + " bytes and every device it may use is full of busy models");
    return loading == null ? null : core.load(loading, true);
  }

}
