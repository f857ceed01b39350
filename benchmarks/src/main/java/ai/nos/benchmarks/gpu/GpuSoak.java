package ai.nos.benchmarks.gpu;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.Model;
import ai.nos.ModelInfo;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.Pointer;

/**
 * The long run of issue #7 on the GPU machine (scripts/gpu/bench.sh soak): four models
 * (ResNet-50 fp16 batched, ResNet-50 fp32, ViT-B/16 batched, a BERT-base-sized encoder) on
 * cuda:0 under a budget of 55% of their footprints, 16 threads, a working set that shifts so
 * that models are evicted and loaded again all along. Prints requests sent, served, failed and
 * lost, and at the start and after each quarter: device bytes (allocated, reserved), RSS, JavaCPP
 * bytes, live threads, loads and evictions; then what close() leaves behind.
 *
 * <p>Every output is checked for its shape and for finite values; a request that neither
 * completes nor fails within 60 s counts as lost. Args: MODELS_DIR SECONDS.
 */
public final class GpuSoak {
  private static final int THREADS = 16;
  private static final int WINDOW = 8;
  private static final long EPOCH = 3_000;
  private static final AtomicLong ISSUED = new AtomicLong();
  private static final Batching BATCHING = Batching.builder().maxBatchSize(32)
      .maxQueueDelay(Duration.ofMillis(2)).maxQueueSize(4096).build();

  private GpuSoak() {}

  public static void main(String[] args) {
    int status = 1;
    try {
      soak(args);
      status = 0;
    } catch (Throwable t) {
      t.printStackTrace(System.out);
    } finally {
      // Exit even if a worker is stuck: the GPU script must not hang.
      System.out.flush();
      Runtime.getRuntime().halt(status);
    }
  }

  private static void soak(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 120;
    System.out.printf("GpuSoak: %s, %d s, %d threads%n", TorchRuntime.cudaDeviceName(0), seconds,
        THREADS);
    List<ModelSpec> specs = List.of(
        GpuModels.resnet50(dir, "soak-resnet50-fp16", Precision.FP16, 32).toBuilder()
            .batching(BATCHING).build(),
        GpuModels.resnet50(dir, "soak-resnet50-fp32", Precision.FP32, 4),
        GpuModels.vit(dir, "soak-vit", 32).toBuilder().batching(BATCHING).build(),
        GpuModels.bert(dir, "soak-bert", 4));
    List<Map<String, Tensor>> inputs = new ArrayList<>();
    for (ModelSpec s : specs) {
      inputs.add(GpuModels.inputs(s, s.batching().isPresent() ? 1 : 4, 5));
    }
    Path catalog = Files.createTempDirectory("nos-soak").resolve("footprints.json");
    long[] bytes = new long[specs.size()];
    // Twice: the first load on the manager's loader thread also measures that thread's new
    // cuBLAS/cuDNN workspaces; the second pass gives the footprints reloads will measure, so
    // that the budget below really holds only about two models (on 2026-11-27 the first-pass
    // figures made a budget that later held all four, and eviction stopped half way).
    try (ModelManager roomy = ModelManager.builder().devices(Device.cuda(0))
        .footprintCatalog(catalog).build()) {
      measure(roomy, specs, inputs, bytes);
      measure(roomy, specs, inputs, bytes);
    }
    long[] sorted = bytes.clone();
    java.util.Arrays.sort(sorted);
    // 55% of the sum (at least 1.2 x the largest, so each model can load alone): on 2026-11-27
    // a budget of the two largest plus half the smallest (76% of the sum) held all four after
    // the first quarter (loads and evictions stopped at 55 / 51; booked 896 MiB against 1,344
    // MiB of first-pass footprints), so later measurements must have come out about a third
    // lower. The per-model lines at the end now print each model's booked bytes.
    long sum = java.util.Arrays.stream(bytes).sum();
    long budget = Math.max(sorted[3] * 6 / 5, sum * 55 / 100);
    System.out.printf("footprints %s, budget %,d bytes (sum %,d)%n", java.util.Arrays.toString(
        bytes), budget, java.util.Arrays.stream(bytes).sum());

    AtomicLong sent = new AtomicLong();
    AtomicLong served = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    AtomicLong bad = new AtomicLong();
    List<String> rows = new ArrayList<>();
    long t0 = System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    ModelManager manager = ModelManager.builder().devices(Device.cuda(0))
        .footprintCatalog(catalog).memoryBudget(Device.cuda(0), budget)
        .loadTimeout(Duration.ofSeconds(120)).build();
    List<Model> models = new ArrayList<>();
    for (ModelSpec s : specs) {
      models.add(manager.load(s));
    }
    run(pool, models, specs, inputs, 5, sent, served, failed, bad, false);
    rows.add(snapshot(manager, "start", sent.get()));
    String[] points = {"1/4", "middle", "3/4", "end"};
    for (int q = 0; q < 4; q++) {
      run(pool, models, specs, inputs, seconds / 4, sent, served, failed, bad, true);
      rows.add(snapshot(manager, points[q], sent.get()));
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    DeviceStats d = manager.stats().get(0);
    System.out.printf("%d sent, %d served, %d failed, %d lost, %d bad outputs in %.0f s;"
        + " %d loads, %d evictions%n", sent.get(), served.get(), failed.get(),
        sent.get() - served.get() - failed.get(), bad.get(), secs, d.loads(), d.evictions());
    System.out.println("| point | requests | device allocated MiB | device reserved MiB | RSS MiB"
        + " | JavaCPP KiB | threads | loads | evictions | booked MiB |");
    System.out.println("|---|---|---|---|---|---|---|---|---|---|");
    rows.forEach(System.out::println);
    for (ModelInfo info : manager.models()) {
      System.out.printf("  %-20s requests %8d failures %d loads %4d batches %7d p50 %d us"
          + " p99 %d us booked %,d bytes%n", info.id(), info.requests(), info.failures(),
          info.loads(), info.batches(), info.p50Micros(), info.p99Micros(), info.bytes());
    }
    models.forEach(Model::close);
    long closeStart = System.nanoTime();
    manager.close();
    pool.shutdown();
    pool.awaitTermination(10, TimeUnit.SECONDS);
    TorchRuntime.cudaEmptyCache();
    long nonDaemon = Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && !t.isDaemon() && t != Thread.currentThread()).count();
    System.out.printf("after close (%.0f ms): device allocated %d MiB, reserved %d MiB,"
        + " non-daemon threads besides main %d%n", (System.nanoTime() - closeStart) / 1e6,
        TorchRuntime.cudaAllocatedBytes(0) >> 20, TorchRuntime.cudaReservedBytes(0) >> 20,
        nonDaemon);
  }

  private static void measure(ModelManager manager, List<ModelSpec> specs,
      List<Map<String, Tensor>> inputs, long[] bytes) {
    for (int i = 0; i < specs.size(); i++) {
      try (Model m = manager.load(specs.get(i))) {
        m.infer(inputs.get(i));
        String id = specs.get(i).id();
        bytes[i] = manager.models().stream().filter(x -> x.id().equals(id)).findFirst()
            .orElseThrow().bytes();
      }
    }
  }

  private static void run(ExecutorService pool, List<Model> models, List<ModelSpec> specs,
      List<Map<String, Tensor>> inputs, int seconds, AtomicLong sent, AtomicLong served,
      AtomicLong failed, AtomicLong bad, boolean count) throws Exception {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<?>> fs = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      long seed = ISSUED.get() + t;
      fs.add(pool.submit(() -> {
        go.await();
        SplittableRandom random = new SplittableRandom(seed);
        ArrayDeque<CompletableFuture<Map<String, Tensor>>> window = new ArrayDeque<>();
        ArrayDeque<ModelSpec> windowSpecs = new ArrayDeque<>();
        while (System.nanoTime() < end) {
          int which = pick(random, ISSUED.getAndIncrement() / EPOCH % 2 == 0);
          ModelSpec spec = specs.get(which);
          if (count) {
            sent.incrementAndGet();
          }
          if (spec.batching().isPresent()) {
            CompletableFuture<Map<String, Tensor>> f;
            try {
              f = models.get(which).inferAsync(inputs.get(which));
            } catch (RuntimeException e) {
              f = CompletableFuture.failedFuture(e);
            }
            window.add(f);
            windowSpecs.add(spec);
            if (window.size() >= WINDOW) {
              settle(window.poll(), windowSpecs.poll(), count, served, failed, bad);
            }
          } else {
            settle(CompletableFuture.supplyAsync(() -> models.get(which).infer(
                inputs.get(which)), Runnable::run), spec, count, served, failed, bad);
          }
        }
        while (!window.isEmpty()) {
          settle(window.poll(), windowSpecs.poll(), count, served, failed, bad);
        }
        return null;
      }));
    }
    go.countDown();
    for (Future<?> f : fs) {
      f.get();
    }
  }

  /** ResNet-50 fp16 and ViT take turns as the hot model; the other two share the rest. */
  private static int pick(SplittableRandom random, boolean first) {
    int r = random.nextInt(100);
    return r < 50 ? (first ? 0 : 2) : r < 80 ? 1 : 3;
  }

  private static void settle(CompletableFuture<Map<String, Tensor>> f, ModelSpec spec,
      boolean count, AtomicLong served, AtomicLong failed, AtomicLong bad) {
    try {
      Map<String, Tensor> out = f.get(60, TimeUnit.SECONDS);
      String first = spec.signature().outputs().get(0).name();
      float[] v = out.get(first).toFloatArray();
      boolean ok = v.length > 0;
      for (float x : v) {
        ok &= Float.isFinite(x);
      }
      if (!ok) {
        bad.incrementAndGet();
      }
      if (count) {
        served.incrementAndGet();
      }
    } catch (java.util.concurrent.TimeoutException e) {
      System.out.println("  lost (no answer in 60 s) on " + spec.id());
    } catch (Exception e) {
      if (count) {
        failed.incrementAndGet();
      }
      System.out.println("  failed on " + spec.id() + ": " + e);
    }
  }

  private static String snapshot(ModelManager manager, String point, long requests)
      throws Exception {
    DeviceStats d = manager.stats().get(0);
    long rss = 0;
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        rss = Long.parseLong(line.replaceAll("[^0-9]", "")) >> 10;
      }
    }
    return String.format("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d |", point, requests,
        TorchRuntime.cudaAllocatedBytes(0) >> 20, TorchRuntime.cudaReservedBytes(0) >> 20, rss,
        Pointer.totalBytes() >> 10, Thread.activeCount(), d.loads(), d.evictions(),
        d.usedBytes() >> 20);
  }
}
