package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * CUDA against CPU on the same models, and device memory after close. Runs on the GPU machine
 * only (scripts/gpu/run-gpu-tests.sh), with the CUDA natives (Maven profile {@code gpu}).
 * ResNet-50 comes from {@code -Dnos.resnet50=FILE}, made by scripts/models/make_resnet50.py.
 */
@Tag("gpu")
final class CudaModelTest {

  @Test
  void digits_cudaMatchesCpu() {
    var rows = Fixtures.heldOutDigits();
    Tensor input = Fixtures.digitBatch(rows, 0, 64);
    try (Model cpu = Nos.load(Fixtures.digitsOn("cpu"));
        Model cuda = Nos.load(Fixtures.digitsOn("cuda"))) {
      assertEquals(Device.cuda(0), cuda.device());
      double err = relativeError(cuda.infer(input).get("logits").toFloatArray(),
          cpu.infer(input).get("logits").toFloatArray());
      System.out.printf("CudaModelTest: digits cuda vs cpu relative error %.3g%n", err);
      assertTrue(err <= 1e-4, "relative error " + err);
    }
  }

  @Test
  void auto_prefersCuda() {
    try (Model m = Nos.load(Fixtures.digits())) {
      assertEquals(Device.cuda(0), m.device());
    }
  }

  @Test
  void cudaIndexOutOfRange_isRefusedWithTheCount() {
    int n = TorchRuntime.cudaDeviceCount();
    var e = assertThrows(DeviceUnavailableException.class,
        () -> Nos.load(Fixtures.digitsOn("cuda:" + n)));
    assertTrue(e.getMessage().contains(n + " CUDA device(s)"), e.getMessage());
  }

  @Test
  void resnet50_cudaMatchesCpu_andDeviceMemoryReturnsAfterClose() throws Exception {
    Path file = Path.of(System.getProperty("nos.resnet50", "resnet50.pt"));
    assertTrue(Files.isRegularFile(file), "make it with scripts/models/make_resnet50.py: " + file);
    ModelSpec spec = ModelSpec.builder().id("resnet50").artifact(file)
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
            .output("logits", DType.FLOAT32, -1, 1000).build()).device("cuda:0").build();
    float[] px = new float[4 * 3 * 224 * 224];
    Random random = new Random(0);
    for (int i = 0; i < px.length; i++) {
      px[i] = (float) random.nextGaussian();
    }
    Tensor input = Tensor.of(px, 4, 3, 224, 224);

    TorchRuntime.cudaEmptyCache();
    long before = TorchRuntime.cudaAllocatedBytes(0);
    long reservedBefore = TorchRuntime.cudaReservedBytes(0);
    float[] onCuda;
    long loaded;
    try (Model cuda = Nos.load(spec)) {
      loaded = TorchRuntime.cudaAllocatedBytes(0);
      for (int i = 0; i < 3; i++) {
        cuda.infer(input);
      }
      onCuda = cuda.infer(input).get("logits").toFloatArray();
    }
    long after = TorchRuntime.cudaAllocatedBytes(0);
    TorchRuntime.cudaEmptyCache();
    long reservedAfter = TorchRuntime.cudaReservedBytes(0);
    float[] onCpu;
    try (Model cpu = Nos.load(spec.toBuilder().device("cpu").build())) {
      onCpu = cpu.infer(input).get("logits").toFloatArray();
    }
    double err = relativeError(onCuda, onCpu);
    System.out.printf("CudaModelTest: resnet50 cuda vs cpu relative error %.3g; device bytes"
        + " allocated before load %d, loaded %d (weights %.1f MB), after close %d; reserved"
        + " before %d, after close+emptyCache %d%n", err, before, loaded,
        (loaded - before) / 1e6, after, reservedBefore, reservedAfter);
    assertTrue(loaded - before > 90_000_000L, "ResNet-50's weights should be on the device");
    assertTrue(err <= 1e-4, "relative error " + err);
    assertEquals(before, after, "device bytes after close");
    assertEquals(reservedBefore, reservedAfter, "reserved bytes after close and emptyCache");
  }

  /** max |a - b| / max |b|: the error relative to the output's scale. */
  static double relativeError(float[] a, float[] b) {
    assertEquals(b.length, a.length);
    double diff = 0;
    double scale = 0;
    for (int i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    return diff / Math.max(scale, 1e-12);
  }
}
