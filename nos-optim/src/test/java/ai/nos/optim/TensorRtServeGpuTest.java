package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelLoadException;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Optimization;
import ai.nos.Signature;
import ai.nos.Tensor;
import ai.nos.internal.Accuracy;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.optim.internal.TensorRt;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.cuda.global.cudart;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A TensorRT engine served through {@code Nos.load} like any artifact (#22), on a GPU with
 * TensorRT 10.6's libraries: the committed plan of the digit model (models/trt, built on sm_90 by
 * TensorRT 10.6 with batch 1..32), no builder needed. Its outputs against TorchScript's for every
 * batch shape a caller can send (in range, above it: pieces), calls from many threads, the
 * checks at load (signature names, the spec's batching against the profile), and device memory
 * after loads and closes.
 */
@Tag("gpu")
@Timeout(300)
final class TensorRtServeGpuTest {
  private static final Path PLAN = TestModels.modelsDir().resolve("trt/digits-trt10.6-sm90.plan");

  @BeforeAll
  static void tensorRt106OnSm90() {
    TensorRt.Probe probe = TensorRt.probe();
    assumeTrue(probe.usable(), "TensorRT does not load: " + probe.reason());
    assumeTrue(probe.version().startsWith("10.6."), "the plan needs TensorRT 10.6, found "
        + probe.version());
    assumeTrue(TorchRuntime.cudaDeviceName(0).contains("sm_90"), "the plan needs sm_90, found "
        + TorchRuntime.cudaDeviceName(0));
  }

  private static ModelSpec engine(String id) {
    return TestModels.digits().toBuilder().id(id).artifact(PLAN).device("cuda:0").build();
  }

  private static Map<String, Tensor> images(int rows, int seed) {
    float[] px = new float[rows * 64];
    java.util.Random r = new java.util.Random(seed);
    for (int i = 0; i < px.length; i++) {
      px[i] = r.nextFloat();
    }
    return Map.of("image", Tensor.of(px, rows, 1, 8, 8));
  }

  /** The accuracy guard's metric: the largest difference over the reference's largest value. */
  private static double relative(Tensor got, Tensor reference) {
    assertEquals(null, Accuracy.mismatch(reference, got));
    return Accuracy.compare(reference, got).error();
  }

  @Test
  void engine_computesWhatTorchScriptDoes_forEveryBatchShape() {
    try (Model reference = Nos.load(TestModels.digits().toBuilder().id("digits-ts")
        .device("cuda:0").build()); Model trt = Nos.load(engine("digits-trt"))) {
      // 1..32 in the profile; 33, 45 and 100 run in pieces of 32 (the last padded to 1 or more).
      for (int rows : new int[] {1, 2, 7, 32, 33, 45, 100}) {
        Map<String, Tensor> in = images(rows, rows);
        Tensor got = trt.infer(in).get("logits");
        assertEquals(List.of((long) rows, 10L), List.of(got.shape()[0], got.shape()[1]));
        double rel = relative(got, reference.infer(in).get("logits"));
        System.out.printf("TensorRtServeGpuTest: %d rows, TensorRT vs TorchScript %.2e%n", rows,
            rel);
        // The plan was built with TensorRT's defaults (TF32 allowed): 10 bits of mantissa.
        assertTrue(rel <= 2e-3, rows + " rows: " + rel);
      }
    }
  }

  @Test
  void manyThreads_shareTheEnginesContexts_andGetTheirOwnResults() throws Exception {
    ModelSpec batched = engine("digits-trt-batched").toBuilder().maxBatchSize(32).build();
    try (ModelManager manager = ModelManager.builder().noFootprintCatalog().build();
        Model trt = manager.load(batched)) {
      List<Tensor> expected = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        expected.add(trt.infer(images(3, 100 + t)).get("logits"));
      }
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        List<Future<Double>> worst = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          int thread = t;
          worst.add(pool.submit(() -> {
            double w = 0;
            for (int i = 0; i < 200; i++) {
              w = Math.max(w, relative(trt.infer(images(3, 100 + thread)).get("logits"),
                  expected.get(thread)));
            }
            return w;
          }));
        }
        double w = 0;
        for (Future<Double> f : worst) {
          w = Math.max(w, f.get());
        }
        System.out.printf("TensorRtServeGpuTest: 1600 calls from 8 threads, worst difference to"
            + " one thread %.2e; booked %s%n", w, manager.models());
        assertTrue(w <= 1e-5, "threads mixed results: " + w);
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void wrongNames_orABatchAboveTheProfile_areRefusedAtLoad() {
    ModelSpec renamed = engine("digits-trt-renamed").toBuilder().signature(Signature.builder()
        .input("pixels", DType.FLOAT32, -1, 1, 8, 8).output("logits", DType.FLOAT32, -1, 10)
        .build()).build();
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> Nos.load(renamed));
    assertTrue(e.getMessage().contains("[image]") && e.getMessage().contains("[pixels]"),
        e.getMessage());
    ModelSpec wide = engine("digits-trt-wide").toBuilder().maxBatchSize(64).build();
    e = assertThrows(ModelLoadException.class, () -> Nos.load(wide));
    assertTrue(e.getMessage().contains("batches up to 64") && e.getMessage().contains("at most 32"),
        e.getMessage());
    ModelSpec graphs = engine("digits-trt-graphs").toBuilder()
        .optimize(Optimization.CUDA_GRAPHS).build();
    try (Model m = Nos.load(graphs)) {
      assertEquals(10, m.infer(images(2, 1)).get("logits").shape()[1]);
    }
  }

  @Test
  void loadsAndCloses_leaveTheDeviceMemoryAsItWas() {
    try (Model warm = Nos.load(engine("digits-trt-warm"))) {
      warm.infer(images(4, 1));
    }
    TorchRuntime.cudaEmptyCache();
    long before = freeBytes();
    for (int i = 0; i < 20; i++) {
      try (Model m = Nos.load(engine("digits-trt-" + i))) {
        m.infer(images(4, i));
      }
    }
    TorchRuntime.cudaEmptyCache();
    long after = freeBytes();
    System.out.printf("TensorRtServeGpuTest: 20 loads and closes, free device memory %d -> %d"
        + " bytes%n", before, after);
    // An engine not freed keeps its weights and kernels (the plan, ~0.5 MB) and TensorRT's
    // per-engine state (MBs): 20 of them would show.
    assertTrue(before - after < 16L << 20, "lost " + (before - after) + " bytes");
  }

  static long freeBytes() {
    cudart.cudaDeviceSynchronize();
    try (org.bytedeco.javacpp.SizeTPointer free = new org.bytedeco.javacpp.SizeTPointer(1);
        org.bytedeco.javacpp.SizeTPointer total = new org.bytedeco.javacpp.SizeTPointer(1)) {
      cudart.cudaMemGetInfo(free, total);
      return free.get();
    }
  }
}
