package ai.nos.benchmarks.gpu;

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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * The ModelManager on the GPU machine (scripts/gpu/bench.sh): several ResNet-50, ViT-B/16 and
 * BERT-base models over every GPU under a budget that forces eviction, with concurrent traffic;
 * then one ResNet-50's throughput with 1 copy against N copies on N GPUs.
 *
 * <p>Args: MODELS_DIR (from scripts/models/make_gpu_models.py) SECONDS_PER_PHASE.
 */
public final class ManagerBench {
  private ManagerBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 15;
    int gpus = TorchRuntime.cudaDeviceCount();
    System.out.printf("ManagerBench: %d x %s%n", gpus, TorchRuntime.cudaDeviceName(0));
    Path catalog = Files.createTempDirectory("nos-bench").resolve("footprints.json");
    List<ModelSpec> specs = List.of(
        GpuModels.resnet50(dir, "resnet50-a", Precision.FP32, 16),
        GpuModels.resnet50(dir, "resnet50-b", Precision.FP32, 16),
        GpuModels.vit(dir, "vit-a", 16), GpuModels.vit(dir, "vit-b", 16),
        GpuModels.bert(dir, "bert-a", 16), GpuModels.bert(dir, "bert-b", 16));

    // Measure every model once, with room for all, so the tight run places by measurement.
    long total = 0;
    long largest = 0;
    try (ModelManager roomy = ModelManager.builder().footprintCatalog(catalog).build()) {
      for (Model m : roomy.loadAll(specs)) {
        m.close();
      }
    }
    try (ModelManager probe = ModelManager.builder().footprintCatalog(catalog)
        .placement(ai.nos.Placement.SPREAD).build()) {
      for (ModelSpec s : specs) {
        try (Model m = probe.load(s)) {
          long b = probe.models().get(0).bytes();
          total += b;
          largest = Math.max(largest, b);
          System.out.printf("  measured %-11s %,14d bytes%n", s.id(), b);
        }
      }
    }
    // Room for about 60% of the models at once: traffic must evict.
    long budget = Math.max(largest + 1, (long) (0.6 * total / gpus));
    ModelManager.Builder b = ModelManager.builder().footprintCatalog(catalog);
    for (int i = 0; i < gpus; i++) {
      b.memoryBudget(Device.cuda(i), budget);
    }
    System.out.printf("phase A: %d models (%,d bytes in all) on %d GPUs, budget %,d bytes each,"
        + " 16 threads, %d s%n", specs.size(), total, gpus, budget, seconds);
    try (ModelManager tight = b.build()) {
      List<Model> models = tight.loadAll(specs);
      List<Map<String, Tensor>> inputs = new ArrayList<>();
      for (ModelSpec s : specs) {
        inputs.add(GpuModels.inputs(s, 8, 1));
      }
      LongAdder calls = new LongAdder();
      LongAdder failures = new LongAdder();
      run(16, seconds, () -> {
        int i = (int) Math.min(specs.size() - 1,
            Math.abs(ThreadLocalRandom.current().nextGaussian() * 2));
        try {
          models.get(i).infer(inputs.get(i));
          calls.increment();
        } catch (RuntimeException e) {
          failures.increment();
          System.out.println("  call failed: " + e.getMessage());
        }
      });
      System.out.printf("  %d calls, %d failed%n", calls.sum(), failures.sum());
      System.out.println("| device | models placed | booked bytes (measured) | allocator allocated"
          + " | allocator reserved | loads | evictions |");
      System.out.println("|---|---|---|---|---|---|---|");
      for (DeviceStats d : tight.stats()) {
        if (!d.device().isCuda()) {
          continue;
        }
        int idx = d.device().index().orElse(0);
        System.out.printf("| %s | %s | %,d | %,d | %,d | %d | %d |%n", d.device(), d.models(),
            d.usedBytes(), d.allocatedBytes(),
            TorchRuntime.cudaReservedBytes(idx), d.loads(), d.evictions());
      }
      for (ModelInfo m : tight.models()) {
        System.out.printf("  %-11s %-8s %s bytes %,d requests %d p50 %d us p99 %d us loads %d%n",
            m.id(), m.state(), m.devices(), m.bytes(), m.requests(), m.p50Micros(),
            m.p99Micros(), m.loads());
      }
      models.forEach(Model::close);
    }
    // What stays allocated with no model at all: libtorch's per-thread library workspaces
    // (cuBLAS/cuBLASLt, one per thread that ran a kernel on the device), which no model owns.
    TorchRuntime.cudaEmptyCache();
    StringBuilder floor = new StringBuilder("  allocator allocated after every model is gone:");
    for (int i = 0; i < gpus; i++) {
      floor.append(String.format(" cuda:%d %,d", i, TorchRuntime.cudaAllocatedBytes(i)));
    }
    System.out.println(floor + " bytes");

    System.out.printf("phase B: ResNet-50 fp32 batch 32, 1 copy vs %d copies, 8 threads per"
        + " copy, %d s each%n", gpus, seconds);
    try (ModelManager m = ModelManager.builder().footprintCatalog(catalog).build();
        Model r = m.load(GpuModels.resnet50(dir, "resnet50", Precision.FP32, 32))) {
      Map<String, Tensor> in = GpuModels.inputs(r.spec(), 32, 2);
      for (int i = 0; i < 3; i++) {
        r.infer(in);
      }
      double one = throughput(r, in, 8, seconds);
      m.scale("resnet50", gpus);
      for (int i = 0; i < 3 * gpus; i++) {
        r.infer(in);
      }
      double n = throughput(r, in, 8 * gpus, seconds);
      System.out.printf("| copies | images/s |%n|---|---|%n| 1 | %.0f |%n| %d | %.0f |%n", one,
          gpus, n);
      System.out.printf("scaling: %.2f x with %d copies (target >= %.1f x)%n", n / one, gpus,
          0.9 * gpus);
    }
  }

  private static double throughput(Model model, Map<String, Tensor> in, int threads, int seconds)
      throws Exception {
    LongAdder images = new LongAdder();
    long t0 = System.nanoTime();
    run(threads, seconds, () -> {
      model.infer(in);
      images.add(32);
    });
    return images.sum() / ((System.nanoTime() - t0) / 1e9);
  }

  private static void run(int threads, int seconds, Runnable call) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    List<Future<?>> fs = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      fs.add(pool.submit(() -> {
        while (System.nanoTime() < end) {
          call.run();
        }
      }));
    }
    for (Future<?> f : fs) {
      f.get();
    }
    pool.shutdown();
  }
}
