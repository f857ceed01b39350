package ai.nos.testing;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/** Waiting in tests for what another thread makes true, bounded in time. */
public final class Await {
  private Await() {}

  /**
   * Returns once {@code condition} holds, polling every millisecond.
   *
   * @throws TimeoutException if it does not hold within 10 s
   */
  public static void awaitTrue(BooleanSupplier condition)
      throws InterruptedException, TimeoutException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new TimeoutException("condition not met within 10 s");
      }
      Thread.sleep(1);
    }
  }
}
