package ai.nos.benchmarks.gpu;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Precision;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Issue 24's table: ResNet-50 fp16 auto, two copies under a budget for one, the call that swaps
 * an evicted copy back (host tier on, and off as before it); the first call after a load on a
 * thread that never called it, against a warm call; and a swap storm of 8 copies with room for 2
 * on the GPU under 16 threads calling at random, tier on and off.
 *
 * <p>{@code SwapBench DIR [STORM_SECONDS]}; DIR holds resnet50.pt (make_gpu_models.py).
 */
public final class SwapBench {
  private static final List<String> ROWS = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    double stormSeconds = args.length > 1 ? Double.parseDouble(args[1]) : 20;
    Map<String, Tensor> input = GpuModels.inputs(spec(dir, "probe", false), 1, 1);
    long bytes = footprint(spec(dir, "probe", false), input);
    // A copy with CUDA graphs holds their pool too: its budget is sized from its own footprint
    // (the first run of this bench sized both from the plain copy and the graphs copy did not fit).
    // One probe is enough: the device's recording thread's one-time cuBLAS and cuDNN state is
    // booked as the device's overhead, made before the first graphs copy is measured
    // (TorchBackend, "Measuring"); the ninth session's run, before that, had to probe twice.
    long graphBytes = footprint(spec(dir, "probe-graphs", true), input);
    for (boolean graphs : new boolean[] {false, true}) {
      for (boolean tier : new boolean[] {true, false}) {
        swaps(dir, graphs, tier, graphs ? graphBytes : bytes, input, tier ? 12 : 6);
      }
    }
    firstCall(dir, input);
    for (boolean tier : new boolean[] {true, false}) {
      storm(dir, tier, bytes, input, stormSeconds);
    }
    System.out.println();
    System.out.println("SwapBench (ResNet-50 fp16, batch 1, " + bytes + " bytes a copy)");
    System.out.println("| row | median ms | p90/p99 ms | other |");
    System.out.println("|---|---|---|---|");
    ROWS.forEach(System.out::println);
  }

  static ModelSpec spec(Path dir, String id, boolean graphs) {
    return ModelSpec.builder().id(id).artifact(dir.resolve("resnet50.pt"))
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
            .output("logits", DType.FLOAT32, -1, 1000).build())
        .device("cuda:0").precision(Precision.FP16)
        .optimize(graphs ? new Optimization[] {Optimization.AUTO, Optimization.CUDA_GRAPHS}
            : new Optimization[] {Optimization.AUTO})
        .build();
  }

  static long footprint(ModelSpec spec, Map<String, Tensor> input) {
    try (ModelManager m = ModelManager.builder().devices(Device.cuda(0)).noFootprintCatalog()
        .build(); Model model = m.load(spec)) {
      model.infer(input);
      return m.models().get(0).bytes();
    }
  }

  static ModelManager tight(long deviceBytes, boolean tier) {
    return ModelManager.builder().devices(Device.cuda(0)).noFootprintCatalog()
        .memoryBudget(Device.cuda(0), deviceBytes).hostMemoryBytes(tier ? 8L << 30 : 0).build();
  }

  static void swaps(Path dir, boolean graphs, boolean tier, long bytes,
      Map<String, Tensor> input, int n) {
    String name = "swap back, auto" + (graphs ? " + cuda_graphs" : "") + ", host tier "
        + (tier ? "on" : "off (before #24)");
    try (ModelManager m = tight(bytes * 3 / 2, tier);
        Model a = m.load(spec(dir, "a", graphs)); Model b = m.load(spec(dir, "b", graphs))) {
      a.infer(input);
      b.infer(input);
      List<Long> t = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        for (Model x : List.of(a, b)) {
          long t0 = System.nanoTime();
          x.infer(input);
          t.add(System.nanoTime() - t0);
        }
      }
      long evictions = m.stats().get(0).evictions();
      if (evictions < t.size()) {
        throw new IllegalStateException(name + ": " + t.size() + " calls but " + evictions
            + " evictions: the budget (" + bytes * 3 / 2 + " bytes) holds both copies, so the"
            + " calls swapped nothing");
      }
      Collections.sort(t);
      ROWS.add(String.format("| %s | %.1f | %.1f | %d swaps |", name, ms(t, 0.5), ms(t, 0.9),
          t.size()));
      System.out.println(ROWS.get(ROWS.size() - 1));
    }
  }

  /** A copy loaded by the manager, then called from a thread that never called it. */
  static void firstCall(Path dir, Map<String, Tensor> input) throws Exception {
    try (ModelManager m = ModelManager.builder().devices(Device.cuda(0)).noFootprintCatalog()
        .build()) {
      Model warmer = m.load(spec(dir, "other", false));
      warmer.infer(input);
      Model model = m.load(spec(dir, "first", false));
      long[] first = new long[1];
      List<Long> warm = new ArrayList<>();
      Thread caller = new Thread(() -> {
        long t0 = System.nanoTime();
        model.infer(input);
        first[0] = System.nanoTime() - t0;
        for (int i = 0; i < 30; i++) {
          long t1 = System.nanoTime();
          model.infer(input);
          warm.add(System.nanoTime() - t1);
        }
      }, "swapbench-caller");
      caller.start();
      caller.join();
      Collections.sort(warm);
      ROWS.add(String.format("| first call after load (fresh thread) | %.1f | - | warm median"
          + " %.2f ms: %.1fx |", first[0] / 1e6, ms(warm, 0.5), first[0] / 1e6 / ms(warm, 0.5)));
      System.out.println(ROWS.get(ROWS.size() - 1));
      model.close();
      warmer.close();
    }
  }

  static void storm(Path dir, boolean tier, long bytes, Map<String, Tensor> input,
      double seconds) throws Exception {
    try (ModelManager m = tight(bytes * 21 / 10, tier)) {
      List<Model> models = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        models.add(m.load(spec(dir, "s" + i, false)));
      }
      ConcurrentLinkedQueue<Long> times = new ConcurrentLinkedQueue<>();
      AtomicLong failures = new AtomicLong();
      CountDownLatch start = new CountDownLatch(1);
      long end = System.nanoTime() + (long) (seconds * 1e9);
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 16; t++) {
        Thread th = new Thread(() -> {
          try {
            start.await();
          } catch (InterruptedException e) {
            return;
          }
          while (System.nanoTime() < end) {
            Model x = models.get(ThreadLocalRandom.current().nextInt(models.size()));
            long t0 = System.nanoTime();
            try {
              x.infer(input);
              times.add(System.nanoTime() - t0);
            } catch (RuntimeException e) {
              failures.incrementAndGet();
            }
          }
        }, "storm-" + t);
        threads.add(th);
        th.start();
      }
      long t0 = System.nanoTime();
      start.countDown();
      for (Thread th : threads) {
        th.join();
      }
      double wall = (System.nanoTime() - t0) / 1e9;
      List<Long> t = new ArrayList<>(times);
      Collections.sort(t);
      ROWS.add(String.format("| storm 8 models, room for 2, 16 threads, host tier %s | %.1f |"
          + " %.1f | %.1f calls/s, %d failed, %d evictions |", tier ? "on" : "off", ms(t, 0.5),
          ms(t, 0.99), t.size() / wall, failures.get(), m.stats().get(0).evictions()));
      System.out.println(ROWS.get(ROWS.size() - 1));
      for (Model x : models) {
        x.close();
      }
    }
  }

  static double ms(List<Long> sorted, double q) {
    if (sorted.isEmpty()) {
      return Double.NaN;
    }
    return sorted.get(Math.min(sorted.size() - 1, (int) (sorted.size() * q))) / 1e6;
  }
}
