package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.assertAccounted;
import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link DynamicBatcher.Builder#runOnIdleCallerIf}, a GPU copy's way of skipping the queue: a lone
 * synchronous call the gate accepts (a replay of a recorded CUDA graph) runs on its caller; one it
 * refuses, one that finds the slot taken, and every submitOrRun go through the queue to a worker;
 * no queue choice is made.
 */
@Timeout(60)
final class DynamicBatcherIdleCallerGateTest {
  private static final long NONE = Long.MAX_VALUE;

  private final Batchers.EchoRunner echo = new Batchers.EchoRunner();
  private final AtomicInteger plainCalls = new AtomicInteger();
  private final AtomicReference<Thread> plainThread = new AtomicReference<>();
  private final Function<Map<String, Tensor>, Map<String, Tensor>> plain = in -> {
    plainCalls.incrementAndGet();
    plainThread.set(Thread.currentThread());
    return Map.of("y", in.get("x"));
  };
  private DynamicBatcher batcher;

  @AfterEach
  void accounted() {
    if (batcher != null) {
      batcher.close();
      assertAccounted(batcher);
    }
  }

  private DynamicBatcher gated(Function<Map<String, Tensor>, Boolean> gate, BatchRunner runner) {
    return DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), runner)
        .workers(1).runOnIdleCallerIf(gate::apply).start();
  }

  @Test
  void accepted_lone_runsOnTheCaller_withoutAQueueChoice() {
    batcher = gated(in -> true, echo);
    Map<String, Tensor> in = request(3);
    Map<String, Tensor> out = batcher.runOnCaller(in, NONE, plain);
    assertNotNull(out, "an accepted lone call runs on its caller");
    assertSame(in.get("x"), out.get("y"));
    assertSame(Thread.currentThread(), plainThread.get());
    assertEquals(List.of(), echo.sizes, "no batch was formed");
    assertNull(batcher.queueChoice(), "a gated batcher never measures CALLER mode");
    assertEquals(1, batcher.stats().completed());
  }

  @Test
  void refused_returnsNull_andTheCallQueuesToAWorker() throws Exception {
    AtomicInteger asked = new AtomicInteger();
    batcher = gated(in -> {
      asked.incrementAndGet();
      return false;
    }, echo);
    assertNull(batcher.runOnCaller(request(2), NONE, plain));
    assertEquals(1, asked.get(), "the gate saw the call");
    assertEquals(0, plainCalls.get());
    // submitOrRun never runs a gated batcher's call on its caller: it queues.
    Map<String, Tensor> out = batcher.submitOrRun(request(2), Priority.NORMAL, NONE, () -> { })
        .get(30, TimeUnit.SECONDS);
    assertNotNull(out.get("y"));
    assertEquals(List.of(1), echo.sizes, "a worker ran it as a batch of its one row");
  }

  @Test
  void accepted_butTheSlotIsTaken_queues() throws Exception {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    BatchRunner held = batch -> {
      entered.countDown();
      try {
        assertTrue(release.await(30, TimeUnit.SECONDS));
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      return echo.run(batch);
    };
    batcher = gated(in -> true, held);
    CompletableFuture<Map<String, Tensor>> running =
        batcher.submit(request(1), Priority.NORMAL, NONE, () -> { });
    assertTrue(entered.await(30, TimeUnit.SECONDS));
    assertNull(batcher.runOnCaller(request(1), NONE, plain),
        "the one worker slot is busy: the call must queue, not run beside it");
    release.countDown();
    running.get(30, TimeUnit.SECONDS);
    assertEquals(0, plainCalls.get());
  }

  /**
   * Many callers at once, the gate accepting every other request: every call gets its own
   * answer, the caller's and the workers' runs together never exceed the workers (the slots), and
   * the counters add up.
   */
  @Test
  void manyCallers_neverRunMoreThanTheSlots_andEachGetsItsOwnAnswer() throws Exception {
    int threads = 8;
    int perThread = 300;
    AtomicInteger running = new AtomicInteger();
    AtomicInteger most = new AtomicInteger();
    AtomicInteger onCallers = new AtomicInteger();
    Runnable busy = () -> {
      most.accumulateAndGet(running.incrementAndGet(), Math::max);
      long end = System.nanoTime() + 20_000;
      while (System.nanoTime() < end) {
        Thread.onSpinWait();
      }
      running.decrementAndGet();
    };
    BatchRunner counted = batch -> {
      busy.run();
      return echo.run(batch);
    };
    Function<Map<String, Tensor>, Map<String, Tensor>> ownPlain = in -> {
      onCallers.incrementAndGet();
      busy.run();
      return Map.of("y", in.get("x"));
    };
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), counted)
        .workers(2).runOnIdleCallerIf(in -> ((int) in.get("x").toFloatArray()[0]) % 2 == 0)
        .start();
    java.util.concurrent.ExecutorService pool =
        java.util.concurrent.Executors.newFixedThreadPool(threads);
    try {
      List<java.util.concurrent.Future<Integer>> done = new java.util.ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int base = t * perThread;
        done.add(pool.submit(() -> {
          for (int i = 0; i < perThread; i++) {
            float id = base + i;
            Map<String, Tensor> in = request(id);
            Map<String, Tensor> out = batcher.runOnCaller(in, NONE, ownPlain);
            if (out == null) {
              out = batcher.submitOrRun(in, Priority.NORMAL, NONE, () -> { })
                  .get(30, TimeUnit.SECONDS);
            }
            float got = out.get("y").toFloatArray()[0];
            if (got != id) {
              throw new AssertionError("request " + id + " got the answer of " + got);
            }
          }
          return perThread;
        }));
      }
      for (java.util.concurrent.Future<Integer> f : done) {
        assertEquals(perThread, f.get(60, TimeUnit.SECONDS));
      }
    } finally {
      pool.shutdownNow();
    }
    System.out.printf("DynamicBatcherIdleCallerGateTest: %d of %d calls on their callers, at most"
        + " %d runs at once%n", onCallers.get(), threads * perThread, most.get());
    assertTrue(most.get() <= 2, "at most the 2 slots run at once, saw " + most.get());
    assertTrue(onCallers.get() > 0, "some accepted calls ran on their callers");
    // A worker counts a call after it completes the call's future (which wakes the caller): only
    // once the workers are done are the counts final (as in DynamicBatcherPlainPathTest).
    batcher.close();
    assertEquals(threads * perThread, batcher.stats().completed());
  }

  @Test
  void nullGate_isRefused() {
    DynamicBatcher.Builder b = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()),
        echo);
    NullPointerException e = assertThrows(NullPointerException.class,
        () -> b.runOnIdleCallerIf(null));
    assertTrue(e.getMessage().contains("gate"), e.getMessage());
  }
}
