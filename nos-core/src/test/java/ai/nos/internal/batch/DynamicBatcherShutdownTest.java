package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.assertAccounted;
import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.id;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.NosException;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** close() and the worker thread, with real threads and short real waits. */
@Timeout(60)
final class DynamicBatcherShutdownTest {
  private static final long NONE = Long.MAX_VALUE;
  private static final Duration LONG = Duration.ofSeconds(20);

  private final Batchers.EchoRunner echo = new Batchers.EchoRunner();
  private final CountDownLatch release = new CountDownLatch(1);
  private final CountDownLatch started = new CountDownLatch(1);
  private final AtomicReference<Thread> workerThread = new AtomicReference<>();
  private DynamicBatcher batcher;

  /** Echoes, but holds the first batch until the test releases it. */
  private final BatchRunner gated = batch -> {
    workerThread.compareAndSet(null, Thread.currentThread());
    started.countDown();
    if (!release.await(30, TimeUnit.SECONDS)) {
      throw new IllegalStateException("never released");
    }
    return echo.run(batch);
  };

  private CompletableFuture<Map<String, Tensor>> submit(float id) {
    return batcher.submit(request(id), Priority.NORMAL, NONE);
  }

  @AfterEach
  void accounted() {
    release.countDown();
    batcher.close();
    assertAccounted(batcher);
  }

  @Test
  void close_withRequestsInFlight_runsThemAll() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(2, Duration.ZERO).build()), gated).start();
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    futures.add(submit(0));
    assertTrue(started.await(10, TimeUnit.SECONDS));
    for (int i = 1; i < 6; i++) {
      futures.add(submit(i));
    }
    Thread closer = Batchers.closeInBackground(batcher, LONG);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> submit(9));
    assertEquals("model 'echo' batcher is closed; request rejected", e.getMessage());
    release.countDown();
    closer.join(10_000);
    assertFalse(closer.isAlive());
    for (int i = 0; i < 6; i++) {
      assertTrue(futures.get(i).isDone(), "future " + i + " done when close returns");
      assertEquals(i, id(futures.get(i).join()));
    }
    assertEquals("nos-batcher-echo", workerThread.get().getName());
    assertTrue(workerThread.get().isDaemon());
    workerThread.get().join(10_000);
    assertFalse(workerThread.get().isAlive(), "the worker exits once drained");
  }

  @Test
  void close_timesOut_failsWhatIsLeft() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(1, Duration.ZERO).build()), gated).start();
    CompletableFuture<Map<String, Tensor>> running = submit(1);
    assertTrue(started.await(10, TimeUnit.SECONDS));
    CompletableFuture<Map<String, Tensor>> queued = submit(2);
    batcher.close(Duration.ofMillis(50));
    for (CompletableFuture<Map<String, Tensor>> f : List.of(running, queued)) {
      Throwable e = assertThrows(CompletionException.class, f::join).getCause();
      assertInstanceOf(NosException.class, e);
      assertEquals("model 'echo' batcher was closed before the request finished (close waited "
          + "50 ms)", e.getMessage());
    }
    release.countDown();
    workerThread.get().join(10_000);
    assertEquals(List.of(List.of(1f)), echo.batches, "the queued request never ran");
    assertEquals(2, batcher.stats().failed());
    assertEquals(0, batcher.stats().completed(), "the late output is dropped");
  }

  @Test
  void close_idempotent() {
    batcher = DynamicBatcher.builder(echoSpec(batching(4, Duration.ofHours(1)).build()), echo)
        .start();
    CompletableFuture<Map<String, Tensor>> f = submit(1);
    batcher.close();
    batcher.close();
    batcher.close(Duration.ZERO);
    assertTrue(batcher.isClosed());
    assertEquals(1, id(f.join()), "queued before close: run by close, not failed");
    assertEquals(1, batcher.stats().batches());
    assertEquals(1, batcher.stats().completed());
  }

  @Test
  void close_manual_drainsOnCallingThread() {
    batcher = DynamicBatcher.builder(echoSpec(batching(2, Duration.ofHours(1)).build()), echo)
        .manual();
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      futures.add(submit(i));
    }
    batcher.close();
    assertEquals(List.of(List.of(0f, 1f), List.of(2f, 3f), List.of(4f)), echo.batches);
    futures.forEach(f -> assertTrue(f.isDone()));
  }

  @Test
  void close_fromWorkerThread_doesNotWaitForItself() {
    batcher = DynamicBatcher.builder(echoSpec(batching(4, Duration.ZERO).build()), echo).start();
    CompletableFuture<Map<String, Tensor>> first = submit(1);
    CompletableFuture<Void> closed = first.thenRun(() -> batcher.close(LONG));
    assertTimeoutPreemptively(Duration.ofSeconds(10), () -> closed.join());
    assertTrue(batcher.isClosed());
  }

  @Test
  void worker_fullGroupWakesIt() {
    batcher = DynamicBatcher.builder(echoSpec(batching(3, Duration.ofHours(1)).build()), echo)
        .start();
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      futures.add(submit(i));
    }
    assertTimeoutPreemptively(Duration.ofSeconds(10),
        () -> futures.forEach(CompletableFuture::join));
    assertEquals(List.of(List.of(0f, 1f, 2f)), echo.batches);
  }

  @Test
  void worker_sleepsUntilDelayFromArrival() {
    Duration delay = Duration.ofMillis(100);
    batcher = DynamicBatcher.builder(echoSpec(batching(8, delay).build()), echo).start();
    long t0 = System.nanoTime();
    CompletableFuture<Map<String, Tensor>> a = submit(1);
    CompletableFuture<Map<String, Tensor>> b = submit(2);
    assertTimeoutPreemptively(Duration.ofSeconds(10), () -> a.join());
    long waited = System.nanoTime() - t0;
    assertTrue(waited >= delay.toNanos(), "ran after " + waited + " ns");
    assertEquals(2, id(b.join()));
    assertEquals(List.of(List.of(1f, 2f)), echo.batches);
  }

  @Test
  void worker_interrupted_closesAndDrains() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ofHours(1)).build()), echo)
        .threadFactory(task -> {
          Thread t = new Thread(task, "custom-worker");
          workerThread.set(t);
          return t;
        }).start();
    CompletableFuture<Map<String, Tensor>> f = submit(1);
    workerThread.get().interrupt();
    assertTimeoutPreemptively(Duration.ofSeconds(10), () -> f.join());
    assertTrue(batcher.isClosed());
    workerThread.get().join(10_000);
    assertFalse(workerThread.get().isAlive());
  }

  @Test
  void builder_threadFactoryReturningNull_rejected() {
    batcher = DynamicBatcher.builder(echoSpec(Batching.ofMaxBatchSize(1)), echo).manual();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> DynamicBatcher.builder(echoSpec(Batching.ofMaxBatchSize(1)), echo)
            .threadFactory(task -> null).start());
    assertEquals("the thread factory of the batcher of model 'echo' returned no thread",
        e.getMessage());
  }
  @Test
  void builder_executorRefusingAWorker_failsStart_andTheStartedWorkerEnds() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(Batching.ofMaxBatchSize(1)), echo).manual();
    AtomicReference<Thread> started = new AtomicReference<>();
    java.util.concurrent.Executor oneOnly = task -> {
      if (started.get() != null) {
        throw new java.util.concurrent.RejectedExecutionException("full");
      }
      Thread t = new Thread(task, "pool-thread");
      started.set(t);
      t.start();
    };
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> DynamicBatcher.builder(echoSpec(Batching.ofMaxBatchSize(1)), echo).workers(2)
            .executor(oneOnly, "nos-batcher-echo").start());
    assertEquals("the executor of the batcher of model 'echo' refused worker 1 of 2:"
        + " java.util.concurrent.RejectedExecutionException: full", e.getMessage());
    started.get().join(10_000);
    assertFalse(started.get().isAlive(), "the worker that did start ends with the batcher");
    assertEquals("pool-thread", started.get().getName(), "its thread got its name back");
  }
}
