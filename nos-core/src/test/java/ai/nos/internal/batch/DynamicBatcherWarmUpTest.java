package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.id;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Priority;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Each worker runs the warm-up task on its own thread before its first batch. */
@Timeout(60)
final class DynamicBatcherWarmUpTest {
  private static final long NONE = Long.MAX_VALUE;
  private final ExecutorService pool = Executors.newCachedThreadPool();
  private final List<String> events = new CopyOnWriteArrayList<>();
  private DynamicBatcher batcher;

  @AfterEach
  void close() {
    if (batcher != null) {
      batcher.close();
    }
    pool.shutdownNow();
  }

  @Test
  void eachWorkerWarmsUpOnItsThread_beforeItsFirstBatch_andAwaitWaitsForAll() throws Exception {
    CountDownLatch entered = new CountDownLatch(2);
    CountDownLatch open = new CountDownLatch(1);
    batcher = DynamicBatcher.builder(echoSpec(batching(4, Duration.ZERO).build()), batch -> {
      events.add("batch on " + Thread.currentThread().getName());
      return new Batchers.EchoRunner().run(batch);
    }).workers(2).executor(pool, "w").warmUp(() -> {
      events.add("warm " + Thread.currentThread().getName());
      entered.countDown();
      try {
        open.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }).start();
    assertTrue(entered.await(30, TimeUnit.SECONDS), "both workers started warming up");
    assertFalse(batcher.awaitWarmUp(Duration.ofMillis(50)), "the warm-ups are still running");
    var call = batcher.submit(request(7), Priority.NORMAL, NONE);
    assertFalse(call.isDone(), "no batch runs before a worker is warm");
    open.countDown();
    assertTrue(batcher.awaitWarmUp(Duration.ofSeconds(30)));
    assertEquals(7f, id(call.get(30, TimeUnit.SECONDS)));
    assertEquals(List.of("warm w-0", "warm w-1"), events.subList(0, 2).stream().sorted()
        .toList());
    assertTrue(events.get(2).startsWith("batch on w-"), events.toString());
  }

  @Test
  void failingWarmUp_isLogged_andTheWorkerServes() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(4, Duration.ZERO).build()),
        new Batchers.EchoRunner()).workers(2).executor(pool, "w").warmUp(() -> {
          throw new IllegalStateException("out of memory (simulated)");
        }).start();
    assertTrue(batcher.awaitWarmUp(Duration.ofSeconds(30)));
    assertEquals(3f, id(batcher.submit(request(3), Priority.NORMAL, NONE)
        .get(30, TimeUnit.SECONDS)));
  }

  @Test
  void withoutWarmUp_awaitReturnsAtOnce() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(4, Duration.ZERO).build()),
        new Batchers.EchoRunner()).start();
    assertTrue(batcher.awaitWarmUp(Duration.ZERO));
  }
}
