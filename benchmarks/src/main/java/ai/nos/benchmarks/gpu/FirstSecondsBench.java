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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The first seconds after a load (issue 15, item 12; scripts/gpu/bench.sh firstminute): ResNet-50
 * fp16 {@code auto}, dynamic batching with maxBatchSize 256 and a 5 ms delay, 256 closed-loop
 * clients of one image each starting the moment {@code load} returns. Reported per consecutive
 * 1 s window for the first {@code WINDOWS} seconds (images completed in the window, p99 of the
 * calls completed in it), then one 10 s window as the warm reference. Runs: without preferred
 * sizes (the buckets NOS derives), with preferred sizes 32/64/128/256, and the first again after
 * an unload, as a reload after eviction would load it. Each run has a manager of its own, so its
 * loader and worker threads start cold.
 *
 * <p>Target: from the first window, p99 within maxQueueDelay + 2 x the largest batch's time (the
 * warm reference's 256 / images-per-second), and images/s within 10% of the warm reference.
 *
 * <p>Args: MODELS_DIR [WINDOWS (default 20)].
 */
public final class FirstSecondsBench {
  private static final int CLIENTS = 256;
  private static final int MAX_BATCH = 256;
  private static final Duration DELAY = Duration.ofMillis(5);
  private static final int WARM_SECONDS = 10;

  private FirstSecondsBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int windows = args.length > 1 ? Integer.parseInt(args[1]) : 20;
    System.out.printf("FirstSecondsBench: %s, ResNet-50 fp16 auto, %d clients, maxBatchSize %d,"
        + " delay %d ms%n", TorchRuntime.cudaDeviceName(0), CLIENTS, MAX_BATCH,
        DELAY.toMillis());
    List<Run> runs = new ArrayList<>();
    ModelSpec base = GpuModels.resnet50(dir, "resnet50-first", Precision.FP16, MAX_BATCH)
        .toBuilder().device("cuda:0").optimize(Optimization.AUTO).build();
    Batching.Builder batching = Batching.builder().maxBatchSize(MAX_BATCH).maxQueueDelay(DELAY)
        .maxQueueSize(4096);
    ModelSpec derived = base.toBuilder().id("resnet50-derived").batching(batching.build())
        .build();
    ModelSpec preferred = base.toBuilder().id("resnet50-preferred")
        .batching(batching.preferredBatchSizes(32, 64, 128, 256).build()).build();
    try (ModelManager manager = ModelManager.builder().noFootprintCatalog().build()) {
      runs.add(run("no preferred sizes", manager, derived, windows));
      manager.unload(derived.id());
      runs.add(run("no preferred sizes, reloaded", manager, derived, windows));
    }
    try (ModelManager manager = ModelManager.builder().noFootprintCatalog().build()) {
      runs.add(run("preferred 32/64/128/256", manager, preferred, windows));
    }
    System.out.println();
    StringBuilder head = new StringBuilder("| second after load |");
    StringBuilder rule = new StringBuilder("|---|");
    for (Run r : runs) {
      head.append(" ").append(r.name).append(": images/s | p99 ms |");
      rule.append("---|---|");
    }
    System.out.println(head);
    System.out.println(rule);
    for (int w = 0; w <= windows; w++) {
      StringBuilder row = new StringBuilder(w < windows ? "| " + w + "-" + (w + 1) + " |"
          : "| warm (" + windows + "-" + (windows + WARM_SECONDS) + ") |");
      for (Run r : runs) {
        row.append(String.format(" %.0f | %.1f |", r.rate[w], r.p99[w]));
      }
      System.out.println(row);
    }
    runs.forEach(r -> System.out.println(r.verdict));
  }

  /** One run's windows: images/s and p99 ms per second after load, the last one warm. */
  private record Run(String name, double[] rate, double[] p99, String verdict) {}

  private static Run run(String name, ModelManager manager, ModelSpec spec, int windows)
      throws Exception {
    Map<String, Tensor> one = GpuModels.inputs(spec, 1, 4);
    long loadStart = System.nanoTime();
    Model model = manager.load(spec);
    long t0 = System.nanoTime();
    long loadMillis = (t0 - loadStart) / 1_000_000;
    ModelInfo info = manager.models().stream().filter(i -> i.id().equals(spec.id()))
        .findFirst().orElseThrow();
    int seconds = windows + WARM_SECONDS;
    long end = t0 + TimeUnit.SECONDS.toNanos(seconds);
    // Per client: pairs of (completion time since t0, latency), in nanoseconds.
    long[][] samples = new long[CLIENTS][];
    int[] counts = new int[CLIENTS];
    CountDownLatch done = new CountDownLatch(CLIENTS);
    List<Thread> clients = new ArrayList<>();
    for (int c = 0; c < CLIENTS; c++) {
      int me = c;
      Thread t = new Thread(() -> {
        long[] mine = new long[2048];
        int n = 0;
        try {
          for (long s = System.nanoTime(); s < end; s = System.nanoTime()) {
            model.inferAsync(one).join();
            long now = System.nanoTime();
            if (n + 2 > mine.length) {
              mine = Arrays.copyOf(mine, mine.length * 2);
            }
            mine[n++] = now - t0;
            mine[n++] = now - s;
          }
        } finally {
          samples[me] = mine;
          counts[me] = n;
          done.countDown();
        }
      }, "client-" + c);
      t.setDaemon(true);
      clients.add(t);
    }
    clients.forEach(Thread::start);
    if (!done.await(seconds + 120, TimeUnit.SECONDS)) {
      throw new IllegalStateException(name + ": clients did not finish");
    }
    // Window w (0 <= w < windows) is second w after load; window `windows` is the warm one.
    List<List<Long>> latencies = new ArrayList<>();
    for (int w = 0; w <= windows; w++) {
      latencies.add(new ArrayList<>());
    }
    for (int c = 0; c < CLIENTS; c++) {
      for (int i = 0; i < counts[c]; i += 2) {
        long at = samples[c][i];
        int w = (int) Math.min(windows, at / 1_000_000_000L);
        if (at < TimeUnit.SECONDS.toNanos(seconds)) {
          latencies.get(w).add(samples[c][i + 1]);
        }
      }
    }
    double[] rate = new double[windows + 1];
    double[] p99 = new double[windows + 1];
    for (int w = 0; w <= windows; w++) {
      List<Long> l = latencies.get(w);
      l.sort(null);
      rate[w] = l.size() / (double) (w < windows ? 1 : WARM_SECONDS);
      p99[w] = l.isEmpty() ? Double.NaN
          : l.get((int) Math.min(l.size() - 1, l.size() * 0.99)) / 1e6;
    }
    double warm = rate[windows];
    double bound = DELAY.toMillis() + 2 * (MAX_BATCH * 1000.0 / warm);
    int firstGood = -1;
    for (int w = 0; w < windows; w++) {
      boolean good = p99[w] <= bound && rate[w] >= 0.9 * warm;
      if (good && firstGood < 0) {
        firstGood = w;
      } else if (!good) {
        firstGood = -1;
      }
    }
    String verdict = String.format("%s: load %d ms (warm-up %d ms, buckets %s); warm %.0f"
        + " images/s, p99 bound %.1f ms (delay + 2 x %.1f ms); first second %.0f images/s (%.0f%%"
        + " of warm), p99 %.1f ms; on target from second %s", name, loadMillis,
        info.warmUp().toMillis(), info.batchBuckets(), warm, bound, MAX_BATCH * 1000.0 / warm,
        rate[0], 100 * rate[0] / warm, p99[0],
        firstGood < 0 ? "never (within the windows)" : String.valueOf(firstGood));
    System.out.println(verdict);
    return new Run(name, rate, p99, verdict);
  }
}
