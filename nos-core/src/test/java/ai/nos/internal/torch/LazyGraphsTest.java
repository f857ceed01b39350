package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.Fixtures;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * CUDA graphs of a copy swapped back from the host tier, on the CPU with
 * {@link GraphBucketsTest.CpuRecorder}: recorded lazily, only the buckets calls fit, each once,
 * with the eager outputs, while replays of the other buckets go on; and the TorchScript
 * executor's plan, which lets a capture after a restore warm up once
 * ({@link CudaGraphs#RESTORE_WARMUP_RUNS}), survives the weights' moves.
 */
@Timeout(120)
final class LazyGraphsTest {
  private static final List<int[]> DIGITS = Fixtures.heldOutDigits();

  /** Hands out a fresh recorder per load or restore, configured as the test says. */
  private static final class Factory implements ModelGraphs.RecorderFactory {
    final List<GraphBucketsTest.CpuRecorder> made = Collections.synchronizedList(new ArrayList<>());
    volatile boolean corrupt;
    volatile boolean failToRecord;
    /** The bucket sizes each recording was tried for, in order, over all recorders. */
    final List<Integer> sizes = Collections.synchronizedList(new ArrayList<>());

    @Override
    @SuppressWarnings("unchecked")
    public <R extends GraphBuckets.Recorder & AutoCloseable> R create(Device device,
        Function<List<org.bytedeco.pytorch.Tensor>, List<org.bytedeco.pytorch.Tensor>> forward) {
      var r = new GraphBucketsTest.CpuRecorder(forward);
      r.corrupt = corrupt;
      r.failToRecord = failToRecord;
      r.duringRecord = sizes::add;
      made.add(r);
      return (R) r;
    }

    GraphBucketsTest.CpuRecorder last() {
      return made.get(made.size() - 1);
    }
  }

  private static ModelSpec digits(int maxBatch) {
    return Fixtures.digitsOn("cpu").toBuilder().optimize(Optimization.CUDA_GRAPHS)
        .batching(Batching.ofMaxBatchSize(maxBatch)).build();
  }

  private static float[] logits(TorchModel m, int start, int n) {
    return m.infer(Map.of("image", Fixtures.digitBatch(DIGITS, start, n))).get("logits")
        .toFloatArray();
  }

  /** Equal within float rounding: a padded batch may take other kernels than an exact one. */
  private static void assertClose(float[] want, float[] got, String what) {
    assertEquals(want.length, got.length, what + ": length");
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], got[i], 1e-5 * Math.max(1, Math.abs(want[i])), what + " at " + i);
    }
  }

  /** A graphed copy of digits(8) (buckets 1, 2, 4, 8), parked and restored on the CPU. */
  private static TorchModel swappedBack(Factory factory) {
    TorchModel loaded = TorchModel.load(digits(8), LoadPasses::forSpec, factory);
    ParkedModel parked = loaded.park();
    assertNotNull(parked);
    return parked.restore(Device.cpu());
  }

  @Test
  void restore_recordsOnlyTheBucketsCalled_eachOnce_withTheEagerOutputs() {
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    Factory factory = new Factory();
    TorchModel loaded = TorchModel.load(digits(8), LoadPasses::forSpec, factory);
    GraphBucketsTest.CpuRecorder atLoad = factory.last();
    assertEquals(List.of(8, 4, 2, 1), factory.sizes, "the load records every bucket");
    float[] loadedOne = logits(loaded, 10, 1);
    ParkedModel parked = loaded.park();
    assertTrue(atLoad.closed, "parking frees the load's graphs");
    assertEquals(4, atLoad.programsClosed.get());
    factory.sizes.clear();
    TorchModel back = parked.restore(Device.cpu());
    try {
      assertEquals(List.of("cuda_graphs"), back.optimizations());
      assertEquals(2, factory.made.size(), "the restored copy has a recorder of its own");
      GraphBucketsTest.CpuRecorder lazy = factory.last();
      assertEquals(0, lazy.attempts.get(), "nothing is recorded by the restore itself");

      float[] one = logits(back, 10, 1);
      assertArrayEquals(logits(eager, 10, 1), one, "1 row after the restore");
      assertArrayEquals(loadedOne, one, "1 row as before the park");
      assertEquals(List.of(1), factory.sizes, "the first call recorded its bucket alone");
      assertEquals(1, lazy.replays.get(), "and replayed it");

      assertClose(logits(eager, 20, 3), logits(back, 20, 3), "3 rows, padded to 4");
      assertEquals(List.of(1, 4), factory.sizes);
      for (int n : new int[] {1, 4, 3, 1}) {
        assertClose(logits(eager, n, n), logits(back, n, n), n + " rows");
      }
      assertEquals(List.of(1, 4), factory.sizes, "a recorded bucket is not recorded again");
      assertEquals(6, lazy.replays.get(), "every call that fits a bucket replays it");
    } finally {
      back.close();
      eager.close();
    }
    GraphBucketsTest.CpuRecorder lazy = factory.last();
    assertTrue(lazy.closed, "the lazy graphs' shared memory is released on close");
    assertEquals(2, lazy.programsClosed.get(), "the two recorded buckets are freed");
  }

  /**
   * A recording holds only the record lock: while one thread's call records bucket 8 (held
   * open until the other thread has replayed 20 times), another keeps replaying bucket 1.
   */
  /**
   * What a GPU batcher asks before it runs a lone call on the caller's thread (the gate of
   * DynamicBatcher.Builder#runOnIdleCallerIf): only a call that fits a bucket already recorded.
   */
  @Test
  void replaysRecorded_onlyForBucketsAlreadyRecorded_andShapesTheyHold() {
    Factory factory = new Factory();
    TorchModel back = swappedBack(factory);
    GraphBuckets graphs = back.graphs;
    List<long[]> oneRow = List.of(new long[] {1, 1, 8, 8});
    List<long[]> threeRows = List.of(new long[] {3, 1, 8, 8});
    assertTrue(!graphs.replaysRecorded(oneRow), "nothing recorded yet after the restore");
    logits(back, 0, 1);
    assertTrue(graphs.replaysRecorded(oneRow), "bucket 1 recorded by the first call");
    assertTrue(!graphs.replaysRecorded(threeRows), "bucket 4 not yet");
    logits(back, 0, 4);
    assertTrue(graphs.replaysRecorded(threeRows), "3 rows replay bucket 4 now");
    assertTrue(!graphs.replaysRecorded(List.of(new long[] {9, 1, 8, 8})), "past the buckets");
    assertTrue(!graphs.replaysRecorded(List.of(new long[] {1, 1, 8, 9})), "another shape");
    assertTrue(!graphs.replaysRecorded(List.of(new long[] {1, 64})), "another rank");
    assertTrue(!graphs.replaysRecorded(List.of(new long[] {0, 1, 8, 8})), "no rows");
    assertTrue(!graphs.replaysRecorded(List.of()), "no inputs");
    assertTrue(!back.replaysRecorded(oneRow), "never on the CPU: its threads need no warm-up");
    back.close();
  }

  @Test
  void restore_aRecordingDoesNotHoldBackReplaysOfOtherBuckets() throws Exception {
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    float[] wantOne = logits(eager, 5, 1);
    float[] wantEight = logits(eager, 5, 8);
    Factory factory = new Factory();
    TorchModel back = swappedBack(factory);
    GraphBucketsTest.CpuRecorder lazy = factory.last();
    assertArrayEquals(wantOne, logits(back, 5, 1), "bucket 1 recorded before the race");
    AtomicBoolean recordingOpen = new AtomicBoolean();
    CountDownLatch replaysMeanwhile = new CountDownLatch(20);
    AtomicBoolean replayedMeanwhile = new AtomicBoolean();
    lazy.duringRecord = size -> {
      if (size == 8) {
        recordingOpen.set(true);
        try {
          replayedMeanwhile.set(replaysMeanwhile.await(30, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    };
    AtomicBoolean eightDone = new AtomicBoolean();
    CountDownLatch start = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<Integer> ones = pool.submit(() -> {
        start.await();
        int calls = 0;
        while (!eightDone.get() && calls < 1_000_000) {
          assertArrayEquals(wantOne, logits(back, 5, 1), "1 row, call " + calls);
          calls++;
          if (recordingOpen.get()) {
            replaysMeanwhile.countDown();
          }
        }
        return calls;
      });
      Future<?> eights = pool.submit(() -> {
        start.await();
        try {
          for (int i = 0; i < 20; i++) {
            assertArrayEquals(wantEight, logits(back, 5, 8), "8 rows, call " + i);
          }
        } finally {
          eightDone.set(true);
        }
        return null;
      });
      start.countDown();
      eights.get(60, TimeUnit.SECONDS);
      assertTrue(ones.get(60, TimeUnit.SECONDS) >= 20);
    } finally {
      pool.shutdownNow();
      back.close();
      eager.close();
    }
    assertTrue(replayedMeanwhile.get(), "bucket 1 replayed 20 times while bucket 8 recorded");
    assertEquals(2, lazy.recordings.get(), "buckets 1 and 8, each once");
  }

  /** Eight calls race for the same unrecorded bucket: one records it, all get their rows. */
  @Test
  void restore_callsRacingForOneBucket_recordItOnce() throws Exception {
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    Factory factory = new Factory();
    TorchModel back = swappedBack(factory);
    factory.sizes.clear();
    CountDownLatch start = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int thread = t;
        futures.add(pool.submit(() -> {
          start.await();
          for (int i = 0; i < 20; i++) {
            int from = (thread * 20 + i) % 100;
            assertClose(logits(eager, from, 2), logits(back, from, 2), "thread " + thread);
          }
          return null;
        }));
      }
      start.countDown();
      for (Future<?> f : futures) {
        f.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
      back.close();
      eager.close();
    }
    assertEquals(List.of(2), factory.sizes, "bucket 2 recorded once");
    assertEquals(160, factory.last().replays.get(), "every call replayed it");
  }

  @Test
  void restore_graphsRejectedAtLoad_stayOff() {
    Factory factory = new Factory();
    factory.corrupt = true;
    TorchModel back = swappedBack(factory);
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    try {
      assertEquals(List.of(), back.optimizations());
      assertEquals(1, factory.made.size(), "no recorder after the restore");
      assertArrayEquals(logits(eager, 0, 3), logits(back, 0, 3));
    } finally {
      back.close();
      eager.close();
    }
  }

  @Test
  void restore_aBucketThatFailsToRecord_runsEagerly_isNotRetried_othersRecord() {
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    Factory factory = new Factory();
    TorchModel loaded = TorchModel.load(digits(8), LoadPasses::forSpec, factory);
    ParkedModel parked = loaded.park();
    factory.failToRecord = true;
    TorchModel back = parked.restore(Device.cpu());
    GraphBucketsTest.CpuRecorder lazy = factory.last();
    try {
      assertArrayEquals(logits(eager, 0, 1), logits(back, 0, 1), "eager after the failure");
      assertEquals(1, lazy.attempts.get());
      assertEquals(0, lazy.recordings.get());
      assertArrayEquals(logits(eager, 7, 1), logits(back, 7, 1));
      assertEquals(1, lazy.attempts.get(), "a failed bucket is not tried again");
      lazy.failToRecord = false;
      assertClose(logits(eager, 0, 3), logits(back, 0, 3), "3 rows");
      assertEquals(1, lazy.recordings.get(), "bucket 4 records");
      assertEquals(1, lazy.replays.get(), "only bucket 4 replays");
    } finally {
      back.close();
      eager.close();
    }
    assertTrue(lazy.closed);
    assertEquals(1, lazy.programsClosed.get());
  }

  /**
   * Why one warm-up run before a capture suffices after a restore: the executor's optimized plan
   * is kept across the weights' {@code set_data} moves (the same {@code move} the park and the
   * restore run), so the first call after them runs the plan the last call before them ran, with
   * no profiling run. The control: a fresh module's first call is a profiling run.
   */
  @Test
  void executorPlan_survivesTheWeightsMoves() {
    try (TorchModel m = TorchModel.load(Fixtures.digitsOn("cpu"))) {
      logits(m, 0, 1);
      Graph first = torch.lastExecutedOptimizedGraph();
      assertTrue(profileNodes(first) > 0, "the first call profiles");
      for (int i = 0; i < 4; i++) {
        logits(m, i, 1);
      }
      Graph settled = torch.lastExecutedOptimizedGraph();
      assertEquals(0, profileNodes(settled), "settled after a few calls");
      long plan = settled.address();
      float[] before = logits(m, 3, 1);
      try (ModuleWeights weights = ModuleWeights.of(m.module())) {
        weights.copyAllOnHost(); // out
        weights.copyAllOnHost(); // and back, each into fresh storage
      }
      float[] after = logits(m, 3, 1);
      Graph now = torch.lastExecutedOptimizedGraph();
      assertEquals(plan, now.address(), "the same plan runs after the moves");
      assertEquals(0, profileNodes(now), "no profiling run after the moves");
      assertArrayEquals(before, after);
    }
  }

  private static int profileNodes(Graph g) {
    int count = 0;
    for (JitNode n = g.nodes().front(); n.address() != g.return_node().address();
        n = n.next()) {
      if (n.kind().toQualString().getString().startsWith("prim::profile")) {
        count++;
      }
    }
    return count;
  }
}
