package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.assertAccounted;
import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.id;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DeadlineExceededException;
import ai.nos.InferenceException;
import ai.nos.NosException;
import ai.nos.Priority;
import ai.nos.QueueFullException;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Deadlines, a full queue, cancellation and failing runners, on a fake clock. */
@Timeout(60)
final class DynamicBatcherFailureTest {
  private static final long NONE = Long.MAX_VALUE;
  private static final Duration DELAY = Duration.ofMillis(10);

  private final Batchers.FakeClock clock = new Batchers.FakeClock();
  private final Batchers.EchoRunner echo = new Batchers.EchoRunner();
  private DynamicBatcher batcher;

  private DynamicBatcher batcher(Batching batching, BatchRunner runner) {
    batcher = DynamicBatcher.builder(echoSpec(batching), runner).clock(clock).manual();
    return batcher;
  }

  private CompletableFuture<Map<String, Tensor>> submit(float id) {
    return batcher.submit(request(id), Priority.NORMAL, NONE);
  }

  private static Throwable failure(CompletableFuture<?> f) {
    return assertThrows(CompletionException.class, f::join).getCause();
  }

  @AfterEach
  void accounted() {
    assertAccounted(batcher);
  }

  @Test
  void deadline_passedWhenBatchFormed_droppedWithoutRunning() {
    batcher(batching(8, DELAY).build(), echo);
    CompletableFuture<Map<String, Tensor>> late =
        batcher.submit(request(1), Priority.NORMAL, batcher.deadlineAfter(Duration.ofMillis(5)));
    CompletableFuture<Map<String, Tensor>> patient = submit(2);
    clock.advance(Duration.ofNanos(12_500_000));
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(List.of(2f)), echo.batches, "the expired request never ran");
    DeadlineExceededException e = assertInstanceOf(DeadlineExceededException.class, failure(late));
    assertEquals("model 'echo' request waited 12.500 ms, past its deadline of 5.000 ms; dropped "
        + "before it ran", e.getMessage());
    assertEquals(Duration.ofMillis(5), e.deadline());
    assertEquals("echo", e.modelId());
    assertEquals(2, id(patient.join()));
    assertEquals(1, batcher.stats().expired());
  }

  @Test
  void deadline_notYetPassed_runs() {
    batcher(batching(8, DELAY).build(), echo);
    CompletableFuture<Map<String, Tensor>> f =
        batcher.submit(request(1), Priority.NORMAL, batcher.deadlineAfter(DELAY.plusNanos(1)));
    clock.advance(DELAY);
    assertEquals(1, batcher.dispatchReady());
    assertEquals(1, id(f.join()));
  }

  @Test
  void deadline_alreadyPassedAtSubmit_failsAtOnce() {
    batcher(batching(8, DELAY).build(), echo);
    CompletableFuture<Map<String, Tensor>> f =
        batcher.submit(request(1), Priority.NORMAL, clock.now());
    assertInstanceOf(DeadlineExceededException.class, failure(f));
    assertEquals(0, batcher.stats().queued());
    assertEquals(1, batcher.stats().expired());
  }

  /**
   * A deadline that passed before the request was submitted (a timeout of zero: the deadline is
   * taken a moment before the request's arrival) is reported as zero, never as a negative time.
   */
  @Test
  void deadline_passedBeforeSubmit_isReportedAsZero_notNegative() {
    batcher(batching(8, DELAY).build(), echo);
    long deadline = batcher.deadlineAfter(Duration.ZERO);
    clock.advance(Duration.ofNanos(500_000));
    DeadlineExceededException e = assertInstanceOf(DeadlineExceededException.class,
        failure(batcher.submit(request(1), Priority.NORMAL, deadline)));
    assertEquals("model 'echo' request waited 0.000 ms, past its deadline of 0.000 ms; dropped "
        + "before it ran", e.getMessage());
    assertEquals(Duration.ZERO, e.deadline());
  }

  @Test
  void submit_queueFull_failsAtOnceNamingModelAndSizes() {
    batcher(batching(8, DELAY).maxQueueSize(2).build(), echo);
    submit(1);
    submit(2);
    CompletableFuture<Map<String, Tensor>> third = submit(3);
    assertTrue(third.isCompletedExceptionally(), "failed at once, not when a batch runs");
    QueueFullException e = assertInstanceOf(QueueFullException.class, failure(third));
    assertEquals("model 'echo' queue is full (2 of 2 requests waiting); request rejected",
        e.getMessage());
    assertEquals(2, e.queueSize());
    assertEquals(2, e.maxQueueSize());
    assertEquals(1, batcher.stats().rejected());
    clock.advance(DELAY);
    batcher.dispatchReady();
    assertEquals(List.of(List.of(1f, 2f)), echo.batches);
    CompletableFuture<Map<String, Tensor>> later = submit(4);
    clock.advance(DELAY);
    batcher.dispatchReady();
    assertEquals(4, id(later.join()), "room again once the queue drained");
  }

  @Test
  void cancel_beforeBatchFormed_removesRequest() {
    batcher(batching(8, DELAY).build(), echo);
    CompletableFuture<Map<String, Tensor>> a = submit(1);
    CompletableFuture<Map<String, Tensor>> b = submit(2);
    assertEquals(2, batcher.stats().queued());
    assertTrue(a.cancel(true));
    assertEquals(1, batcher.stats().queued(), "the queue shrinks at once");
    clock.advance(DELAY);
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(List.of(2f)), echo.batches, "the cancelled request never ran");
    assertTrue(a.isCancelled());
    assertEquals(2, id(b.join()));
    assertEquals(1, batcher.stats().cancelled());
    assertEquals(1, batcher.stats().completed());
  }

  @Test
  void cancel_ofOnlyRequest_leavesNothingDue() {
    batcher(batching(8, DELAY).build(), echo);
    submit(1).completeExceptionally(new IllegalStateException("caller gave up"));
    assertEquals(NONE, batcher.nextDispatch());
    clock.advance(DELAY);
    assertEquals(0, batcher.dispatchReady());
    assertEquals(1, batcher.stats().cancelled());
  }

  @Test
  void cancel_whileBatchRuns_outputDropped() {
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    batcher(batching(8, Duration.ZERO).build(), batch -> {
      futures.get(0).cancel(false);
      return echo.run(batch);
    });
    futures.add(submit(1));
    futures.add(submit(2));
    assertEquals(1, batcher.dispatchReady());
    assertTrue(futures.get(0).isCancelled());
    assertEquals(2, id(futures.get(1).join()));
    assertEquals(1, batcher.stats().cancelled());
    assertEquals(1, batcher.stats().completed());
  }

  @Test
  void runnerFails_onlyThePoisonedRequestFails() {
    batcher(batching(8, Duration.ZERO).build(), echo);
    echo.poisoned.add(5f);
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      futures.add(submit(i));
    }
    assertEquals(1, batcher.dispatchReady());
    for (int i = 0; i < 8; i++) {
      if (i == 5) {
        NosException e = assertInstanceOf(NosException.class, failure(futures.get(i)));
        assertEquals("model 'echo' failed: java.lang.IllegalStateException: poisoned request 5.0",
            e.getMessage());
        assertInstanceOf(IllegalStateException.class, e.getCause());
      } else {
        assertEquals(i, id(futures.get(i).join()));
      }
    }
    assertEquals(9, echo.batches.size(), "the batch, then each request alone");
    BatcherStats s = batcher.stats();
    assertEquals(8, s.retries());
    assertEquals(7, s.completed());
    assertEquals(1, s.failed());
  }

  @Test
  void runnerThrowsNosException_passedOnAsItIs() {
    InferenceException thrown = new InferenceException("echo", "boom", "model 'echo' boom", null);
    batcher(batching(8, Duration.ZERO).build(), batch -> {
      throw thrown;
    });
    CompletableFuture<Map<String, Tensor>> a = submit(1);
    CompletableFuture<Map<String, Tensor>> b = submit(2);
    batcher.dispatchReady();
    assertSame(thrown, failure(a));
    assertSame(thrown, failure(b));
    assertEquals(2, batcher.stats().failed());
  }

  @Test
  void runnerThrowsError_failsTheBatchWithoutRetrying() {
    batcher(batching(8, Duration.ZERO).build(), batch -> {
      throw new StackOverflowError("deep");
    });
    CompletableFuture<Map<String, Tensor>> a = submit(1);
    CompletableFuture<Map<String, Tensor>> b = submit(2);
    batcher.dispatchReady();
    assertEquals("model 'echo' failed on a batch of 2 requests: java.lang.StackOverflowError: deep",
        failure(a).getMessage());
    assertInstanceOf(StackOverflowError.class, failure(b).getCause());
    assertEquals(0, batcher.stats().retries());
  }

  /**
   * An Error after the runner returned (an OutOfMemoryError while splitting its outputs, say)
   * fails that batch's requests only: the worker lives on and serves the next request.
   */
  @Test
  void errorWhileSplitting_failsTheBatch_workerLivesOn() {
    OutOfMemoryError oom = new OutOfMemoryError("splitting (simulated)");
    java.util.concurrent.atomic.AtomicBoolean first =
        new java.util.concurrent.atomic.AtomicBoolean(true);
    batcher = DynamicBatcher.builder(echoSpec(batching(8, Duration.ZERO).build()), batch -> {
      Map<String, Tensor> out = echo.run(batch);
      if (!first.getAndSet(false)) {
        return out;
      }
      return new java.util.AbstractMap<String, Tensor>() {
        @Override
        public java.util.Set<Map.Entry<String, Tensor>> entrySet() {
          throw oom;
        }
      };
    }).start();
    NosException e = assertInstanceOf(NosException.class, failure(submit(1)));
    assertSame(oom, e.getCause());
    assertTrue(e.getMessage().startsWith("model 'echo' failed"), e.getMessage());
    assertEquals(2, id(submit(2).join()));
    assertFalse(batcher.isClosed());
    assertEquals(1, batcher.stats().failed());
    batcher.close();
  }

  @Test
  void runnerReturnsWrongRows_everyRequestFails() {
    batcher(batching(8, Duration.ZERO).build(),
        batch -> Map.of("y", Tensor.zeros(ai.nos.DType.FLOAT32, batch.size() + 1, 2)));
    CompletableFuture<Map<String, Tensor>> a = submit(1);
    CompletableFuture<Map<String, Tensor>> b = batcher.submit(request(2, 2, 2), Priority.NORMAL,
        NONE);
    assertEquals(1, batcher.dispatchReady());
    String expected = "model 'echo' returned output 'y' with shape [4, 2] for a batch of 3 rows "
        + "(2 requests); dim 0 must be the batch size to split it per request";
    assertEquals(expected, assertInstanceOf(NosException.class, failure(a)).getMessage());
    assertEquals(expected, failure(b).getMessage());
    assertEquals(0, batcher.stats().retries(), "a wrong shape is not retried");
  }

  @Test
  void runnerReturnsScalarOrNothing_everyRequestFails() {
    batcher(batching(8, Duration.ZERO).build(),
        batch -> Map.of("y", Tensor.zeros(ai.nos.DType.FLOAT32)));
    CompletableFuture<Map<String, Tensor>> a = submit(1);
    batcher.dispatchReady();
    assertTrue(failure(a).getMessage().contains("with shape [] for a batch of 1 rows"));
    batcher(batching(8, Duration.ZERO).build(), batch -> Map.of());
    CompletableFuture<Map<String, Tensor>> b = submit(1);
    batcher.dispatchReady();
    assertEquals("model 'echo' returned no outputs for a batch of 1 rows", failure(b).getMessage());
  }

  @Test
  void futureDependents_mayCallBack_noDeadlock() {
    batcher(batching(8, Duration.ZERO).build(), echo);
    List<CompletableFuture<Map<String, Tensor>>> chained = new ArrayList<>();
    submit(1).thenRun(() -> chained.add(submit(2)));
    assertEquals(2, batcher.dispatchReady());
    assertEquals(2, id(chained.get(0).join()));
    assertFalse(batcher.isClosed());
  }
}
