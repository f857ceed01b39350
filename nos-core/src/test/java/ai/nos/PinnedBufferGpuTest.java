package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.internal.torch.PinnedMemory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link PinnedBuffer} on a GPU: the input goes to the device straight from the pinned bytes
 * (counted by {@link PinnedMemory#directCopies()}), the answers are those of ordinary tensors,
 * closing or dropping a buffer unpins it, and many calls keep memory flat. GPU machine only
 * (scripts/gpu/gpu-tests.sh).
 */
@Tag("gpu")
final class PinnedBufferGpuTest {
  private static final int ROWS = 4096; // 1 MiB of float32 pixels, the digit model's [n,1,8,8]

  private static Tensor digits(int n, int offset) {
    return Fixtures.digitBatch(Fixtures.heldOutDigits(), offset, n);
  }

  private static PinnedBuffer pinnedCopy(Tensor t) {
    PinnedBuffer b = PinnedBuffer.allocate(t.dtype(), t.shape());
    b.buffer().put(t.buffer());
    return b;
  }

  @Test
  void pinnedInput_goesStraightToTheDevice_withTheAnswersOfAnOrdinaryTensor() {
    Tensor input = digits(ROWS, 0);
    for (Precision precision : new Precision[] {Precision.FP32, Precision.FP16}) {
      try (Model m = Nos.load(Fixtures.digitsOn("cuda").toBuilder()
              .id("digits-pinned-" + precision.label()).precision(precision).build());
          PinnedBuffer b = pinnedCopy(input)) {
        assertTrue(b.isPinned(), b.toString());
        float[] ordinary = m.infer(input).get("logits").toFloatArray();
        long before = PinnedMemory.directCopies();
        float[] pinned = m.infer(b.tensor()).get("logits").toFloatArray();
        assertEquals(before + 1, PinnedMemory.directCopies(), "one direct copy");
        double err = Fixtures.relativeError(pinned, ordinary);
        System.out.printf("PinnedBufferGpuTest: %s pinned vs ordinary relative error %.3g%n",
            precision.label(), err);
        assertTrue(err <= 1e-6, precision.label() + " relative error " + err);
        // A smaller batch from the same buffer.
        float[] few = m.infer(b.tensor(7, 1, 8, 8)).get("logits").toFloatArray();
        float[] fewOrdinary = m.infer(digits(7, 0)).get("logits").toFloatArray();
        assertTrue(Fixtures.relativeError(few, fewOrdinary) <= 1e-6, "7 rows");
        Tensor taken = b.tensor();
        b.close();
        before = PinnedMemory.directCopies();
        float[] unpinned = m.infer(taken).get("logits").toFloatArray();
        assertTrue(Fixtures.relativeError(unpinned, ordinary) <= 1e-6, "after close");
        assertEquals(before, PinnedMemory.directCopies(), "closed: ordinary memory, staged");
      }
    }
  }

  /**
   * Through a dynamic batcher: a batch of one request goes straight from the caller's pinned
   * bytes; a batch of several is assembled (copied) as before, with the same answers.
   */
  @Test
  void batchedModel_oneRequestBatchesGoStraight_severalAreAssembled() throws Exception {
    Tensor input = digits(ROWS, 5);
    ModelSpec spec = Fixtures.digitsOn("cuda").toBuilder().id("digits-pbatch")
        .batching(Batching.builder().maxBatchSize(ROWS)
            .maxQueueDelay(java.time.Duration.ofMillis(20)).build()).build();
    try (Model m = Nos.load(spec); PinnedBuffer b = pinnedCopy(input)) {
      float[] ordinary = m.infer(input).get("logits").toFloatArray();
      long before = PinnedMemory.directCopies();
      float[] pinned = m.infer(b.tensor()).get("logits").toFloatArray();
      assertEquals(before + 1, PinnedMemory.directCopies(), "a batch of one request");
      assertTrue(Fixtures.relativeError(pinned, ordinary) <= 1e-6, "batched, pinned");
      // Two halves at once, within the delay: usually one batch of two requests, assembled.
      var first = m.inferAsync(java.util.Map.of("image", b.tensor(ROWS / 2, 1, 8, 8)));
      var second = m.inferAsync(java.util.Map.of("image", digits(ROWS / 2, 5)));
      float[] a = first.get().get("logits").toFloatArray();
      float[] c = second.get().get("logits").toFloatArray();
      float[] both = new float[a.length + c.length];
      System.arraycopy(a, 0, both, 0, a.length);
      System.arraycopy(c, 0, both, a.length, c.length);
      float[] halves = new float[both.length];
      System.arraycopy(ordinary, 0, halves, 0, a.length);
      System.arraycopy(ordinary, 0, halves, a.length, c.length);
      assertTrue(Fixtures.relativeError(both, halves) <= 1e-6, "two requests");
    }
  }

  @Test
  void closedOrCollectedBuffers_areUnpinned() throws InterruptedException {
    int base = PinnedMemory.pinnedRanges();
    PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, 1 << 20);
    assertEquals(base + 1, PinnedMemory.pinnedRanges());
    b.close();
    assertEquals(base, PinnedMemory.pinnedRanges());
    for (int i = 0; i < 3; i++) {
      PinnedBuffer.allocate(DType.FLOAT32, 1 << 20).buffer().putFloat(0, 1f);
    }
    assertEquals(base + 3, PinnedMemory.pinnedRanges());
    long end = System.nanoTime() + 20_000_000_000L;
    while (PinnedMemory.pinnedRanges() > base && System.nanoTime() < end) {
      System.gc();
      Thread.sleep(50);
    }
    assertEquals(base, PinnedMemory.pinnedRanges(), "the Cleaner unpins collected buffers");
  }

  @Test
  void manyCallsAndBuffers_keepPinnedRangesAndNativeMemoryFlat() {
    Tensor input = digits(ROWS, 3);
    int base = PinnedMemory.pinnedRanges();
    try (Model m = Nos.load(Fixtures.digitsOn("cuda").toBuilder().id("digits-pflat").build())) {
      float[] expected = m.infer(input).get("logits").toFloatArray();
      for (int i = 0; i < 200; i++) {
        try (PinnedBuffer b = pinnedCopy(input)) {
          m.infer(b.tensor());
        }
      }
      assertEquals(base, PinnedMemory.pinnedRanges(), "200 buffers closed");
      try (PinnedBuffer b = pinnedCopy(input)) {
        run(m, b, 1000);
        long[] start = {Pointer.totalBytes(), Pointer.totalCount()};
        run(m, b, 5000);
        long[] end = {Pointer.totalBytes(), Pointer.totalCount()};
        String report = String.format("JavaCPP bytes %d -> %d, live pointers %d -> %d", start[0],
            end[0], start[1], end[1]);
        System.out.println("PinnedBufferGpuTest: 5000 pinned calls: " + report);
        assertTrue(end[0] <= start[0] && end[1] <= start[1], report);
        assertTrue(Fixtures.relativeError(
            m.infer(b.tensor()).get("logits").toFloatArray(), expected) <= 1e-6, "still right");
      }
    }
  }

  @Test
  void eightThreads_eachWithItsOwnBuffer() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (Model m = Nos.load(Fixtures.digitsOn("cuda").toBuilder().id("digits-p8").build())) {
      long before = PinnedMemory.directCopies();
      List<Future<?>> done = new ArrayList<>();
      for (int w = 0; w < 8; w++) {
        int worker = w;
        done.add(pool.submit(() -> {
          try (PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, 256, 1, 8, 8)) {
            for (int i = 0; i < 100; i++) {
              Tensor rows = digits(256, worker * 101 + i);
              b.buffer().put(rows.buffer());
              float[] got = m.infer(b.tensor()).get("logits").toFloatArray();
              float[] want = m.infer(rows).get("logits").toFloatArray();
              assertTrue(Fixtures.relativeError(got, want) <= 1e-6,
                  "worker " + worker + " call " + i);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
      assertEquals(before + 800, PinnedMemory.directCopies());
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * Closing a buffer while other threads call with its tensor fails no call and changes no
   * answer: the unpin waits for the transfer in progress, and later calls copy ordinary memory.
   */
  @Test
  void closingWhileOtherThreadsCall_failsNoCall() throws Exception {
    Tensor input = digits(ROWS, 9);
    int base = PinnedMemory.pinnedRanges();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (Model m = Nos.load(Fixtures.digitsOn("cuda").toBuilder().id("digits-pclose").build())) {
      float[] want = m.infer(input).get("logits").toFloatArray();
      for (int round = 0; round < 20; round++) {
        PinnedBuffer b = pinnedCopy(input);
        Tensor shared = b.tensor();
        List<Future<?>> calls = new ArrayList<>();
        for (int w = 0; w < 4; w++) {
          calls.add(pool.submit(() -> {
            for (int i = 0; i < 20; i++) {
              float[] got = m.infer(shared).get("logits").toFloatArray();
              assertTrue(Fixtures.relativeError(got, want) <= 1e-6, "call " + i);
            }
            return null;
          }));
        }
        Thread.sleep(round % 5);
        b.close();
        for (Future<?> f : calls) {
          f.get();
        }
      }
      assertEquals(base, PinnedMemory.pinnedRanges(), "every buffer unpinned");
    } finally {
      pool.shutdownNow();
    }
  }

  private static void run(Model m, PinnedBuffer b, int calls) {
    for (int i = 0; i < calls; i++) {
      m.infer(b.tensor());
    }
  }
}
