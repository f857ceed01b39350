package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.assertAccounted;
import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.id;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link DynamicBatcher#submitOrRun}: a request that would wait alone with a worker slot free runs
 * at once on its caller (issue 20: the hand-off cost the CPU 30-45% at 2 callers), and under load
 * requests still queue and batch, with no more batches at once than workers.
 */
@Timeout(60)
final class DynamicBatcherRunOnCallerTest {
  private static final long NONE = Long.MAX_VALUE;
  /** A queue delay no test waits out: a request that waited for it would time the test out. */
  private static final Duration HOUR = Duration.ofHours(1);

  private final Batchers.EchoRunner echo = new Batchers.EchoRunner();
  private final CountDownLatch entered = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);
  private final AtomicInteger runningNow = new AtomicInteger();
  private final AtomicInteger mostAtOnce = new AtomicInteger();
  private final List<String> runnerThreads = new java.util.concurrent.CopyOnWriteArrayList<>();
  private DynamicBatcher batcher;

  /** Echoes once the test releases it, counting the batches running at once and their threads. */
  private final BatchRunner gated = batch -> {
    mostAtOnce.accumulateAndGet(runningNow.incrementAndGet(), Math::max);
    runnerThreads.add(Thread.currentThread().getName());
    entered.countDown();
    try {
      if (!release.await(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException("never released");
      }
      return echo.run(batch);
    } finally {
      runningNow.decrementAndGet();
    }
  };

  @AfterEach
  void accounted() {
    release.countDown();
    if (batcher != null) {
      batcher.close();
      assertAccounted(batcher);
    }
  }

  private CompletableFuture<Map<String, Tensor>> submitOrRun(float id) {
    return batcher.submitOrRun(request(id), Priority.NORMAL, NONE, null);
  }

  @Test
  void submitOrRun_lone_runsOnCallerWithoutQueueDelay() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, HOUR).build()), echo)
        .runOnCallerWhenIdle(true).start();
    CompletableFuture<Map<String, Tensor>> f = submitOrRun(7);
    assertTrue(f.isDone(), "a lone call with a free worker must not wait the hour's queue delay");
    assertEquals(7f, id(f.get()));
    assertEquals(List.of(1), echo.sizes, "ran as a batch of its own");
    assertEquals(1, batcher.stats().completed());
  }

  @Test
  void submitOrRun_off_queuesAsSubmit() {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, HOUR).build()), echo).start();
    CompletableFuture<Map<String, Tensor>> f = submitOrRun(7);
    assertFalse(f.isDone(), "without runOnCallerWhenIdle the call waits for its batch");
    assertEquals(1, batcher.stats().queued());
  }

  @Test
  void submit_lone_stillQueues() {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, HOUR).build()), echo)
        .runOnCallerWhenIdle(true).start();
    CompletableFuture<Map<String, Tensor>> f = batcher.submit(request(7), Priority.NORMAL, NONE);
    assertFalse(f.isDone(), "an asynchronous caller is never run on");
  }

  @Test
  void submitOrRun_slotsTaken_queuesAndBatchesAfterwardOnTheWorker() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), gated)
        .runOnCallerWhenIdle(true).start();
    String caller = "caller-of-1";
    CompletableFuture<CompletableFuture<Map<String, Tensor>>> first = new CompletableFuture<>();
    Thread t = new Thread(() -> first.complete(submitOrRun(1)), caller);
    t.start();
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    // The one worker slot is the caller's now: these queue, though the delay is 0.
    List<CompletableFuture<Map<String, Tensor>>> queued = new ArrayList<>();
    for (int i = 2; i <= 4; i++) {
      queued.add(submitOrRun(i));
    }
    for (CompletableFuture<Map<String, Tensor>> f : queued) {
      assertFalse(f.isDone());
    }
    assertEquals(3, batcher.stats().queued());
    release.countDown();
    t.join();
    assertEquals(1f, id(first.get().get()));
    for (int i = 0; i < 3; i++) {
      assertEquals(i + 2f, id(queued.get(i).get(10, TimeUnit.SECONDS)));
    }
    assertEquals(List.of(List.of(1f), List.of(2f, 3f, 4f)), echo.batches,
        "the lone call alone, then the three that waited as one batch");
    assertEquals(caller, runnerThreads.get(0));
    assertTrue(runnerThreads.get(1).startsWith("nos-batcher-"), runnerThreads.toString());
    assertEquals(1, mostAtOnce.get(), "one worker: never two batches at once");
  }

  @Test
  void close_waitsForARunOnACaller() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), gated)
        .runOnCallerWhenIdle(true).start();
    CompletableFuture<CompletableFuture<Map<String, Tensor>>> first = new CompletableFuture<>();
    Thread t = new Thread(() -> first.complete(submitOrRun(1)));
    t.start();
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    Thread closer = Batchers.closeInBackground(batcher, Duration.ofSeconds(30));
    // The closer must still be waiting for the run: it can end only after the release.
    while (closer.getState() != Thread.State.TIMED_WAITING) {
      assertTrue(closer.isAlive(), "close returned while a call ran on its caller");
      Thread.onSpinWait();
    }
    release.countDown();
    closer.join();
    t.join();
    assertEquals(1f, id(first.get().get()), "the run finished and kept its outputs");
    assertEquals(1, batcher.stats().completed());
  }


  /**
   * A caller whose queued call a worker just finished calls again at once (on 2 cores its thread
   * wakes and preempts the worker before the worker gets back to its bookkeeping): it must find
   * the slot free. Before, the worker freed its slot only after completing the futures, so the
   * next call queued, the worker ran it, and so on: 2 callers stayed in the hand-off for good
   * (issue 20: batching at 2 callers at half the plain calls' rate).
   */
  @Test
  void submitOrRun_fromAWorkersCompletion_findsItsSlotFree() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), gated)
        .runOnCallerWhenIdle(true).start();
    CompletableFuture<Map<String, Tensor>> queued = batcher.submit(request(1), Priority.NORMAL,
        NONE);
    assertTrue(entered.await(10, TimeUnit.SECONDS), "the worker runs the queued call");
    CompletableFuture<CompletableFuture<Map<String, Tensor>>> next = new CompletableFuture<>();
    CountDownLatch answered = new CountDownLatch(1);
    // Runs on the worker as it completes the first call, and holds it there until a caller's
    // next call (another thread, as the woken caller is) has been answered.
    queued.thenRun(() -> {
      Thread caller = new Thread(() -> {
        next.complete(submitOrRun(2));
        answered.countDown();
      }, "caller-of-2");
      caller.start();
      try {
        answered.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    release.countDown();
    assertEquals(1f, id(queued.get(10, TimeUnit.SECONDS)));
    CompletableFuture<Map<String, Tensor>> second = next.get(10, TimeUnit.SECONDS);
    assertTrue(second.isDone(), "the next call queued behind a finished batch's bookkeeping");
    assertEquals(2f, id(second.get()));
    assertEquals("caller-of-2", runnerThreads.get(1), runnerThreads.toString());
  }


  /**
   * Once the queue choice measured the callers' own threads faster (a model that gains little
   * from batches), a synchronous call runs on its caller even with every slot taken, as a copy
   * without batching would run it, instead of queueing behind the slot.
   */
  @Test
  void submitOrRun_callerModeChosen_runsOnCallerWithSlotsTaken() throws Exception {
    BatchRunner firstGated = batch -> batch.inputs(0).get("x").toFloatArray()[0] == 1f
        ? gated.run(batch)
        : echo.run(batch);
    batcher = DynamicBatcher.builder(echoSpec(batching(8, HOUR).build()), firstGated)
        .runOnCallerWhenIdle(true).epochCalls(1).start();
    QueueChoice choice = batcher.queueChoice();
    // A call served every millisecond batching, every microsecond on the callers' threads. The
    // first epoch (the first call, with nothing before it to time it from) and the probe right
    // after it pass; then the kept mode's epochs and the next probe.
    long at = 0;
    choice.record(QueueChoice.Mode.BATCH, at += 1_000_000);
    choice.record(QueueChoice.Mode.CALLER, at += 1_000_000);
    for (int i = 0; i < DynamicBatcher.PROBE_EVERY; i++) {
      choice.record(QueueChoice.Mode.BATCH, at += 1_000_000);
    }
    choice.record(QueueChoice.Mode.CALLER, at += 1_000);
    assertEquals(QueueChoice.Mode.CALLER, choice.mode());
    CompletableFuture<CompletableFuture<Map<String, Tensor>>> first = new CompletableFuture<>();
    Thread t = new Thread(() -> first.complete(submitOrRun(1)), "caller-of-1");
    t.start();
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    CompletableFuture<Map<String, Tensor>> second = submitOrRun(2);
    assertTrue(second.isDone(), "the slot is taken, but the callers' threads were measured faster");
    assertEquals(2f, id(second.get()));
    assertEquals(0, batcher.stats().queued());
    release.countDown();
    t.join();
    assertEquals(1f, id(first.get().get()));
  }

  /**
   * Many callers, synchronous and asynchronous, while the choice flips between its modes every
   * few calls: every call gets its own outputs, nothing is lost or counted twice, and close
   * returns with nothing running.
   */
  @Test
  void submitOrRun_modesFlipping_everyCallAnsweredOnce() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), echo)
        .runOnCallerWhenIdle(true).epochCalls(3).workers(2).start();
    int threads = 8;
    int calls = 400;
    ManyCallers.Counts counts = ManyCallers.run(threads, calls, (async, want) -> id(async
        ? batcher.submit(request(want), Priority.NORMAL, NONE).get(10, TimeUnit.SECONDS)
        : submitOrRun(want).get(10, TimeUnit.SECONDS)));
    assertEquals(0, counts.wrong());
    assertEquals(threads * calls, counts.answered());
    batcher.close();
    assertEquals(threads * calls, batcher.stats().completed());
    assertTrue(batcher.queueChoice().toString().startsWith("QueueChoice{"));
  }

  @Test
  void submitOrRun_afterClose_throws() {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, HOUR).build()), echo)
        .runOnCallerWhenIdle(true).start();
    batcher.close();
    IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(
        IllegalStateException.class, () -> submitOrRun(1));
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
  }
}
