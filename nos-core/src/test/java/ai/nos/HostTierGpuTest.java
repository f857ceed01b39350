package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The host tier on a GPU (issue 24): two copies of a model under a budget that holds one, called
 * in turn, so that every call brings its copy back from host memory. Outputs are bit-identical to
 * the copy's own before its first swap, device memory stays flat, and swap times are printed.
 * ResNet-50 comes from {@code -Dnos.resnet50.dir=DIR} (scripts/models/make_resnet50.py).
 */
@Tag("gpu")
final class HostTierGpuTest {

  @Test
  void resnet50Fp16Auto_swapsBackBitIdentical() {
    swapResnet(false);
  }

  @Test
  void resnet50Fp16AutoGraphs_swapsBackBitIdentical() {
    swapResnet(true);
  }

  private static void swapResnet(boolean graphs) {
    Path dir = Path.of(System.getProperty("nos.resnet50.dir", "resnet50"));
    assertTrue(Files.isRegularFile(dir.resolve("resnet50.pt")),
        "make it with scripts/models/make_resnet50.py: " + dir);
    Optimization[] steps = graphs
        ? new Optimization[] {Optimization.AUTO, Optimization.CUDA_GRAPHS}
        : new Optimization[] {Optimization.AUTO};
    ModelSpec spec = ModelSpec.builder().id("r50-a").artifact(dir.resolve("resnet50.pt"))
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
            .output("logits", DType.FLOAT32, -1, 1000).build())
        .device("cuda:0").precision(Precision.FP16).optimize(steps).build();
    Map<String, Tensor> image =
        Map.of("image", Tensor.of(pixels(3 * 224 * 224, 3), 1, 3, 224, 224));
    swap(spec, image, 20, "ResNet-50 fp16 auto" + (graphs ? " + cuda_graphs" : ""));
  }

  /** 1,000 swaps of the digits model: device memory after each swap back stays where it was. */
  @Test
  void digits_deviceMemoryFlatOver1000Swaps() {
    ModelSpec spec = Fixtures.digitsOn("cuda:0").toBuilder().id("digits-a").build();
    Map<String, Tensor> image = Map.of("image", Tensor.of(pixels(64, 5), 1, 1, 8, 8));
    swap(spec, image, 1000, "digits");
  }

  private static void swap(ModelSpec a, Map<String, Tensor> input, int swaps, String name) {
    ModelSpec b = a.toBuilder().id(a.id().replace("-a", "-b")).build();
    // One copy's bytes, as the second of two copies measures them: the first copy a thread runs
    // on a device can also measure that thread's one-time library state (a lease-1 run of the
    // fifteenth session measured the digit model far above its 58 KB, so both copies fit the
    // tight budget and nothing was parked).
    long bytes;
    try (ModelManager roomy = ModelManager.builder().devices(Device.cuda(0))
        .noFootprintCatalog().build(); Model m = roomy.load(a); Model n = roomy.load(b)) {
      m.infer(input);
      n.infer(input);
      bytes = roomy.models().stream().mapToLong(ModelInfo::bytes).min().orElseThrow();
    }
    try (ModelManager tight = ModelManager.builder().devices(Device.cuda(0))
        .memoryBudget(Device.cuda(0), bytes * 3 / 2).noFootprintCatalog()
        .hostMemoryBytes(4L << 30).build();
        Model ma = tight.load(a)) {
      float[] refA = ma.infer(input).get("logits").toFloatArray();
      Model mb = tight.load(b);
      float[] refB = mb.infer(input).get("logits").toFloatArray();
      assertEquals(List.of(a.id()), tight.hostTier().models(), () -> "budget " + bytes * 3 / 2
          + " bytes for two copies of " + bytes + ": " + tight.models());
      List<Long> levels = new ArrayList<>();
      List<Long> nanos = new ArrayList<>();
      for (int i = 0; i < swaps; i++) {
        long t0 = System.nanoTime();
        float[] outA = ma.infer(input).get("logits").toFloatArray();
        long t1 = System.nanoTime();
        float[] outB = mb.infer(input).get("logits").toFloatArray();
        nanos.add(t1 - t0);
        nanos.add(System.nanoTime() - t1);
        assertArrayEquals(refA, outA, "swap " + i + " of " + a.id());
        assertArrayEquals(refB, outB, "swap " + i + " of " + b.id());
        levels.add(TorchRuntime.cudaAllocatedBytes(0));
      }
      // No growth: the last third of the swaps never holds more device memory than the middle
      // third did. (With CUDA graphs recorded again at each swap back, the level after swap 11
      // was one graph pool (67 MB) above the level after swap 10 on an H200, so "equal after
      // every swap" is too strict; a leak grows from third to third.)
      int third = swaps / 3;
      long middle = levels.subList(third, 2 * third).stream().mapToLong(Long::longValue).max()
          .orElseThrow();
      long last = levels.subList(2 * third, swaps).stream().mapToLong(Long::longValue).max()
          .orElseThrow();
      assertTrue(last <= middle, "device bytes grew: most in the middle third " + middle
          + ", in the last " + last + "; after each swap " + levels);
      assertEquals(2L * swaps, tight.hostTier().unparks(), "every swap came from host memory");
      assertEquals(0, tight.hostTier().dropped());
      Collections.sort(nanos);
      System.out.printf("HostTierGpuTest: %s: %d swaps, call that swaps back median %.1f ms,"
          + " p90 %.1f ms, max %.1f ms; %d bytes booked per copy%n", name, nanos.size(),
          nanos.get(nanos.size() / 2) / 1e6, nanos.get(nanos.size() * 9 / 10) / 1e6,
          nanos.get(nanos.size() - 1) / 1e6, bytes);
      mb.close();
    }
  }

  private static float[] pixels(int n, long seed) {
    Random r = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }
}
