package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.optim.internal.TensorRt;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TensorRT step on a CUDA machine, with the digit model's ONNX export that
 * {@code scripts/gpu/bench.sh trt} makes ({@code -Dnos.trt.onnx}). Whatever TensorRT this machine
 * has, the step must end in a model that serves on the GPU and computes what TorchScript does,
 * and a reason that names what is missing. Prints what happened, for the closing note.
 */
@Tag("gpu")
@Timeout(600)
final class TensorRtGpuTest {

  /**
   * A build TensorRT must refuse (a batch profile whose minimum exceeds its maximum) fails with
   * TensorRT's own words in the exception, through the JVM's one logger. The first logger heard
   * nothing on the H200 (it compared JavaCPP's severity objects by identity).
   */
  @Test
  void build_invalidProfile_failureCarriesTensorRtsOwnMessage(@TempDir Path dir) {
    String onnxProperty = System.getProperty("nos.trt.onnx");
    assumeTrue(onnxProperty != null, "-Dnos.trt.onnx not set");
    assumeTrue(TensorRt.probe().usable(), "TensorRT does not load: " + TensorRt.probe().reason());
    String arch = TensorRtStep.arch(ai.nos.internal.torch.TorchRuntime.cudaDeviceName(0));
    TensorRt.Request bad = new TensorRt.Request(Path.of(onnxProperty), false, 8, 4, 2, 0, arch);
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> TensorRt.build(bad, dir.resolve("never.plan")));
    System.out.println("TensorRtGpuTest: invalid profile: " + e.getMessage());
    assertTrue(e.getMessage().contains("TensorRT said: "), e.getMessage());
    String said = e.getMessage().substring(e.getMessage().indexOf("TensorRT said: "));
    assertTrue(said.matches("(?s).*(Error Code|kMIN|kOPT|kMAX|dimensions).*"), said);
    assertFalse(Files.exists(dir.resolve("never.plan")));
  }

  @Test
  void tensorRt_onCuda_buildsOrFallsBackNamingTheMissingLibrary(@TempDir Path dir)
      throws Exception {
    String onnxProperty = System.getProperty("nos.trt.onnx");
    assumeTrue(onnxProperty != null, "-Dnos.trt.onnx not set");
    Path onnx = Path.of(onnxProperty);
    TensorRt.Probe probe = TensorRt.probe();
    System.out.println("TensorRtGpuTest: probe: version " + probe.version() + ", reason "
        + probe.reason());
    ModelSpec spec = TestModels.digits().toBuilder().id("digits-trt").device("cuda:0")
        .precision(Precision.FP16).build();
    ArtifactCache cache = ArtifactCache.builder().directory(dir).build();
    Optimizer.Result r = Optimizer.builder().cache(cache).build().tensorRt(spec, onnx);
    System.out.println("TensorRtGpuTest: fallback: " + r.fallback() + "; steps " + r.steps()
        + ", guard " + r.guard());
    if (!probe.usable()) {
      assertEquals(probe.reason(), r.fallback());
      assertTrue(r.fallback().contains("libnvinfer"), r.fallback());
    } else if (r.fallback() != null) {
      // A TensorRT whose builder cannot build for this GPU (the 10.15 redist on sm_90).
      assertTrue(r.fallback().contains("libnvinfer_builder_resource"), r.fallback());
    } else {
      // TensorRT built, the guard passed, and the spec now points at the engine.
      assertTrue(r.optimized(), "optimized");
      assertEquals(java.util.List.of("tensorrt"), r.steps());
      assertTrue(r.guard().passed(), r.guard().toString());
      assertEquals(r.artifact().toString(), r.spec().artifact().localPath().orElseThrow()
          .toString());
    }
    float[] px = new float[4 * 64];
    for (int i = 0; i < px.length; i++) {
      px[i] = (i % 13) / 12f;
    }
    Map<String, Tensor> in = Map.of("image", Tensor.of(px, 4, 1, 8, 8));
    try (Model reference = Nos.load(TestModels.digits().toBuilder().id("digits-cpu").build());
        Model served = Nos.load(r.spec())) {
      assertTrue(served.device().isCuda(), "served on " + served.device());
      assertArrayEquals(reference.infer(in).get("logits").toFloatArray(),
          served.infer(in).get("logits").toFloatArray(), 2e-2f);
    }
    long started = System.nanoTime();
    Optimizer.Result again = Optimizer.builder().cache(cache).build().tensorRt(spec, onnx);
    System.out.printf("TensorRtGpuTest: asked again: %s (%.1f ms)%n", again.fallback(),
        (System.nanoTime() - started) / 1e6);
    assertTrue(Files.isDirectory(dir));
  }
}
