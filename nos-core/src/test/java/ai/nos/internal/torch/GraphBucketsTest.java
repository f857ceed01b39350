package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Fixtures;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The bucket mechanics of {@link ai.nos.Optimization#CUDA_GRAPHS} on the CPU: a recorder whose
 * "program" reruns the module on the static inputs and copies into static outputs stands in for
 * a CUDA graph, so the padding, the cut back to the caller's rows, the eager fall-back, the
 * check against the eager model, the lock and the freeing are tested without a GPU
 * ({@code CudaModelTest} runs real CUDA graphs on the GPU machine).
 */
@Timeout(120)
final class GraphBucketsTest {
  private static final List<int[]> DIGITS = Fixtures.heldOutDigits();

  /** Records by rerunning the forward pass into static outputs; counts what happens. */
  static final class CpuRecorder implements GraphBuckets.Recorder, AutoCloseable {
    final Function<List<org.bytedeco.pytorch.Tensor>, List<org.bytedeco.pytorch.Tensor>> forward;
    final AtomicInteger recordings = new AtomicInteger();
    final AtomicInteger replays = new AtomicInteger();
    final AtomicInteger programsClosed = new AtomicInteger();
    volatile boolean closed;
    /** Applied to each replay's outputs: a broken "graph" for the rejection test. */
    volatile boolean corrupt;
    volatile boolean failToRecord;
    /** Recordings tried, failed ones included. */
    final AtomicInteger attempts = new AtomicInteger();
    /** Run inside each recording, before it records (a test holds a recording open with it). */
    volatile java.util.function.IntConsumer duringRecord = size -> { };

    CpuRecorder(Function<List<org.bytedeco.pytorch.Tensor>,
        List<org.bytedeco.pytorch.Tensor>> forward) {
      this.forward = forward;
    }

    @Override
    public GraphBuckets.Recorded record(List<org.bytedeco.pytorch.Tensor> statics) {
      attempts.incrementAndGet();
      duringRecord.accept((int) statics.get(0).size(0));
      if (failToRecord) {
        throw new IllegalStateException("operation not permitted when stream is capturing");
      }
      recordings.incrementAndGet();
      // The forward pass's own outputs, as a CUDA graph's are: references into a result that
      // the recording's scope frees (GraphBuckets must keep handles of its own).
      List<org.bytedeco.pytorch.Tensor> raw = forward.apply(statics);
      List<org.bytedeco.pytorch.Tensor> outs = new ArrayList<>();
      for (org.bytedeco.pytorch.Tensor t : raw) {
        org.bytedeco.pytorch.Tensor own = new org.bytedeco.pytorch.Tensor(t); // the "graph's" own
        own.retainReference();
        outs.add(own);
      }
      GraphBuckets.Program program = new GraphBuckets.Program() {
        @Override
        public void replay() {
          replays.incrementAndGet();
          try (PointerScope scope = new PointerScope()) {
            List<org.bytedeco.pytorch.Tensor> fresh = forward.apply(statics);
            for (int i = 0; i < outs.size(); i++) {
              outs.get(i).copy_(corrupt ? fresh.get(i).mul(new org.bytedeco.pytorch.Scalar(2.0))
                  : fresh.get(i));
            }
          }
        }

        @Override
        public void close() {
          outs.forEach(org.bytedeco.pytorch.Tensor::releaseReference);
          programsClosed.incrementAndGet();
        }
      };
      return new GraphBuckets.Recorded(program, raw);
    }

    @Override
    public void close() {
      closed = true;
    }
  }

  /** A factory handing out one recorder the test can inspect, configured before the load. */
  private static final class Factory implements ModelGraphs.RecorderFactory {
    CpuRecorder made;
    boolean corrupt;
    boolean failToRecord;

    @Override
    @SuppressWarnings("unchecked")
    public <R extends GraphBuckets.Recorder & AutoCloseable> R create(Device device,
        Function<List<org.bytedeco.pytorch.Tensor>, List<org.bytedeco.pytorch.Tensor>> forward) {
      made = new CpuRecorder(forward);
      made.corrupt = corrupt;
      made.failToRecord = failToRecord;
      return (R) made;
    }
  }

  private static ModelSpec digits(int maxBatch) {
    return Fixtures.digitsOn("cpu").toBuilder().optimize(Optimization.CUDA_GRAPHS)
        .batching(Batching.ofMaxBatchSize(maxBatch)).build();
  }

  private static Map<String, Tensor> images(int start, int n) {
    return Map.of("image", Fixtures.digitBatch(DIGITS, start, n));
  }

  /** Equal within float rounding: a padded batch may take other kernels than an exact one. */
  private static void assertClose(float[] want, float[] got, String what) {
    assertEquals(want.length, got.length, what + ": length");
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], got[i], 1e-5 * Math.max(1, Math.abs(want[i])), what + " at " + i);
    }
  }

  private static float[] logits(TorchModel m, int start, int n) {
    return m.infer(images(start, n)).get("logits").toFloatArray();
  }

  @Test
  void recordedBuckets_serveEveryBatchSize_exactlyAsEager_paddingNeverLeaks() {
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    Factory factory = new Factory();
    // No batching: buckets 1, 2, 4, ... 32, and a larger call is allowed (and runs eagerly).
    TorchModel graphed = TorchModel.load(Fixtures.digitsOn("cpu").toBuilder()
        .optimize(Optimization.CUDA_GRAPHS).build(), LoadPasses::forSpec, factory);
    try {
      assertEquals(List.of("cuda_graphs"), graphed.optimizations());
      assertEquals(6, factory.made.recordings.get(), "buckets 1, 2, 4, 8, 16, 32");
      // A full bucket first, so the smaller calls after it are padded over other rows' data.
      for (int n : new int[] {32, 3, 1, 5, 17, 7, 2, 6, 4, 31}) {
        int before = factory.made.replays.get();
        float[] got = logits(graphed, 10, n);
        assertEquals(before + 1, factory.made.replays.get(), n + " rows replay one bucket");
        assertEquals(n * 10, got.length, n + " rows come back as " + n + " rows");
        assertClose(logits(eager, 10, n), got, n + " rows");
      }
      int before = factory.made.replays.get();
      assertClose(logits(eager, 0, 33), logits(graphed, 0, 33), "33 rows");
      assertEquals(before, factory.made.replays.get(), "33 rows exceed every bucket: eager");
    } finally {
      eager.close();
      graphed.close();
    }
    assertTrue(factory.made.closed, "the recorder's shared memory is released on close");
    assertEquals(6, factory.made.programsClosed.get(), "every bucket's program is freed");
  }

  @Test
  void concurrentCalls_ofMixedSizes_eachGetTheirOwnRows() throws Exception {
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    Factory factory = new Factory();
    TorchModel graphed = TorchModel.load(digits(8), LoadPasses::forSpec, factory);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int thread = t;
        futures.add(pool.submit(() -> {
          for (int i = 0; i < 40; i++) {
            int n = 1 + (thread + i) % 8;
            int start = (thread * 40 + i) % 100;
            assertClose(logits(eager, start, n), logits(graphed, start, n),
                "thread " + thread + " call " + i);
          }
          return null;
        }));
      }
      for (Future<?> f : futures) {
        f.get();
      }
      assertTrue(factory.made.replays.get() >= 320, "every call replayed");
    } finally {
      pool.shutdownNow();
      eager.close();
      graphed.close();
    }
  }

  /**
   * Closing a graphed model under traffic: every call either completes with its own rows or is
   * refused as closed; the graphs are freed once, after the last call, never under one.
   */
  @Test
  void closeUnderTraffic_everyCallCompletesOrIsRefused_graphsFreedAfterTheLastCall()
      throws Exception {
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    float[][] want = new float[9][];
    for (int n = 1; n <= 8; n++) {
      want[n] = logits(eager, 0, n);
    }
    eager.close();
    Factory factory = new Factory();
    TorchModel graphed = TorchModel.load(digits(8), LoadPasses::forSpec, factory);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    java.util.concurrent.atomic.AtomicInteger served =
        new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger refused =
        new java.util.concurrent.atomic.AtomicInteger();
    // The close comes after 64 calls were served (a count, not a sleep), while each thread still
    // has most of its 2,000 to go.
    java.util.concurrent.CountDownLatch someServed = new java.util.concurrent.CountDownLatch(64);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int thread = t;
        futures.add(pool.submit(() -> {
          for (int i = 0; i < 2_000; i++) {
            int n = 1 + (thread + i) % 8;
            float[] got;
            try {
              got = logits(graphed, 0, n);
            } catch (IllegalStateException e) {
              assertTrue(e.getMessage().contains("closed"), e.getMessage());
              refused.incrementAndGet();
              return null;
            }
            assertClose(want[n], got, "thread " + thread + " call " + i);
            served.incrementAndGet();
            someServed.countDown();
          }
          return null;
        }));
      }
      assertTrue(someServed.await(60, java.util.concurrent.TimeUnit.SECONDS),
          "calls served before the close: " + served.get());
      graphed.close();
      for (Future<?> f : futures) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
    assertTrue(served.get() > 0, "calls ran before the close");
    assertTrue(refused.get() > 0, "calls came after the close: served " + served.get());
    assertTrue(factory.made.closed, "the graphs' shared memory is released");
    assertEquals(4, factory.made.programsClosed.get(), "each bucket freed once");
  }

  @Test
  void graphsThatChangeTheOutputs_areRejected_andTheModelRunsEagerly() {
    Factory factory = new Factory();
    factory.corrupt = true;
    TorchModel m = TorchModel.load(digits(4), LoadPasses::forSpec, factory);
    TorchModel eager = TorchModel.load(Fixtures.digitsOn("cpu"));
    try {
      assertEquals(List.of(), m.optimizations());
      assertTrue(factory.made.closed, "the rejected recording is freed");
      assertEquals(3, factory.made.programsClosed.get());
      int replays = factory.made.replays.get();
      assertClose(logits(eager, 0, 3), logits(m, 0, 3), "eager");
      assertEquals(replays, factory.made.replays.get(), "no replay after the rejection");
    } finally {
      m.close();
      eager.close();
    }
  }

  @Test
  void aModelThatCannotBeRecorded_runsEagerly() {
    Factory factory = new Factory();
    factory.failToRecord = true;
    TorchModel m = TorchModel.load(digits(4), LoadPasses::forSpec, factory);
    try {
      assertEquals(List.of(), m.optimizations());
      assertTrue(factory.made.closed, "the recorder is closed when recording fails");
      assertEquals(10, logits(m, 0, 1).length);
    } finally {
      m.close();
    }
  }

  @Test
  void onTheCpu_withoutARecorder_theStepIsSkipped() {
    TorchModel m = TorchModel.load(digits(4));
    try {
      assertEquals(List.of(), m.optimizations());
    } finally {
      m.close();
    }
  }

  @Test
  void buckets_followTheBatching() {
    ModelSpec base = Fixtures.digitsOn("cpu");
    assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32}, ModelGraphs.buckets(base));
    assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32, 64, 100},
        ModelGraphs.buckets(base.toBuilder().maxBatchSize(100).build()));
    assertArrayEquals(new int[] {1}, ModelGraphs.buckets(base.toBuilder()
        .maxBatchSize(1).build()));
    assertArrayEquals(new int[] {4, 16, 64}, ModelGraphs.buckets(base.toBuilder()
        .batching(Batching.builder().maxBatchSize(64).preferredBatchSizes(4, 16).build())
        .build()));
  }

  @Test
  void signaturesThatCannotBeRecorded_sayWhy() {
    assertNull(ModelGraphs.problem(Fixtures.digitsOn("cpu")));
    ModelSpec dynamic = Fixtures.digitsOn("cpu").toBuilder().signature(Signature.builder()
        .input("tokens", DType.INT64, -1, -1).output("logits", DType.FLOAT32, -1, 10).build())
        .build();
    String why = ModelGraphs.problem(dynamic);
    assertTrue(why.contains("'tokens'") && why.contains("[-1, -1]")
        && why.contains("every dimension but the batch must be fixed"), why);
    ModelSpec fixedBatch = Fixtures.digitsOn("cpu").toBuilder().signature(Signature.builder()
        .input("image", DType.FLOAT32, 2, 1, 8, 8).output("logits", DType.FLOAT32, 2, 10)
        .build()).build();
    assertTrue(ModelGraphs.problem(fixedBatch).contains("first dimension must be the batch"));
    ModelSpec scalarOut = Fixtures.digitsOn("cpu").toBuilder().signature(Signature.builder()
        .input("image", DType.FLOAT32, -1, 1, 8, 8).output("logits", DType.FLOAT32, 10)
        .build()).build();
    assertTrue(ModelGraphs.problem(scalarOut).contains("output 'logits'"));
  }

  /** What a capture that hit a host synchronization reports: the CUDA error, not the advice. */
  @Test
  void aFailedCapture_isReportedByItsErrorLine() {
    String message = "The following operation failed in the TorchScript interpreter.\n"
        + "Traceback of TorchScript, serialized code (most recent call last):\n"
        + "  File \"code/__torch__/torch/nn/modules/activation.py\", line 34, in forward\n"
        + "RuntimeError: CUDA error: operation not permitted when stream is capturing\n"
        + "Search for `cudaErrorStreamCaptureUnsupported' in https://docs.nvidia.com/cuda/\n"
        + "For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
        + "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n";
    assertEquals("RuntimeError: CUDA error: operation not permitted when stream is capturing",
        TorchModel.modelMessage(message));
    assertEquals("builtins.ValueError: negative input not allowed", TorchModel.modelMessage(
        "Traceback of TorchScript (most recent call last):\n  File \"x.py\"\n"
            + "builtins.ValueError: negative input not allowed\n"));
  }

  @Test
  void bucketSizes_mustBeDistinctAndPositive() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> GraphBuckets.record(new int[] {4, 4}, List.of(), statics -> null, () -> { }));
    assertTrue(e.getMessage().contains("[4, 4]"), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> GraphBuckets.record(new int[] {0, 2}, List.of(), statics -> null, () -> { }));
    assertFalse(e.getMessage().isBlank());
  }
}
