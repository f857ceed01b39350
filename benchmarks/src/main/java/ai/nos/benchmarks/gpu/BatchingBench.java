package ai.nos.benchmarks.gpu;

import ai.nos.Batching;
import ai.nos.Model;
import ai.nos.ModelInfo;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Dynamic batching on the GPU machine (scripts/gpu/bench.sh): ResNet-50 fp16 on one GPU, clients
 * sending single images from 1, 8, 64 and 256 threads, against the same model fed full offline
 * batches. Python torch eager on the same card is printed by scripts/gpu/torch_baseline.py in the
 * same run.
 *
 * <p>Args: MODELS_DIR SECONDS_PER_ROW. {@code -Dnos.bench.optimize=auto,cuda_graphs}: see
 * {@link #OPTIMIZE}.
 */
public final class BatchingBench {
  private static final List<Duration> DELAYS = List.of(Duration.ofMillis(2), Duration.ofMillis(5),
      Duration.ofMillis(10));

  /**
   * With -Dnos.bench.optimize=auto,cuda_graphs (labels, comma-separated) every copy loads with
   * those steps (what an application serving ResNet-50 would ask for), and the batched copies
   * with preferred batch sizes 32/64/128/256 when CUDA graphs are asked for. Default: none (the
   * plain fp16 TorchScript file, the rows of earlier sessions).
   */
  private static final List<Optimization> OPTIMIZE = optimizations(
      System.getProperty("nos.bench.optimize", ""));

  private static List<Optimization> optimizations(String labels) {
    List<Optimization> out = new ArrayList<>();
    for (String label : labels.split(",")) {
      if (!label.isBlank()) {
        out.add(Optimization.of(label.trim()));
      }
    }
    return out;
  }

  private BatchingBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    System.out.printf("BatchingBench: %s, ResNet-50 fp16%n", TorchRuntime.cudaDeviceName(0));
    List<String> summary = new ArrayList<>();
    ModelSpec offline = GpuModels.resnet50(dir, "resnet50-offline", Precision.FP16, 256).toBuilder()
        .device("cuda:0").build();
    if (!OPTIMIZE.isEmpty()) {
      offline = offline.toBuilder().optimize(OPTIMIZE.toArray(new Optimization[0])).build();
      System.out.printf("BatchingBench: load-time steps %s on every copy%n", OPTIMIZE);
    }
    System.out.println("| path | clients | batch | images/s | p50 ms | p99 ms | mean batch run |");
    System.out.println("|---|---|---|---|---|---|---|");
    double offline256 = 0;
    double batchMillis;
    try (ModelManager manager = ModelManager.builder().noFootprintCatalog().build()) {
      try (Model m = manager.load(offline)) {
        for (int batch : new int[] {1, 32, 256}) {
          Map<String, Tensor> in = GpuModels.inputs(offline, batch, 3);
          double[] r = closedLoop(m, in, batch, 1, seconds);
          System.out.printf("| NOS offline batches | 1 | %d | %.0f | %.2f | %.2f | %d |%n", batch,
              r[0], r[1], r[2], batch);
          offline256 = r[0];
        }
        batchMillis = 256_000.0 / offline256;
      }
      // maxQueueDelay is the user's knob between latency and batch size; the target's latency
      // bound grows with it, so 256 clients are measured at a few settings.
      for (Duration delay : DELAYS) {
        Batching.Builder batching = Batching.builder().maxBatchSize(256).maxQueueDelay(delay)
            .maxQueueSize(4096);
        if (OPTIMIZE.contains(Optimization.CUDA_GRAPHS)) {
          batching.preferredBatchSizes(32, 64, 128, 256); // one graph each; calls pad up to one
        }
        ModelSpec batched = offline.toBuilder().id("resnet50-batched-" + delay.toMillis() + "ms")
            .batching(batching.build()).build();
        try (Model m = manager.load(batched)) {
          Map<String, Tensor> one = GpuModels.inputs(batched, 1, 4);
          double[] last = null;
          int[] clientCounts = delay.equals(DELAYS.get(0)) ? new int[] {1, 8, 64, 256}
              : new int[] {256};
          for (int clients : clientCounts) {
            ModelInfo before = info(manager, batched.id());
            last = closedLoop(m, one, 1, clients, seconds);
            ModelInfo after = info(manager, batched.id());
            double meanBatch = (after.requests() - before.requests())
                / (double) Math.max(1, after.batches() - before.batches());
            System.out.printf("| NOS dynamic batching, delay %d ms | %d | 1 | %.0f | %.2f | %.2f"
                + " | %.1f |%n", delay.toMillis(), clients, last[0], last[1], last[2], meanBatch);
          }
          summary.add(String.format("delay %d ms, 256 clients: %.1f%% of offline batch-256"
              + " throughput (target >= 85%%); p99 %.2f ms vs maxQueueDelay + 2 x batch-256 time"
              + " = %.2f ms", delay.toMillis(), 100 * last[0] / offline256, last[2],
              delay.toMillis() + 2 * batchMillis));
        }
      }
    }
    summary.forEach(System.out::println);
  }

  private static ModelInfo info(ModelManager manager, String id) {
    return manager.models().stream().filter(i -> i.id().equals(id)).findFirst().orElseThrow();
  }

  /**
   * Throughput (images/s), p50 and p99 (ms per call) of {@code clients} threads calling, in the
   * steady state: the same load runs 2 s unmeasured first (JIT, pinned host blocks and cuDNN
   * plans for new batch sizes are made then).
   */
  static double[] closedLoop(Model m, Map<String, Tensor> in, int batch, int clients, int seconds)
      throws Exception {
    run(m, in, batch, clients, 2);
    return run(m, in, batch, clients, seconds);
  }

  private static double[] run(Model m, Map<String, Tensor> in, int batch, int clients,
      int seconds) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long t0 = System.nanoTime();
    long end = t0 + TimeUnit.SECONDS.toNanos(seconds);
    List<Future<long[]>> fs = new ArrayList<>();
    for (int c = 0; c < clients; c++) {
      fs.add(pool.submit(() -> {
        long[] lat = new long[1 << 16];
        int n = 0;
        while (System.nanoTime() < end) {
          long s = System.nanoTime();
          m.inferAsync(in).join();
          if (n < lat.length) {
            lat[n] = System.nanoTime() - s;
          }
          n++;
        }
        long[] out = Arrays.copyOf(lat, Math.min(n, lat.length) + 1);
        out[out.length - 1] = n;
        return out;
      }));
    }
    long calls = 0;
    List<Long> all = new ArrayList<>();
    for (Future<long[]> f : fs) {
      long[] r = f.get();
      calls += r[r.length - 1];
      for (int i = 0; i < r.length - 1; i++) {
        all.add(r[i]);
      }
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    pool.shutdown();
    long[] sorted = all.stream().mapToLong(Long::longValue).sorted().toArray();
    return new double[] {calls * batch / secs, sorted[sorted.length / 2] / 1e6,
        sorted[(int) Math.min(sorted.length - 1, sorted.length * 0.99)] / 1e6};
  }
}
