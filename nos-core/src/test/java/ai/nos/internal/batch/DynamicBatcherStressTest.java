package ai.nos.internal.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.DeadlineExceededException;
import ai.nos.ModelSpec;
import ai.nos.Priority;
import ai.nos.QueueFullException;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many threads against real workers, one or several: random sizes, priorities, lengths, deadlines
 * and cancellations. Every future completes exactly once, every output is its own request's input,
 * and the counters add up.
 */
@Timeout(60)
final class DynamicBatcherStressTest {
  private static final int THREADS = 16;
  private static final int PER_THREAD = 400;
  /** Requests a thread keeps outstanding: 16 x 8 in all, more than the queue holds. */
  private static final int WINDOW = 8;
  private static final long SEED = 0xBA7C4L;

  /** One submitted request and what became of it. */
  private static final class Call {
    final Map<String, Tensor> inputs;
    final CompletableFuture<Map<String, Tensor>> future;
    final AtomicInteger completions = new AtomicInteger();

    Call(Map<String, Tensor> inputs, CompletableFuture<Map<String, Tensor>> future) {
      this.inputs = inputs;
      this.future = future;
      future.whenComplete((v, e) -> completions.incrementAndGet());
    }
  }

  @ParameterizedTest(name = "workers={0}")
  @ValueSource(ints = {1, 4})
  void submit_manyThreads_everyFutureOnceWithItsOwnOutput(int workers) throws Exception {
    ModelSpec spec = ModelSpec.builder().id("stress").artifact("stress.pt")
        .signature(Signature.builder().input("x", DType.INT32, -1, -1)
            .output("y", DType.INT32, -1, -1).build())
        .batching(Batching.builder().maxBatchSize(16).maxQueueDelay(Duration.ofMillis(1))
            .preferredBatchSizes(8, 16).maxQueueSize(48)
            .padding(ai.nos.Padding.of("x", 1, -1))
            .unpad(ai.nos.Padding.unpad("y", 1, "x", 1)).build())
        .build();
    BatchRunner echo = batch -> {
      LockSupport.parkNanos(200_000);
      return Map.of("y", batch.concat("x"));
    };
    DynamicBatcher batcher = DynamicBatcher.builder(spec, echo).workers(workers).start();
    List<List<Call>> calls = new ArrayList<>();
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      List<Call> mine = new ArrayList<>();
      calls.add(mine);
      SplittableRandom random = new SplittableRandom(SEED + t);
      int thread = t;
      threads.add(new Thread(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
        for (int i = 0; i < PER_THREAD; i++) {
          if (i >= WINDOW) {
            mine.get(i - WINDOW).future.handle((v, e) -> null).join();
          }
          mine.add(submitOne(batcher, random, thread * PER_THREAD + i));
        }
      }, "stress-" + t));
    }
    threads.forEach(Thread::start);
    go.countDown();
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      for (Thread t : threads) {
        t.join();
      }
      batcher.close(Duration.ofSeconds(20));
    });

    int completed = 0;
    int rejected = 0;
    int expired = 0;
    int cancelled = 0;
    for (List<Call> mine : calls) {
      for (Call c : mine) {
        assertTrue(c.future.isDone(), "every future is done once close returns");
        assertEquals(1, c.completions.get());
        try {
          Map<String, Tensor> out = c.future.join();
          assertEquals(c.inputs.get("x"), out.get("y"), "each request gets its own rows back");
          completed++;
        } catch (CancellationException e) {
          cancelled++;
        } catch (CompletionException e) {
          if (e.getCause() instanceof QueueFullException) {
            rejected++;
          } else if (e.getCause() instanceof DeadlineExceededException) {
            expired++;
          } else {
            fail("unexpected failure", e);
          }
        }
      }
    }
    BatcherStats s = batcher.stats();
    assertEquals(THREADS * PER_THREAD, s.submitted());
    assertEquals(completed, s.completed(), s.toString());
    assertEquals(rejected, s.rejected(), s.toString());
    assertEquals(expired, s.expired(), s.toString());
    assertEquals(cancelled, s.cancelled(), s.toString());
    assertEquals(0, s.failed(), s.toString());
    assertEquals(0, s.queued());
    // 128 outstanding against a queue of 48: on 2 cores about half are rejected, so ask a quarter.
    assertTrue(completed > THREADS * PER_THREAD / 4, s.toString());
    assertTrue(rejected > 0 && expired > 0 && cancelled > 0, "every outcome met: " + s);
    assertTrue(s.meanBatchSize() > 1, "batches formed: " + s);
    long histogramTotal = 0;
    for (long n : s.batchSizeHistogram()) {
      histogramTotal += n;
    }
    assertEquals(s.batches(), histogramTotal);
  }

  /** A request of 1-4 rows of one random length, each value unique to it, sometimes cancelled. */
  private static Call submitOne(DynamicBatcher batcher, SplittableRandom random, int id) {
    int rows = 1 + random.nextInt(4);
    int length = 1 + random.nextInt(6);
    int[] values = new int[rows * length];
    for (int i = 0; i < values.length; i++) {
      values[i] = id * 100 + i;
    }
    Map<String, Tensor> inputs = Map.of("x", Tensor.of(values, rows, length));
    Priority priority = Priority.values()[random.nextInt(3)];
    long deadline = random.nextInt(20) == 0
        ? batcher.deadlineAfter(Duration.ofNanos(random.nextInt(2_000_000))) : Long.MAX_VALUE;
    Call call = new Call(inputs, batcher.submit(inputs, priority, deadline));
    if (random.nextInt(10) == 0) {
      call.future.cancel(random.nextBoolean());
    }
    return call;
  }

  @Test
  void close_racingSubmitters_noFutureLeftHanging() throws Exception {
    for (int round = 0; round < 20; round++) {
      DynamicBatcher batcher = DynamicBatcher.builder(Batchers.echoSpec(Batching.builder()
          .maxBatchSize(4).maxQueueDelay(Duration.ofMillis(1)).build()), batch -> {
            LockSupport.parkNanos(50_000);
            return Map.of("y", batch.concat("x"));
          }).start();
      List<CompletableFuture<Map<String, Tensor>>> futures = new ArrayList<>();
      Thread submitter = new Thread(() -> {
        for (int i = 0; ; i++) {
          try {
            CompletableFuture<Map<String, Tensor>> f =
                batcher.submit(Batchers.request(i), Priority.NORMAL, Long.MAX_VALUE);
            synchronized (futures) {
              futures.add(f);
            }
          } catch (IllegalStateException closed) {
            return;
          }
        }
      });
      submitter.start();
      TimeUnit.MILLISECONDS.sleep(5);
      batcher.close(Duration.ofSeconds(10));
      submitter.join(10_000);
      synchronized (futures) {
        for (CompletableFuture<Map<String, Tensor>> f : futures) {
          assertTrue(f.isDone());
        }
      }
      Batchers.assertAccounted(batcher);
    }
  }
}
