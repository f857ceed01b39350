package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.assertAccounted;
import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.id;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.NosException;
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
 * {@link DynamicBatcher#runOnCaller}, the plain path of a synchronous call that runs on its caller
 * (issue 20: the batch machinery cost such a call about 4 us): the plain infer runs instead of the
 * runner, under the same slots, close and failure rules as a request run on its caller.
 */
@Timeout(60)
final class DynamicBatcherPlainPathTest {
  private static final long NONE = Long.MAX_VALUE;
  /** A queue delay no test waits out: a request that waited for it would time the test out. */
  private static final Duration HOUR = Duration.ofHours(1);

  private final Batchers.EchoRunner echo = new Batchers.EchoRunner();
  private final AtomicInteger plainCalls = new AtomicInteger();
  /** The plain infer: echoes its inputs as "y", counting its calls. */
  private final Function<Map<String, Tensor>, Map<String, Tensor>> plain = in -> {
    plainCalls.incrementAndGet();
    return Map.of("y", in.get("x"));
  };
  private final CountDownLatch entered = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);
  /** The plain infer, held until the test releases it. */
  private final Function<Map<String, Tensor>, Map<String, Tensor>> gatedPlain = in -> {
    entered.countDown();
    try {
      if (!release.await(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException("never released");
      }
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
    return plain.apply(in);
  };
  private DynamicBatcher batcher;

  @AfterEach
  void accounted() {
    release.countDown();
    if (batcher != null) {
      batcher.close();
      assertAccounted(batcher);
    }
  }

  private DynamicBatcher.Builder builder(BatchRunner runner) {
    return builder(runner, HOUR);
  }

  private DynamicBatcher.Builder builder(BatchRunner runner, Duration delay) {
    return DynamicBatcher.builder(echoSpec(batching(8, delay).build()), runner)
        .runOnCallerWhenIdle(true);
  }

  @Test
  void runOnCaller_lone_runsThePlainInferNotTheRunner() {
    batcher = builder(echo).start();
    Map<String, Tensor> in = request(7);
    Map<String, Tensor> out = batcher.runOnCaller(in, NONE, plain);
    assertSame(in.get("x"), out.get("y"), "the caller's own tensor reaches the plain infer");
    assertEquals(1, plainCalls.get());
    assertEquals(List.of(), echo.sizes, "no batch was formed");
    BatcherStats s = batcher.stats();
    assertEquals(1, s.submitted());
    assertEquals(1, s.completed());
    assertEquals(1, s.batches());
  }

  @Test
  void runOnCaller_off_returnsNullAndRunsNothing() {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, HOUR).build()), echo).start();
    assertFalse(batcher.runsOnCallers());
    assertNull(batcher.runOnCaller(request(1), NONE, plain));
    assertEquals(0, plainCalls.get());
    assertEquals(0, batcher.stats().submitted());
  }

  @Test
  void runOnCaller_closedOrDeadlinePassed_returnsNullForSubmitOrRunToAnswer() {
    batcher = builder(echo).start();
    assertNull(batcher.runOnCaller(request(1), Long.MIN_VALUE, plain));
    batcher.close();
    assertNull(batcher.runOnCaller(request(1), NONE, plain));
    assertEquals(0, plainCalls.get());
  }

  @Test
  void runOnCaller_tooManyRows_throwsNamingTheRows() {
    batcher = builder(echo).start();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> batcher.runOnCaller(request(1, 9, 2), NONE, plain));
    assertTrue(e.getMessage().contains("9 rows"), e.getMessage());
    assertEquals(0, plainCalls.get());
  }

  /**
   * The plain run holds the one slot: the queue choice's BATCH mode sends the next call to queue.
   */
  @Test
  void runOnCaller_slotTaken_returnsNullAndTheQueuedCallRunsAfter() throws Exception {
    // No queue delay: the queued call is due at once, so only the taken slot holds it back.
    batcher = builder(echo, Duration.ZERO).start();
    AtomicReference<Map<String, Tensor>> first = new AtomicReference<>();
    Thread t = new Thread(() -> first.set(batcher.runOnCaller(request(1), NONE, gatedPlain)));
    t.start();
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    assertNull(batcher.runOnCaller(request(2), NONE, plain), "the only slot is taken");
    CompletableFuture<Map<String, Tensor>> queued =
        batcher.submitOrRun(request(2), Priority.NORMAL, NONE, null);
    assertFalse(queued.isDone(), "a worker must not take a batch while the caller holds the slot");
    assertEquals(1, batcher.stats().queued());
    release.countDown();
    t.join();
    assertEquals(1f, id(first.get()));
    assertEquals(2f, id(queued.get(10, TimeUnit.SECONDS)));
  }

  @Test
  void runOnCaller_plainFails_throwsNosExceptionNamingTheModel_andCountsIt() {
    batcher = builder(echo).start();
    NosException e = assertThrows(NosException.class, () -> batcher.runOnCaller(request(1), NONE,
        in -> {
          throw new IllegalStateException("broken kernel");
        }));
    assertTrue(e.getMessage().contains("model 'echo' failed"), e.getMessage());
    assertTrue(e.getCause() instanceof IllegalStateException);
    NosException own = new NosException("its own");
    assertSame(own, assertThrows(NosException.class,
        () -> batcher.runOnCaller(request(1), NONE, in -> {
          throw own;
        })));
    assertEquals(2, batcher.stats().failed());
    // The slot was given back: the next call runs on its caller.
    assertEquals(3f, id(batcher.runOnCaller(request(3), NONE, plain)));
  }

  /** Close waits for a plain run, and one still running when it gives up fails with its message. */
  @Test
  void close_givesUpOnAPlainRun_itFailsWithClosesMessage() throws Exception {
    batcher = builder(echo).start();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        batcher.runOnCaller(request(1), NONE, gatedPlain);
      } catch (Throwable e) {
        failure.set(e);
      }
    });
    t.start();
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    batcher.close(Duration.ofMillis(20));
    release.countDown();
    t.join();
    assertTrue(failure.get() instanceof NosException, String.valueOf(failure.get()));
    assertTrue(failure.get().getMessage().contains("closed before the request finished"),
        failure.get().getMessage());
    assertEquals(1, batcher.stats().failed());
  }

  /** Close that finds a plain run waits for it and lets it return its outputs. */
  @Test
  void close_waitsForAPlainRun() throws Exception {
    batcher = builder(echo).start();
    AtomicReference<Map<String, Tensor>> out = new AtomicReference<>();
    Thread t = new Thread(() -> out.set(batcher.runOnCaller(request(4), NONE, gatedPlain)));
    t.start();
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    Thread closer = Batchers.closeInBackground(batcher, Duration.ofSeconds(30));
    assertTrue(closer.isAlive(), "close must wait for the run on the caller");
    release.countDown();
    closer.join();
    t.join();
    assertEquals(4f, id(out.get()));
  }

  /**
   * Plain runs are measured: after the first epoch (one call), the choice probes the other mode.
   */
  @Test
  void runOnCaller_isMeasuredForTheQueueChoice() {
    batcher = builder(echo).epochCalls(1).start();
    assertEquals(QueueChoice.Mode.BATCH, batcher.queueChoice().mode());
    batcher.runOnCaller(request(0), NONE, plain);
    assertEquals(QueueChoice.Mode.CALLER, batcher.queueChoice().mode(),
        "the plain run filled the kept mode's first epoch, so the other mode is probed");
  }

  /**
   * Many synchronous callers on the plain path (queueing through submitOrRun when it declines)
   * and asynchronous ones, with the choice flipping every few calls: every call gets its own
   * outputs once, and close returns with nothing running.
   */
  @Test
  void plainPathAndQueue_manyCallers_everyCallAnsweredOnce() throws Exception {
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), echo)
        .runOnCallerWhenIdle(true).epochCalls(3).workers(2).start();
    int threads = 8;
    int calls = 400;
    ManyCallers.Counts counts = ManyCallers.run(threads, calls, (async, want) -> {
      Map<String, Tensor> out = async ? null : batcher.runOnCaller(request(want), NONE, plain);
      if (out == null) {
        out = batcher.submitOrRun(request(want), Priority.NORMAL, NONE, null)
            .get(10, TimeUnit.SECONDS);
      }
      return id(out);
    });
    assertEquals(0, counts.wrong());
    assertEquals(threads * calls, counts.answered());
    batcher.close();
    assertEquals(threads * calls, batcher.stats().completed());
    assertTrue(plainCalls.get() > 0, "some calls took the plain path");
  }
}
