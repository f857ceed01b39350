package ai.nos.internal.generate;

import ai.nos.generate.GeneratedTokens;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * Hands one request's tokens, then its result, to the caller off the engine's thread: the engine
 * only enqueues; a task on the callback executor runs the sink for each token in order and then
 * settles the future, so a stream consumer sees every token before the future completes, and a
 * consumer that blocks or throws holds up nothing but its own request. At most one task per
 * request runs at a time (the pending count: whoever raises it from 0 submits the task, which
 * drains until it brings it back to 0), so tokens are never reordered and a slow consumer's
 * tokens queue here, not in the engine.
 *
 * A sink that throws fails the request's future with that exception; the engine sees the future
 * done at its next step and frees the slot.
 *
 * An optional settling hook runs on the same task right before the future is settled (with null
 * or the failure), so whatever the owner books for the request (the manager's request count, its
 * reference on the copy) is done when a caller's join() returns; a whenComplete callback runs
 * after the waiters are woken, which left ModelInfo.requests() one short for a moment.
 *
 * An optional ending hook runs when the engine hands over the result or the failure (finish or
 * fail: the sequence has left the engine), on the engine's thread, before the item is queued:
 * not behind the consumer, so what the owner holds only for the engine's work (a booked
 * generator's reference on its copy) can go back even while a consumer blocks for ever. It must
 * be short and must not wait for the engine (it runs on the engine's scheduler); a hook that
 * throws is logged.
 *
 * When the callback executor refuses a task (it throws: shut down, saturated, or its own thread
 * factory failing), the task runs on a fallback thread instead, so the consumer stays off the
 * engine's thread and the caller still hears the outcome: a thread of the application's
 * ThreadFactory where the engine has one (a generator booked with a manager given one), else, or
 * if that factory gives none too (null or an exception, logged), a NOS daemon thread
 * nos-generate-delivery: a delivery that no thread runs would leave the caller waiting for ever.
 */
final class Delivery implements Runnable {
  private static final Logger LOG = LoggerFactory.getLogger(Delivery.class);

  private final ConcurrentLinkedQueue<Object> items = new ConcurrentLinkedQueue<>();
  private final AtomicInteger pending = new AtomicInteger();
  private final Executor executor;
  private final IntConsumer sink;
  private final CompletableFuture<GeneratedTokens> future;
  private final Consumer<Throwable> settling;
  private final Runnable ending;
  /** Makes the fallback thread; null for a NOS daemon thread. */
  private final ThreadFactory threads;

  private record Failure(Throwable error) {}

  Delivery(Executor executor, IntConsumer sink, CompletableFuture<GeneratedTokens> future) {
    this(executor, sink, future, null);
  }

  Delivery(Executor executor, IntConsumer sink, CompletableFuture<GeneratedTokens> future,
      Consumer<Throwable> settling) {
    this(executor, sink, future, settling, null, null);
  }

  Delivery(Executor executor, IntConsumer sink, CompletableFuture<GeneratedTokens> future,
      Consumer<Throwable> settling, Runnable ending, ThreadFactory threads) {
    this.threads = threads;
    this.executor = executor;
    this.sink = sink;
    this.future = future;
    this.settling = settling;
    this.ending = ending;
  }

  void token(int id) {
    if (sink != null) {
      offer(id);
    }
  }

  void finish(GeneratedTokens result) {
    ended();
    offer(result);
  }

  void fail(Throwable error) {
    ended();
    offer(new Failure(error));
  }

  private void ended() {
    if (ending != null) {
      try {
        ending.run();
      } catch (RuntimeException | Error e) {
        LOG.warn("a generation's ending hook failed", e);
      }
    }
  }

  private void offer(Object item) {
    items.add(item);
    if (pending.getAndIncrement() == 0) {
      try {
        executor.execute(this);
      } catch (RuntimeException e) {
        // The application's executor refused (shut down, or any other exception from execute):
        // a thread of its own still keeps the consumer off the engine's thread, and the caller
        // still hears the outcome.
        fallbackThread(e).start();
      }
    }
  }

  /** A thread for this delivery when the executor refused it; see the class notes. */
  private Thread fallbackThread(RuntimeException refused) {
    if (threads != null) {
      Thread t = null;
      RuntimeException failed = null;
      try {
        t = threads.newThread(this);
      } catch (RuntimeException e) {
        failed = e;
      }
      if (t != null) {
        LOG.warn("callback executor refused a generation's delivery ({}); delivering on a new"
            + " thread of the application's thread factory", refused.toString());
        return t;
      }
      LOG.warn("callback executor refused a generation's delivery ({}) and the application's"
          + " thread factory gave no thread ({}); delivering on a NOS daemon thread",
          refused.toString(), failed != null ? failed.toString() : "it returned null");
    } else {
      LOG.warn("callback executor refused a generation's delivery ({}); delivering on a new"
          + " thread", refused.toString());
    }
    Thread t = new Thread(this, "nos-generate-delivery");
    t.setDaemon(true);
    return t;
  }

  @Override
  public void run() {
    do {
      Object item = items.poll();
      if (item instanceof Integer id) {
        if (!future.isDone()) {
          try {
            sink.accept(id);
          } catch (RuntimeException | Error e) {
            settle(e);
            future.completeExceptionally(e);
          }
        }
      } else if (item instanceof GeneratedTokens result) {
        settle(null);
        future.complete(result);
      } else if (item instanceof Failure f) {
        settle(f.error());
        future.completeExceptionally(f.error());
      }
    } while (pending.decrementAndGet() != 0);
  }

  /** Runs the settling hook, if any and the future is still open; a hook that throws is logged. */
  private void settle(Throwable failure) {
    if (settling != null && !future.isDone()) {
      try {
        settling.accept(failure);
      } catch (RuntimeException | Error e) {
        LOG.warn("a generation's settling hook failed", e);
      }
    }
  }
}
