package ai.nos.examples;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.Model;
import ai.nos.ModelInfo;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A model manager with room for one model of two, and dynamic batching: two copies of the digit
 * model take turns (each call to the cold one evicts the other), then 64 concurrent single-image
 * calls are gathered into batches. Prints what the manager saw.
 *
 * <p>Run from the repository root:
 * {@code mvn -q -B -pl examples -am -DskipTests package exec:java
 * -Dexec.mainClass=ai.nos.examples.ManagerDemo}
 */
public final class ManagerDemo {
  private ManagerDemo() {}

  public static void main(String[] args) throws IOException {
    Path models =
        Path.of(args.length > 0 ? args[0] : System.getProperty("nos.models.dir", "models"));
    ModelSpec digits = ModelSpec.fromJson(models.resolve("digits/digits.json"));
    Digits test = Digits.read(models.resolve("digits/digits-test.csv"));
    // On the CPU a copy books its weights (40 kB for this model, measured when it loads); a
    // budget of 60 kB holds one copy, not two.
    ModelSpec a = digits.toBuilder().id("digits-a").device("cpu")
        .batching(Batching.builder().maxBatchSize(32).maxQueueDelay(Duration.ofMillis(2))
            .build()).build();
    // digits-b asks for the load-time steps measured best for its kind (a CNN on the CPU:
    // channels-last and freeze); the manager reports what it runs with.
    ModelSpec b = digits.toBuilder().id("digits-b").device("cpu")
        .optimize(Optimization.AUTO).build();
    try (ModelManager manager = ModelManager.builder().devices(Device.cpu())
        .memoryBudget(Device.cpu(), 60_000).noFootprintCatalog().build();
        Model modelA = manager.load(a); Model modelB = manager.load(b)) {
      Tensor one = Tensor.of(test.images(0, 1), 1, 1, 8, 8);
      for (int i = 0; i < 6; i++) {
        (i % 2 == 0 ? modelA : modelB).infer(one);   // the other one is evicted each time
      }
      List<CompletableFuture<Map<String, Tensor>>> calls = new ArrayList<>();
      for (int i = 0; i < 64; i++) {
        calls.add(modelA.inferAsync(Map.of("image", Tensor.of(test.images(i, 1), 1, 1, 8, 8)),
            Priority.NORMAL, Duration.ofSeconds(5)));
      }
      int correct = 0;
      for (int i = 0; i < calls.size(); i++) {
        float[] logits = calls.get(i).join().get("logits").toFloatArray();
        correct += DigitsDemo.argmax(logits, 0, 10) == test.label(i) ? 1 : 0;
      }
      System.out.printf("64 concurrent calls to digits-a: %d correct%n", correct);
      for (ModelInfo m : manager.models()) {
        System.out.printf("%s: %s on %s, %d calls in %d batches, loaded %d times, p50 %d us,"
            + " steps %s%n", m.id(), m.state(), m.devices(), m.requests(), m.batches(),
            m.loads(), m.p50Micros(), m.optimizations());
      }
      for (DeviceStats d : manager.stats()) {
        System.out.printf("%s: budget %d B, used %d B, %d loads, %d evictions, models %s%n",
            d.device(), d.budgetBytes(), d.usedBytes(), d.loads(), d.evictions(), d.models());
      }
    }
  }
}
