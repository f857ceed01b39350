package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.assertAccounted;
import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.id;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Several workers forming and running batches at once, with real threads. */
@Timeout(60)
final class DynamicBatcherWorkersTest {
  private static final long NONE = Long.MAX_VALUE;
  private static final Duration LONG = Duration.ofSeconds(20);

  private final Batchers.EchoRunner echo = new Batchers.EchoRunner();
  private final CountDownLatch release = new CountDownLatch(1);
  private final AtomicInteger runningNow = new AtomicInteger();
  private final AtomicInteger mostAtOnce = new AtomicInteger();
  private final Set<String> runnerThreads = new TreeSet<>();
  private DynamicBatcher batcher;

  /** Echoes once the test releases it, counting the batches it runs at once. */
  private final BatchRunner gated = batch -> {
    mostAtOnce.accumulateAndGet(runningNow.incrementAndGet(), Math::max);
    synchronized (runnerThreads) {
      runnerThreads.add(Thread.currentThread().getName());
    }
    try {
      if (!release.await(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException("never released");
      }
      return echo.run(batch);
    } finally {
      runningNow.decrementAndGet();
    }
  };

  private CompletableFuture<Map<String, Tensor>> submit(float id) {
    return batcher.submit(request(id), Priority.NORMAL, NONE);
  }

  @AfterEach
  void accounted() {
    release.countDown();
    if (batcher != null) {
      batcher.close();
      assertAccounted(batcher);
    }
  }

  @Test
  void workers_two_runTwoBatchesAtOnceNeverThree() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(1, Duration.ZERO).build()), gated)
        .workers(2).start();
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      futures.add(submit(i));
    }
    assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
      while (runningNow.get() < 2) {
        Thread.onSpinWait();
      }
    });
    TimeUnit.MILLISECONDS.sleep(100);
    assertEquals(2, runningNow.get(), "two batches run at once, the others wait");
    assertEquals(3, batcher.stats().queued());
    release.countDown();
    for (int i = 0; i < 5; i++) {
      assertEquals(i, id(futures.get(i).get(10, TimeUnit.SECONDS)));
    }
    assertEquals(2, mostAtOnce.get(), "never more batches at once than workers");
    assertEquals(5, batcher.stats().batches());
    assertEquals(Set.of("nos-batcher-echo-0", "nos-batcher-echo-1"), runnerThreads);
  }

  @Test
  void workers_queueDelayStillHolds_eachRequestInOneBatch() {
    batcher = DynamicBatcher.builder(echoSpec(batching(4, Duration.ofMillis(300)).build()), echo)
        .workers(3).start();
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      futures.add(submit(i));
    }
    assertTimeoutPreemptively(Duration.ofSeconds(10),
        () -> futures.forEach(CompletableFuture::join));
    List<Float> seen = new ArrayList<>();
    echo.batches.forEach(seen::addAll);
    seen.sort(null);
    List<Float> all = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      all.add((float) i);
      assertEquals(i, id(futures.get(i).join()));
    }
    assertEquals(all, seen, "each request in exactly one batch: " + echo.batches);
    assertEquals(List.of(4, 4, 2), echo.sizes.stream().sorted((a, b) -> b - a).toList(),
        "two full batches at once, the rest once its delay passed");
  }

  @Test
  void close_threeWorkers_drainsAndAllExit() throws Exception {
    List<Thread> threads = new CopyOnWriteArrayList<>();
    batcher = DynamicBatcher.builder(echoSpec(batching(2, Duration.ZERO).build()), gated)
        .workers(3).threadFactory(task -> {
          Thread t = new Thread(task, "custom");
          threads.add(t);
          return t;
        }).start();
    assertEquals(List.of("custom-0", "custom-1", "custom-2"),
        threads.stream().map(Thread::getName).toList());
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      futures.add(submit(i));
    }
    Thread closer = Batchers.closeInBackground(batcher, LONG);
    assertThrows(IllegalStateException.class, () -> submit(99));
    release.countDown();
    closer.join(10_000);
    assertFalse(closer.isAlive());
    for (int i = 0; i < 12; i++) {
      assertTrue(futures.get(i).isDone(), "future " + i + " done when close returns");
      assertEquals(i, id(futures.get(i).join()));
    }
    for (Thread t : threads) {
      t.join(10_000);
      assertFalse(t.isAlive(), t.getName() + " exits once drained");
    }
    assertTrue(mostAtOnce.get() <= 3, "at most one batch per worker: " + mostAtOnce.get());
    assertEquals(12, batcher.stats().completed());
  }

  @Test
  void close_fromOneOfSeveralWorkers_doesNotWait() {
    batcher = DynamicBatcher.builder(echoSpec(batching(4, Duration.ZERO).build()), echo)
        .workers(2).start();
    CompletableFuture<Void> closed = submit(1).thenRun(() -> batcher.close(LONG));
    assertTimeoutPreemptively(Duration.ofSeconds(10), () -> closed.join());
    assertTrue(batcher.isClosed());
  }

  @Test
  void builder_workersBelowOne_rejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DynamicBatcher.builder(echoSpec(Batching.ofMaxBatchSize(1)), echo).workers(0));
    assertEquals("workers must be >= 1 but was 0", e.getMessage());
  }
}
