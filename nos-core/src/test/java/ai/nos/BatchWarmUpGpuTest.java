package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A batched ResNet-50 (fp16, {@code auto}: cuDNN benchmark mode on) is warm from the first call
 * after its load returns: the first call at each batch bucket takes at most twice the time of a
 * warm call at that size (plus 1 ms, the scheduling noise of a 1-image call). Without the warm-up
 * each first call builds and times cuDNN's plans on its worker thread: hundreds of ms.
 * ResNet-50 comes from {@code -Dnos.resnet50.dir=DIR} (scripts/models/make_resnet50.py).
 */
@Tag("gpu")
final class BatchWarmUpGpuTest {
  static final int MAX = 32;

  @Test
  void firstCallAtEachBucket_isAsFastAsAWarmOne() {
    Path dir = Path.of(System.getProperty("nos.resnet50.dir", "resnet50"));
    assertTrue(Files.isRegularFile(dir.resolve("resnet50.pt")),
        "make it with scripts/models/make_resnet50.py: " + dir);
    ModelSpec spec = ModelSpec.builder().id("resnet50-warm").artifact(dir.resolve("resnet50.pt"))
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
            .output("logits", DType.FLOAT32, -1, 1000).build())
        .device("cuda:0").precision(Precision.FP16).optimize(Optimization.AUTO)
        .batching(Batching.builder().maxBatchSize(MAX).maxQueueDelay(Duration.ZERO).build())
        .build();
    try (ModelManager manager = ModelManager.builder().devices(Device.cuda(0))
        .noFootprintCatalog().build()) {
      Model model = manager.load(spec);
      ModelInfo info = manager.models().get(0);
      System.out.printf("BatchWarmUpGpuTest: warm-up %d ms at %s%n", info.warmUp().toMillis(),
          info.batchBuckets());
      assertEquals(List.of(1, 2, 4, 8, 16, 32), info.batchBuckets());
      List<String> report = new ArrayList<>();
      List<String> slow = new ArrayList<>();
      for (int rows : new int[] {1, 2, 4, 8, 16, 32}) {
        Map<String, Tensor> in = Map.of("image", Tensor.zeros(DType.FLOAT32, rows, 3, 224, 224));
        long first = time(model, in);
        long[] warm = new long[5];
        for (int i = 0; i < warm.length; i++) {
          warm[i] = time(model, in);
        }
        Arrays.sort(warm);
        long median = warm[warm.length / 2];
        report.add(rows + ": first " + first / 1000 + " us, warm " + median / 1000 + " us");
        if (first > 2 * median + 1_000_000) {
          slow.add(rows + " rows");
        }
      }
      System.out.println("BatchWarmUpGpuTest: " + report);
      assertEquals(List.of(), slow, "first calls slower than 2x warm: " + report);
    }
  }

  private static long time(Model model, Map<String, Tensor> inputs) {
    long t0 = System.nanoTime();
    model.infer(inputs);
    return System.nanoTime() - t0;
  }
}
