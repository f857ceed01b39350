package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** One loaded model called from many threads at once, and closed under traffic. */
final class ConcurrencyTest {
  private static final int THREADS = 8;

  @Test
  void manyThreads_oneModel_sameResultsAsOneThread() throws Exception {
    List<int[]> rows = Fixtures.heldOutDigits();
    try (Model model = Nos.load(Fixtures.digitsOn("cpu"))) {
      int batches = rows.size() / 8;
      float[][] reference = new float[batches][];
      for (int b = 0; b < batches; b++) {
        reference[b] = model.infer(Fixtures.digitBatch(rows, b * 8, 8)).get("logits")
            .toFloatArray();
      }
      ExecutorService pool = Executors.newFixedThreadPool(THREADS);
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Integer>> results = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int offset = t;
        results.add(pool.submit(() -> {
          start.await();
          int calls = 0;
          for (int i = 0; i < 300; i++) {
            int b = (i * 7 + offset) % batches;
            float[] got = model.infer(Fixtures.digitBatch(rows, b * 8, 8)).get("logits")
                .toFloatArray();
            assertArrayEquals(reference[b], got, 1e-5f, "batch " + b);
            calls++;
          }
          return calls;
        }));
      }
      start.countDown();
      int total = 0;
      for (Future<Integer> f : results) {
        total += f.get(120, TimeUnit.SECONDS);
      }
      pool.shutdown();
      assertEquals(THREADS * 300, total);
    }
  }

  @Test
  void closeUnderTraffic_everyCallSucceedsOrIsRefused_noCrash() throws Exception {
    Model model = Nos.load(Fixtures.digitsOn("cpu"));
    Tensor input = Tensor.of(new float[4 * 64], 4, 1, 8, 8);
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    AtomicInteger ok = new AtomicInteger();
    AtomicInteger refused = new AtomicInteger();
    AtomicInteger other = new AtomicInteger();
    CountDownLatch running = new CountDownLatch(THREADS);
    for (int t = 0; t < THREADS; t++) {
      pool.submit(() -> {
        running.countDown();
        for (int i = 0; i < 100_000; i++) {
          try {
            assertEquals(4, model.infer(input).get("logits").dim(0));
            ok.incrementAndGet();
          } catch (IllegalStateException e) {
            refused.incrementAndGet();
            return;
          } catch (Throwable e) {
            other.incrementAndGet();
            return;
          }
        }
      });
    }
    running.await();
    Thread.sleep(200);
    model.close();
    pool.shutdown();
    assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
    assertEquals(0, other.get());
    assertEquals(THREADS, refused.get(), "every thread should end on a refused call");
    assertTrue(ok.get() > 0);
  }
}
