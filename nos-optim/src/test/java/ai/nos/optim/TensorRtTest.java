package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Tensor;
import ai.nos.optim.internal.MissingLibrary;
import ai.nos.optim.internal.TensorRt;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TensorRT step where TensorRT cannot run (every CI machine: no NVIDIA driver, no TensorRT):
 * it names the missing library, falls back to the best libtorch path, and refuses bad input
 * before anything native sees it. The GPU side is {@code TensorRtGpuTest}.
 */
@Timeout(120)
final class TensorRtTest {

  @Test
  void probe_withoutTensorRt_namesTheMissingLibraryAndHowToInstallIt() {
    TensorRt.Probe probe = TensorRt.probe();
    assumeFalse(probe.usable(), "TensorRT loads on this machine");
    assertNull(probe.version());
    assertTrue(probe.reason().matches("TensorRT cannot load here: lib\\S+\\.so\\S* is missing; .+"),
        probe.reason());
    assertSame(probe, TensorRt.probe(), "probed once");
  }

  @Test
  void tensorRt_withoutTensorRt_fallsBackToTheBestLibtorchPath(@TempDir Path dir)
      throws Exception {
    assumeFalse(TensorRt.probe().usable(), "TensorRT loads on this machine");
    // Never read when TensorRT does not load: the probe answers first.
    Path onnx = Files.write(dir.resolve("digits.onnx"), new byte[] {8, 7});
    ArtifactCache cache = ArtifactCache.builder().directory(dir.resolve("cache")).build();
    ModelSpec spec = TestModels.digits();
    Optimizer.Result r = Optimizer.builder().cache(cache).freeze(true).build()
        .tensorRt(spec, onnx);
    assertEquals(TensorRt.probe().reason(), r.fallback());
    assertTrue(r.optimized(), "the libtorch path this optimizer makes: " + r.guard());
    assertEquals(List.of("freeze"), r.steps());
    // INT8 falls back alike, once its calibration passed its checks.
    Optimizer.Result int8 = Optimizer.builder().cache(cache).freeze(true).build()
        .tensorRt(spec, onnx, Calibration.of(List.of(Map.of("image",
            TestModels.digitImages(TestModels.heldOutDigits(), 0, 16)))));
    assertEquals(List.of(r.fallback(), r.spec(), r.steps()),
        List.of(int8.fallback(), int8.spec(), int8.steps()));
    float[] px = new float[2 * 64];
    for (int i = 0; i < px.length; i++) {
      px[i] = (i % 9) / 8f;
    }
    Map<String, Tensor> in = Map.of("image", Tensor.of(px, 2, 1, 8, 8));
    try (Model eager = Nos.load(spec.toBuilder().id("trt-eager").build());
        Model served = Nos.load(r.spec().toBuilder().id("trt-fallback").build())) {
      assertArrayEquals(eager.infer(in).get("logits").toFloatArray(),
          served.infer(in).get("logits").toFloatArray(), 1e-4f);
    }

    Optimizer.Result plain = Optimizer.builder().cache(cache).build().tensorRt(spec, onnx);
    assertSame(spec, plain.spec(), "no libtorch passes asked for: the spec as given");
    assertNotNull(plain.fallback());
  }

  /** Eight threads asking at once all get the libtorch path and the same reason. */
  @Test
  void tensorRt_fromEightThreads_allFallBackAlike(@TempDir Path dir) throws Exception {
    assumeFalse(TensorRt.probe().usable(), "TensorRT loads on this machine");
    Path onnx = Files.write(dir.resolve("digits.onnx"), new byte[] {8, 7});
    Optimizer optimizer = Optimizer.builder()
        .cache(ArtifactCache.builder().directory(dir.resolve("cache")).build()).build();
    ModelSpec spec = TestModels.digits();
    java.util.concurrent.ExecutorService pool =
        java.util.concurrent.Executors.newFixedThreadPool(8);
    try {
      List<java.util.concurrent.Future<Optimizer.Result>> results = new java.util.ArrayList<>();
      java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
      for (int i = 0; i < 8; i++) {
        results.add(pool.submit(() -> {
          start.await();
          return optimizer.tensorRt(spec, onnx);
        }));
      }
      start.countDown();
      for (var f : results) {
        Optimizer.Result r = f.get();
        assertSame(spec, r.spec());
        assertEquals(TensorRt.probe().reason(), r.fallback());
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void tensorRt_refusesBadArguments_namingThem(@TempDir Path dir) throws Exception {
    Optimizer optimizer = Optimizer.builder().build();
    ModelSpec spec = TestModels.digits();
    Path missing = dir.resolve("nowhere.onnx");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> optimizer.tensorRt(spec, missing));
    assertTrue(e.getMessage().contains("'digits'") && e.getMessage().contains(missing.toString())
        && e.getMessage().endsWith("missing"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> optimizer.tensorRt(spec, dir));
    assertTrue(e.getMessage().endsWith(dir + " is not one"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> optimizer.tensorRt(null, missing));
    assertTrue(e.getMessage().contains("null"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> optimizer.tensorRt(spec, null));
    assertTrue(e.getMessage().contains("'digits', null"), e.getMessage());
  }

  @Test
  void loadFailures_nameTheLibraryTheLoaderMissed() {
    Throwable chain = new UnsatisfiedLinkError("no jninvinfer in java.library.path");
    chain.initCause(new UnsatisfiedLinkError("/root/.javacpp/cache/x/libjninvinfer.so:"
        + " libnvinfer.so.10: cannot open shared object file: No such file or directory"));
    String reason = MissingLibrary.explainLoadFailure(chain);
    assertTrue(reason.startsWith("TensorRT cannot load here: libnvinfer.so.10 is missing;"
        + " install TensorRT 10.6"), reason);
    assertTrue(reason.contains("tensorrt:10.6-1.5.11:linux-x86_64-redist"), reason);

    reason = MissingLibrary.explainLoadFailure(new UnsatisfiedLinkError(
        "libcuda.so.1: cannot open shared object file: No such file or directory"));
    assertTrue(reason.contains("libcuda.so.1 is missing") && reason.contains("driver"), reason);

    reason = MissingLibrary.explainLoadFailure(new UnsatisfiedLinkError(
        "libcudart.so.13: cannot open shared object file"));
    assertTrue(reason.contains("libcudart.so.13 is missing") && reason.contains("CUDA 13"),
        reason);

    // JavaCPP's second failure to load a library carries no loader message: NOS asks the loader.
    reason = MissingLibrary.explainLoadFailure(
        new UnsatisfiedLinkError("no jnicudart in java.library.path"), () -> "libnvinfer.so.10");
    assertTrue(reason.startsWith("TensorRT cannot load here: libnvinfer.so.10 is missing"),
        reason);
    reason = MissingLibrary.explainLoadFailure(new NoClassDefFoundError(
        "org/bytedeco/tensorrt/global/nvinfer"), () -> null);
    assertTrue(reason.contains("NoClassDefFoundError: org/bytedeco/tensorrt/global/nvinfer"),
        reason);
  }

  @Test
  void buildFailures_nameAMissingBuilderResource_elseRepeatTensorRtsErrors() {
    String reason = MissingLibrary.explainBuildFailure(List.of("first",
        "Could not load library libnvinfer_builder_resource_sm90.so.10.15.1"), "sm_90");
    assertTrue(reason.startsWith("TensorRT cannot build engines for sm_90 here:"
        + " libnvinfer_builder_resource_sm90.so.10.15.1 is missing"), reason);
    assertTrue(reason.contains("install TensorRT 10.6"), reason);

    reason = MissingLibrary.explainBuildFailure(List.of("a", "b", "c", "d"), "sm_90");
    assertEquals("TensorRT built no engine: b | c | d", reason);
    assertEquals("TensorRT built no engine and logged no error",
        MissingLibrary.explainBuildFailure(List.of(), "sm_90"));
  }

  @Test
  void arch_isTheComputeCapabilityOfTheDeviceName() {
    assertEquals("sm_90", TensorRtStep.arch("NVIDIA H200 sm_90"));
    assertEquals("sm_100", TensorRtStep.arch("NVIDIA B200 sm_100"));
    assertEquals("cpu", TensorRtStep.arch("cpu"));
  }
}
