package ai.nos.internal;

import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * A bounded end for NOS's pools, as HikariCP ends its own: shut each down, wait for all of them
 * together at most a bound, and log what is still running rather than wait for ever (a model that
 * never returns keeps its thread; the thread ends when the model does). Restores the interrupt
 * flag if the wait is interrupted.
 */
public final class Shutdown {
  /** The least wait: long enough for idle pool threads to see the shutdown and exit. */
  static final Duration MIN_WAIT = Duration.ofMillis(500);

  private Shutdown() {}

  /**
   * Shuts {@code pools} down and waits up to {@code bound} (at least {@link #MIN_WAIT}) for all
   * of them; returns whether all ended. What did not end is logged as a warning naming
   * {@code owner}.
   */
  public static boolean awaitPools(Logger log, String owner, Duration bound,
      ExecutorService... pools) {
    for (ExecutorService pool : pools) {
      pool.shutdown();
    }
    long deadline = System.nanoTime() + Math.max(bound.toNanos(), MIN_WAIT.toNanos());
    boolean interrupted = false;
    StringBuilder left = new StringBuilder();
    for (ExecutorService pool : pools) {
      try {
        if (!interrupted && pool.awaitTermination(
            Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          continue;
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
      if (!pool.isTerminated()) {
        left.append(left.length() == 0 ? "" : ", ").append(describe(pool));
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (left.length() > 0) {
      log.warn("{} closed, but after {} ms {} still running; they end when their work returns",
          owner, Math.max(bound.toMillis(), MIN_WAIT.toMillis()), left);
      return false;
    }
    return true;
  }

  private static String describe(ExecutorService pool) {
    if (pool instanceof ThreadPoolExecutor) {
      ThreadPoolExecutor p = (ThreadPoolExecutor) pool;
      return p.getActiveCount() + " of " + p.getPoolSize() + " thread(s) of a pool";
    }
    return "a pool";
  }
}
