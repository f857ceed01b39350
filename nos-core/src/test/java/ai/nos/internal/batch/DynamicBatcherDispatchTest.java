package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.assertAccounted;
import static ai.nos.internal.batch.Batchers.batching;
import static ai.nos.internal.batch.Batchers.echoSpec;
import static ai.nos.internal.batch.Batchers.id;
import static ai.nos.internal.batch.Batchers.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.ModelSpec;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** When batches are sent and which requests they hold, on a fake clock. */
@Timeout(60)
final class DynamicBatcherDispatchTest {
  private static final long NONE = Long.MAX_VALUE;
  private static final Duration DELAY = Duration.ofMillis(10);

  private final Batchers.FakeClock clock = new Batchers.FakeClock();
  private final Batchers.EchoRunner runner = new Batchers.EchoRunner();
  private DynamicBatcher batcher;

  private DynamicBatcher batcher(Batching batching) {
    batcher = DynamicBatcher.builder(echoSpec(batching), runner).clock(clock).manual();
    return batcher;
  }

  private CompletableFuture<Map<String, Tensor>> submit(float id) {
    return batcher.submit(request(id), Priority.NORMAL, NONE);
  }

  @AfterEach
  void accounted() {
    assertAccounted(batcher);
  }

  @Test
  void dispatch_sizeReached_sendsFullBatchBeforeDelay() {
    batcher(batching(4, Duration.ofHours(1)).build());
    List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      futures.add(submit(i));
    }
    assertEquals(0, batcher.dispatchReady());
    assertEquals(List.of(), runner.batches);
    futures.add(submit(3));
    assertEquals(Long.MIN_VALUE, batcher.nextDispatch());
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(List.of(0f, 1f, 2f, 3f)), runner.batches);
    for (int i = 0; i < 4; i++) {
      assertEquals(i, id(futures.get(i).join()));
      assertEquals(List.of(1L, 2L), List.of(futures.get(i).join().get("y").shape()[0],
          futures.get(i).join().get("y").shape()[1]));
    }
    assertEquals(1, batcher.stats().batches());
    assertEquals(4, batcher.stats().completed());
  }

  @Test
  void dispatch_delayTimedFromArrivalOfOldest() {
    batcher(batching(8, DELAY).build());
    long t0 = clock.now();
    CompletableFuture<Map<String, Tensor>> a = submit(1);
    clock.advance(Duration.ofMillis(6));
    CompletableFuture<Map<String, Tensor>> b = submit(2);
    clock.advance(Duration.ofMillis(3));
    assertEquals(0, batcher.dispatchReady(), "polled at 9 ms: nothing is due");
    assertEquals(t0 + DELAY.toNanos(), batcher.nextDispatch());
    clock.advance(Duration.ofMillis(1));
    assertEquals(1, batcher.dispatchReady(), "due 10 ms after the first arrival, not the poll");
    assertEquals(List.of(List.of(1f, 2f)), runner.batches);
    assertTrue(a.isDone() && b.isDone());
  }

  @Test
  void dispatch_delayOfSecondGroupCountsFromItsOwnOldest() {
    batcher(batching(8, DELAY).build());
    batcher.submit(request(1, 1, 2), Priority.NORMAL, NONE);
    clock.advance(Duration.ofMillis(4));
    batcher.submit(request(2, 1, 3), Priority.NORMAL, NONE);
    clock.advance(Duration.ofMillis(6));
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(List.of(1f)), runner.batches);
    assertEquals(clock.now() + Duration.ofMillis(4).toNanos(), batcher.nextDispatch());
    clock.advance(Duration.ofMillis(4));
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(List.of(1f), List.of(2f)), runner.batches);
  }

  @Test
  void dispatch_zeroDelay_sendsAtOnceWithWhatIsQueued() {
    batcher(batching(8, Duration.ZERO).build());
    CompletableFuture<Map<String, Tensor>> lone = submit(1);
    assertEquals(1, batcher.dispatchReady());
    assertEquals(1, id(lone.join()));
    for (int i = 2; i <= 4; i++) {
      submit(i);
    }
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(List.of(1f), List.of(2f, 3f, 4f)), runner.batches);
    assertEquals(NONE, batcher.nextDispatch());
  }

  @Test
  void dispatch_preferredSizes_sendAtLargestAndCutToLargestReached() {
    batcher(batching(8, DELAY).preferredBatchSizes(2, 4).build());
    for (int i = 0; i < 3; i++) {
      submit(i);
    }
    assertEquals(0, batcher.dispatchReady(), "3 rows: below the largest preferred size");
    submit(3);
    assertEquals(1, batcher.dispatchReady(), "4 rows: the largest preferred size, sent at once");
    for (int i = 10; i < 13; i++) {
      submit(i);
    }
    clock.advance(DELAY);
    assertEquals(2, batcher.dispatchReady());
    assertEquals(List.of(List.of(0f, 1f, 2f, 3f), List.of(10f, 11f), List.of(12f)),
        runner.batches, "3 rows after the delay: cut to 2, then the 1 left");
  }

  @Test
  void dispatch_preferredSizes_neverLargerThanTheLargest() {
    batcher(batching(8, DELAY).preferredBatchSizes(4).build());
    for (int i = 0; i < 6; i++) {
      submit(i);
    }
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(4), runner.sizes);
    assertEquals(2, batcher.stats().queued(), "the 2 left wait for their delay");
    clock.advance(DELAY);
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(4, 2), runner.sizes);
  }

  @Test
  void dispatch_neverExceedsMaxBatchSizeNorSplitsARequest() {
    batcher(batching(4, Duration.ZERO).build());
    batcher.submit(request(1, 2, 2), Priority.NORMAL, NONE);
    batcher.submit(request(2, 3, 2), Priority.NORMAL, NONE);
    batcher.submit(request(3, 1, 2), Priority.NORMAL, NONE);
    assertEquals(2, batcher.dispatchReady());
    assertEquals(List.of(List.of(1f), List.of(2f, 3f)), runner.batches,
        "the 1-row request does not overtake the 3-row one that did not fit");
    assertEquals(List.of(2, 4), runner.sizes);
  }

  @Test
  void dispatch_priorityThenArrival() {
    batcher(batching(3, Duration.ZERO).build());
    batcher.submit(request(1), Priority.LOW, NONE);
    batcher.submit(request(2), Priority.NORMAL, NONE);
    batcher.submit(request(3), Priority.HIGH, NONE);
    batcher.submit(request(4), Priority.LOW, NONE);
    batcher.submit(request(5), Priority.HIGH, NONE);
    batcher.submit(request(6), Priority.NORMAL, NONE);
    assertEquals(2, batcher.dispatchReady());
    assertEquals(List.of(List.of(3f, 5f, 2f), List.of(6f, 1f, 4f)), runner.batches);
  }

  /**
   * Priorities are not strict forever: under a steady flood of HIGH requests that keeps the
   * queue full, a LOW request still joins a batch within eight batches, while the batches before
   * it stay HIGH only.
   */
  @Test
  void dispatch_highFlood_lowServedWithinEightBatches() {
    batcher(batching(2, Duration.ofHours(1)).build());
    CompletableFuture<Map<String, Tensor>> low = batcher.submit(request(-1), Priority.LOW, NONE);
    List<CompletableFuture<Map<String, Tensor>>> high = new ArrayList<>();
    int batches = 0;
    for (int round = 0; round < 1000 && !low.isDone(); round++) {
      high.add(batcher.submit(request(round), Priority.HIGH, NONE));
      high.add(batcher.submit(request(round), Priority.HIGH, NONE));
      batches += batcher.dispatchReady();
    }
    assertTrue(low.isDone(), "LOW still waits after " + batches + " batches of HIGH");
    assertEquals(-1, id(low.join()));
    assertTrue(batches <= 8, "LOW waited " + batches + " batches");
    for (List<Float> batch : runner.batches.subList(0, batches - 1)) {
      assertFalse(batch.contains(-1f), "a HIGH-only batch before LOW's turn: " + runner.batches);
    }
    assertEquals(-1f, runner.batches.get(batches - 1).get(0), "LOW leads its batch");
  }

  @Test
  void dispatch_dueGroupWithHighestFirstRequestGoesFirst() {
    batcher(batching(8, Duration.ZERO).build());
    batcher.submit(request(1, 1, 2), Priority.LOW, NONE);
    batcher.submit(request(2, 1, 3), Priority.HIGH, NONE);
    assertEquals(2, batcher.dispatchReady());
    assertEquals(List.of(List.of(2f), List.of(1f)), runner.batches);
  }

  @Test
  void dispatch_incompatibleShapesGoInSeparateBatches() {
    batcher(batching(8, Duration.ZERO).build());
    CompletableFuture<Map<String, Tensor>> a = batcher.submit(request(1, 1, 2), Priority.NORMAL,
        NONE);
    CompletableFuture<Map<String, Tensor>> b = batcher.submit(request(2, 2, 3), Priority.NORMAL,
        NONE);
    CompletableFuture<Map<String, Tensor>> c = batcher.submit(request(3, 1, 2), Priority.NORMAL,
        NONE);
    assertEquals(2, batcher.dispatchReady());
    assertEquals(List.of(List.of(1f, 3f), List.of(2f)), runner.batches);
    assertEquals(request(2, 2, 3).get("x"), b.join().get("y"));
    assertEquals(request(1, 1, 2).get("x"), a.join().get("y"));
    assertEquals(request(3, 1, 2).get("x"), c.join().get("y"));
  }

  @Test
  void submit_moreRowsThanMaxBatchSize_rejected() {
    batcher(batching(4, Duration.ZERO).build());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> batcher.submit(request(1, 5, 2), Priority.NORMAL, NONE));
    assertEquals("request to model 'echo' has 5 rows but must have 1 to batching.maxBatchSize "
        + "(4)", e.getMessage());
    assertEquals(0, batcher.stats().submitted());
  }

  @Test
  void submit_missingInput_rejected() {
    batcher(batching(4, Duration.ZERO).build());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> batcher.submit(Map.of("z", Tensor.of(new float[] {1})), Priority.NORMAL, NONE));
    assertEquals("request to model 'echo' needs input 'x' with a batch dimension but it was null",
        e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> batcher.submit(request(1), null, NONE));
    assertFalse(batcher.isClosed());
  }

  @Test
  void builder_specWithoutBatching_rejected() {
    batcher(batching(4, Duration.ZERO).build());
    ModelSpec unbatched = ModelSpec.builder().id("plain").artifact("plain.pt")
        .signature(echoSpec(Batching.ofMaxBatchSize(1)).signature()).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DynamicBatcher.builder(unbatched, runner));
    assertEquals("model 'plain' has no batching settings", e.getMessage());
  }

  @Test
  void deadlineAfter_saturates() {
    batcher(batching(4, Duration.ZERO).build());
    assertEquals(clock.now() + 5_000_000, batcher.deadlineAfter(Duration.ofMillis(5)));
    assertEquals(NONE, batcher.deadlineAfter(Duration.ofDays(365 * 1000)));
    assertThrows(IllegalArgumentException.class,
        () -> batcher.deadlineAfter(Duration.ofMillis(-1)));
  }
}
