package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Where a traced model's graph constants live on a GPU (scripts/models/make_traced_fixtures.py):
 * a model whose shape arithmetic uses tensor constants (as torchvision's ViT does) is recorded in
 * CUDA graphs, because its constants stay on the host; a model whose constant must be on the
 * device still runs. GPU machine only.
 */
@Tag("gpu")
final class TracedConstantsGpuTest {

  @Test
  void shapeArithmeticConstants_stayOnTheHost_soTheModelIsRecordedInCudaGraphs() {
    Tensor x = TracedConstantsTest.ramp(3, 4, 4, 4);
    float[] cpu;
    try (Model m = Nos.load(TracedConstantsTest.shapeConstant("cpu", "shape-const-cpu"))) {
      cpu = m.infer(x).get("y").toFloatArray();
    }
    ModelSpec spec = TracedConstantsTest.shapeConstant("cuda", "shape-const-graphs").toBuilder()
        .batching(Batching.builder().maxBatchSize(4).preferredBatchSizes(1, 4).build())
        .optimize(Optimization.CUDA_GRAPHS).build();
    try (Model m = Nos.load(spec)) {
      List<String> steps = ModelManager.getDefault().models().stream()
          .filter(i -> i.id().equals(spec.id())).findFirst().orElseThrow().optimizations();
      System.out.println("TracedConstantsGpuTest: shape_constant on cuda runs with " + steps);
      assertTrue(steps.contains(Optimization.CUDA_GRAPHS.label()), "recorded: " + steps);
      float[] cuda = m.infer(x).get("y").toFloatArray();
      assertTrue(Fixtures.relativeError(cuda, cpu) <= 1e-5, "cuda graphs vs cpu");
    }
  }

  @Test
  void aConstantThatMustBeOnTheDevice_stillRuns() {
    try (Model m = Nos.load(TracedConstantsTest.deviceConstant("cuda", "dev-const-cuda"))) {
      Tensor out = m.infer(Tensor.of(new float[] {0, 0, 0, 0, 10, 10, 10, 10}, 2, 4)).get("y");
      assertArrayEquals(new float[] {1, 2, 3, 4, 11, 12, 13, 14}, out.toFloatArray());
    }
  }
}
