package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Dynamic batching through Nos.load and the manager, on libtorch (CPU). */
@Timeout(120)
final class BatchingIntegrationTest {

  static ModelSpec batched(String id, int maxBatch, Duration delay) {
    return Fixtures.digitsOn("cpu").toBuilder().id(id).batching(Batching.builder()
        .maxBatchSize(maxBatch).maxQueueDelay(delay).build()).build();
  }

  @Test
  void concurrentSingleImages_shareBatches_sameOutputsAsAlone() throws Exception {
    List<int[]> rows = Fixtures.heldOutDigits();
    float[][] reference = new float[64][];
    try (Model plain = Nos.load(Fixtures.digitsOn("cpu"))) {
      for (int i = 0; i < 64; i++) {
        reference[i] = plain.infer(Fixtures.digitBatch(rows, i, 1)).get("logits").toFloatArray();
      }
    }
    ModelSpec spec = batched("digits-batched", 64, Duration.ofMillis(20));
    try (Model model = Nos.load(spec)) {
      ExecutorService pool = Executors.newFixedThreadPool(32);
      CountDownLatch go = new CountDownLatch(1);
      List<Future<Integer>> done = new ArrayList<>();
      for (int t = 0; t < 32; t++) {
        int first = t;
        done.add(pool.submit(() -> {
          go.await();
          for (int k = 0; k < 10; k++) {
            int i = (first + 32 * k) % 64;
            // Through the queue: a synchronous call on the CPU that finds it empty and a worker
            // free runs on its caller (DynamicBatcher, "Skipping the queue"), so the sharing of
            // runs is checked on the asynchronous path, which always queues.
            float[] got = model.inferAsync(Fixtures.digitBatch(rows, i, 1))
                .get(60, TimeUnit.SECONDS).get("logits").toFloatArray();
            assertArrayEquals(reference[i], got, 1e-4f, "image " + i);
          }
          return 10;
        }));
      }
      go.countDown();
      int calls = 0;
      for (Future<Integer> f : done) {
        calls += f.get(60, TimeUnit.SECONDS);
      }
      pool.shutdown();
      ModelInfo info = ModelManager.getDefault().models().stream()
          .filter(m -> m.id().equals("digits-batched")).findFirst().orElseThrow();
      assertEquals(320, calls);
      assertEquals(320, info.requests());
      assertTrue(info.batches() > 0 && info.batches() <= 320 / 4,
          "calls should share runs: " + info.batches() + " runs for 320 calls");
    }
  }

  @Test
  void infer_loneCallOnTheCpu_runsWithoutWaitingTheQueueDelay() {
    Tensor image = Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 1);
    float[] reference;
    try (Model plain = Nos.load(Fixtures.digitsOn("cpu"))) {
      reference = plain.infer(image).get("logits").toFloatArray();
    }
    // Issue 20: nothing to batch with and a worker free, so the queue cannot help; a call that
    // waited for its batch would wait the ten minutes and time the test out.
    try (Model model = Nos.load(batched("digits-lone", 8, Duration.ofMinutes(10)))) {
      float[] got = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
          Duration.ofSeconds(30), () -> model.infer(image).get("logits").toFloatArray());
      assertArrayEquals(reference, got, 1e-5f);
      ModelInfo info = ModelManager.getDefault().models().stream()
          .filter(m -> m.id().equals("digits-lone")).findFirst().orElseThrow();
      assertEquals(1, info.batches(), "one run, of the lone call");
    }
  }

  @Test
  void inferAsync_andInferAll_completeEveryFuture_withoutBatchingToo() {
    Tensor one = Tensor.of(new float[64], 1, 1, 8, 8);
    for (ModelSpec spec : List.of(batched("digits-async", 8, Duration.ofMillis(5)),
        Fixtures.digitsOn("cpu").toBuilder().id("digits-async-plain").build())) {
      try (Model model = Nos.load(spec)) {
        List<CompletableFuture<Map<String, Tensor>>> fs = model.inferAll(
            java.util.Collections.nCopies(20, Map.of("image", one)));
        for (CompletableFuture<Map<String, Tensor>> f : fs) {
          assertEquals(1, f.join().get("logits").dim(0));
        }
        assertEquals(1, model.inferAsync(one).join().get("logits").dim(0));
      }
    }
  }

  @Test
  void badInputs_failAtOnce_modelErrorsFailTheFuture_deadlinesExpire() {
    ModelSpec raising = Fixtures.raises().toBuilder().id("raises-batched").batching(Batching
        .builder().maxBatchSize(8).maxQueueDelay(Duration.ofMillis(5)).build()).build();
    try (Model model = Nos.load(raising)) {
      assertThrows(IllegalArgumentException.class,
          () -> model.inferAsync(Tensor.of(new float[3], 1, 3)));
      CompletableFuture<Map<String, Tensor>> bad =
          model.inferAsync(Tensor.of(new float[] {-1, 1}, 1, 2));
      CompletableFuture<Map<String, Tensor>> good =
          model.inferAsync(Tensor.of(new float[] {1, 2}, 1, 2));
      var e = assertThrows(CompletionException.class, bad::join);
      assertTrue(e.getCause() instanceof InferenceException, e.getCause().toString());
      assertTrue(e.getCause().getMessage().contains("negative input not allowed"));
      assertArrayEquals(new float[] {3, 6}, good.join().get("y").toFloatArray(),
          "a bad request in the batch fails alone");
      var expired = model.inferAsync(Map.of("x", Tensor.of(new float[] {1, 2}, 1, 2)),
          Priority.NORMAL, Duration.ZERO);
      assertTrue(assertThrows(CompletionException.class, expired::join).getCause()
          instanceof DeadlineExceededException);
    }
  }
}
