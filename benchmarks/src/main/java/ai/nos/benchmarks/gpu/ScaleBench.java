package ai.nos.benchmarks.gpu;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelInfo;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.ScalingPolicy;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Issue 23's table: a step load of 4x against a model with a {@link ScalingPolicy}, and the
 * replicas and throughput second by second. Closed-loop clients (each one call in flight) run
 * {@code C} for a phase, {@code 4C} for a phase, then {@code C} again; the policy wants 4 calls
 * outstanding per copy, between 1 and 4 copies, with a 5 s scale-down window and a 250 ms loop.
 * Each row ends with the decisions made in its second ("up 1 -> 2", "kept the copy on cuda:0",
 * "down 2 -> 1"); their reasons (a trial's calls/s before and after) follow the table.
 *
 * <p>{@code ScaleBench gpu DIR [PHASE_SECONDS] [CLIENTS]}: ResNet-50 fp16 from DIR
 * (make_gpu_models.py) on every GPU (copies go to other GPUs first, then share one).
 * {@code ScaleBench cpu MODELS_DIR [PHASE_SECONDS] [CLIENTS]}: the digit CNN
 * ({@code models/digits}) on the CPU, whose copies share the one CPU device.
 */
public final class ScaleBench {
  public static void main(String[] args) throws Exception {
    boolean gpu = args[0].equals("gpu");
    Path dir = Path.of(args[1]);
    int phase = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    int clients = args.length > 3 ? Integer.parseInt(args[3]) : 4;
    ScalingPolicy policy = ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(5));
    ModelSpec spec;
    Map<String, Tensor> input;
    if (gpu) {
      spec = SwapBench.spec(dir, "resnet50-scaled", false).toBuilder()
          .precision(Precision.FP16).device("auto")
          .batching(Batching.builder().maxBatchSize(8).maxQueueDelay(Duration.ofMillis(1)).build())
          .scaling(policy).build();
      input = GpuModels.inputs(spec, 1, 1);
    } else {
      spec = ModelSpec.fromJson(dir.resolve("digits/digits.json")).toBuilder().id("digits-scaled")
          .artifact(dir.resolve("digits/digits.pt")).device("cpu")
          .batching(Batching.builder().maxBatchSize(8).maxQueueDelay(Duration.ofMillis(1)).build())
          .scaling(policy).build();
      float[] pixels = new float[64];
      Random random = new Random(1);
      for (int i = 0; i < pixels.length; i++) {
        pixels[i] = random.nextInt(17) / 16f;
      }
      input = Map.of(spec.signature().inputs().get(0).name(), Tensor.of(pixels, 1, 1, 8, 8));
    }
    ModelManager.Builder b = ModelManager.builder().scalingInterval(Duration.ofMillis(250))
        .noFootprintCatalog();
    if (!gpu) {
      b.devices(Device.cpu());
    }
    List<String> rows = new ArrayList<>();
    List<String> decisions = new ArrayList<>();
    LongAdder done = new LongAdder();
    LongAdder failed = new LongAdder();
    try (ModelManager manager = b.build(); Model model = manager.load(spec)) {
      model.infer(input);
      int[] levels = {clients, 4 * clients, clients};
      AtomicInteger level = new AtomicInteger();
      AtomicBoolean stop = new AtomicBoolean();
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < 4 * clients; i++) {
        int me = i;
        Map<String, Tensor> in = input;
        Thread t = new Thread(() -> {
          while (!stop.get()) {
            if (me >= level.get()) {
              try {
                Thread.sleep(2);
              } catch (InterruptedException e) {
                return;
              }
              continue;
            }
            try {
              model.infer(in);
              done.increment();
            } catch (RuntimeException e) {
              failed.increment();
            }
          }
        }, "client-" + i);
        t.setDaemon(true);
        threads.add(t);
        t.start();
      }
      long start = System.nanoTime();
      long before = 0;
      String decision = manager.models().get(0).lastScaling();
      for (int s = 0; s < 3 * phase; s++) {
        level.set(levels[s / phase]);
        // Polls the last decision through the second, so that each one is seen with its second.
        List<String> madeNow = new ArrayList<>();
        long end = start + (s + 1) * 1_000_000_000L;
        for (long left; (left = end - System.nanoTime()) > 0; ) {
          Thread.sleep(Math.max(1, Math.min(20, left / 1_000_000)));
          String last = manager.models().get(0).lastScaling();
          if (!last.equals(decision)) {
            decision = last;
            madeNow.add(last.contains(":") ? last.substring(0, last.indexOf(':')) : last);
            decisions.add("s " + (s + 1) + ": " + last);
          }
        }
        long now = done.sum();
        ModelInfo info = manager.models().get(0);
        rows.add("| " + (s + 1) + " | " + levels[s / phase] + " | " + info.currentReplicas() + " | "
            + info.replicas() + " | " + info.devices() + " | " + (now - before) + " | "
            + info.p99Micros() / 1000.0 + " | " + String.join("; ", madeNow) + " |");
        before = now;
      }
      stop.set(true);
      for (Thread t : threads) {
        t.join();
      }
      ModelInfo last = manager.models().get(0);
      System.out.println();
      System.out.println("ScaleBench " + (gpu ? "gpu" : "cpu") + " (" + spec.id() + ", " + policy
          + "; clients " + clients + " -> " + 4 * clients + " -> " + clients + ", " + phase
          + " s each)");
      System.out.println(
          "| s | clients | copies | wanted | devices | calls/s | p99 ms | decision |");
      System.out.println("|---|---|---|---|---|---|---|---|");
      rows.forEach(System.out::println);
      System.out.println("Decisions (second of the table, then the decision and its reason):");
      decisions.forEach(d -> System.out.println("- " + d));
      System.out.println("calls " + done.sum() + ", failed " + failed.sum() + ", loads "
          + last.loads() + "; last decision: " + last.lastScaling());
    }
  }
}
