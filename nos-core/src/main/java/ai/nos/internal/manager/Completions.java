package ai.nos.internal.manager;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands a batched call's result from the batcher's worker to the caller's own future, completed
 * on the callback pool, so that no user code runs on a worker (the core's essay, "Callers'
 * futures", says why). A completion the pool refuses (the application's thread factory gave no
 * thread) runs where the batcher completed the call; one that arrives after the pool shut down
 * gets a thread of its own, so that no caller is left waiting.
 *
 * <p>Touches none of the books and takes no lock: thread-safe through the pool and the futures.
 */
final class Completions {
  /** The core's logger: these lines keep the category they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(ManagerCore.class);

  private final ThreadPoolExecutor callbacks;

  /** Takes {@code callbacks} over: a completion after its shutdown gets a thread of its own. */
  Completions(ThreadPoolExecutor callbacks) {
    this.callbacks = callbacks;
    callbacks.setRejectedExecutionHandler(Completions::afterClose);
  }

  /** The callback pool, for the core to await at close. */
  ThreadPoolExecutor pool() {
    return callbacks;
  }

  /**
   * The caller's future for the batcher's {@code call} of model {@code id}: completed on the
   * callback pool; settling it first (cancel, a timeout, a value) cancels {@code call}.
   */
  <T> CompletableFuture<T> forCaller(String id, CompletableFuture<T> call) {
    CompletableFuture<T> caller = new CompletableFuture<>();
    call.whenComplete((out, failure) -> {
      if (!caller.isDone()) {
        Runnable complete = () -> {
          if (failure == null) {
            caller.complete(out);
          } else {
            caller.completeExceptionally(failure);
          }
        };
        try {
          callbacks.execute(complete);
        } catch (RejectedExecutionException e) {
          // The application's thread factory gave no thread: better here than never.
          LOG.warn("model '{}': no callback thread to complete a call on ({}); completing it on"
              + " {}", id, e.getMessage(), Thread.currentThread().getName());
          complete.run();
        }
      }
    });
    // A caller that settles its future first withdraws the call; once the call is done, a no-op.
    caller.whenComplete((out, failure) -> call.cancel(false));
    return caller;
  }

  /**
   * A completion handed to the callback pool after it was shut down (a call that a closing batcher
   * finished late) runs on a thread of its own, so that no caller is left waiting and no user
   * code runs on a worker.
   */
  private static void afterClose(Runnable completion, ThreadPoolExecutor pool) {
    Thread t = pool.getThreadFactory().newThread(completion);
    if (t == null) {
      throw new RejectedExecutionException("the thread factory returned no thread");
    }
    t.start();
  }
}
