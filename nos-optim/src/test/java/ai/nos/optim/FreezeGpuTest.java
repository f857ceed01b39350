package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.internal.torch.TorchRuntime;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The optimizer's freeze of a half-precision spec on CUDA: the model is cast to the spec's
 * precision before it is frozen (frozen weights are constants, which the load's cast no longer
 * reaches; before the twenty-fourth session every fp16 and bf16 freeze failed with "Input type
 * (c10::Half) and bias type (float) should be the same"). OptimizerTest covers it on the CPU;
 * this runs the guard and the served model on the GPU.
 */
@Tag("gpu")
final class FreezeGpuTest {
  @ParameterizedTest
  @EnumSource(value = Precision.class, names = {"FP16", "BF16"})
  void freeze_halfPrecisionSpecOnCuda_isGuardedAndServed(Precision precision, @TempDir Path dir)
      throws IOException {
    assumeTrue(TorchRuntime.cudaDeviceCount() > 0, "no CUDA device");
    Optimizer optimizer = Optimizer.builder().freeze(true)
        .cache(ArtifactCache.builder().directory(dir).build()).build();
    ModelSpec spec = TestModels.digits().toBuilder().id("digits-freeze-gpu").device("cuda:0")
        .precision(precision).build();
    Optimizer.Result r = optimizer.optimize(spec);
    assertTrue(r.optimized(), String.valueOf(r.guard()));
    assertEquals(AccuracyGuard.HALF_THRESHOLD, r.guard().threshold());
    Map<String, Tensor> in = Map.of("image",
        TestModels.digitImages(TestModels.heldOutDigits(), 0, 8));
    try (Model eager = Nos.load(spec.toBuilder().id("digits-half-gpu").build());
        Model fast = Nos.load(r.spec().toBuilder().id("digits-half-gpu-frozen").build())) {
      assertTrue(fast.device().isCuda(), "served on " + fast.device());
      assertArrayEquals(eager.infer(in).get("logits").toFloatArray(),
          fast.infer(in).get("logits").toFloatArray(), 1e-2f);
    }
  }
}
