package ai.nos.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.ModelInfo;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A long run over four models through one manager whose CPU budget holds only about two of them:
 * every request is served and correct, models are evicted and loaded again all along, and RSS,
 * JavaCPP's native bytes, the thread count and the budget in use stay flat.
 *
 * <p>Each of the 8 threads runs its share of requests in two halves, and measurement happens
 * between them with every thread parked, so the middle and end figures are taken in the same
 * quiet state. Half the models batch (up to 16 calls, 1 ms delay); the threads send to those
 * with {@code inferAsync}, keeping a window of futures in flight so that batches form, and call
 * the other two with {@code infer}. Every output is compared with the one the model gave alone,
 * computed up front in a roomy manager. The specs state the footprints measured there, since
 * without a catalog the manager would otherwise book its estimate (for digits, more than the
 * model measures) and the budget would have to fit that instead.
 */
@Timeout(180)
final class SoakTest {
  /**
   * Requests over all threads: 200,000 by default (the GPU script, {@code -Psoak}); the build
   * runs 20,000 ({@code nos.soak.requests} in the parent pom), which still evicts dozens of times.
   */
  private static final int REQUESTS = Integer.getInteger("nos.soak.requests", 200_000);
  private static final int THREADS = 8;
  private static final int WINDOW = 16;
  private static final int WARM_UP = 2_000;
  /** Requests (over all threads) between switches of the working set from digits to tokens. */
  private static final long EPOCH = 2_000;
  private static final AtomicLong ISSUED = new AtomicLong();
  private static final int INPUTS = 32;
  private static final long RSS_BOUND = 48L << 20;
  private static final Batching BATCHING = Batching.builder().maxBatchSize(16)
      .maxQueueDelay(Duration.ofMillis(1)).build();

  /** One model under test: its spec, inputs made up front and the outputs each gives alone. */
  private record Case(ModelSpec spec, List<Map<String, Tensor>> inputs,
      List<Map<String, float[]>> reference) {}

  @Test
  void manyRequests_overFourModelsWithEviction_allServed_memoryFlat()
      throws Exception {
    List<ModelSpec> plainSpecs = List.of(
        Fixtures.digitsOn("cpu").toBuilder().id("soak_digits").build(), Fixtures.tokens(),
        Fixtures.dictOut(), Fixtures.twoInTwoOut());
    List<ModelSpec> specs = List.of(plainSpecs.get(0).toBuilder().batching(BATCHING).build(),
        plainSpecs.get(1), plainSpecs.get(2).toBuilder().batching(BATCHING).build(),
        plainSpecs.get(3));
    SplittableRandom random = new SplittableRandom(7);
    List<Case> cases = new ArrayList<>();
    Map<String, Long> footprints = new HashMap<>();
    try (ModelManager roomy = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .build()) {
      for (ModelSpec spec : specs) {
        try (Model m = roomy.load(plainSpecs.get(specs.indexOf(spec)))) {
          List<Map<String, Tensor>> ins = new ArrayList<>();
          List<Map<String, float[]>> refs = new ArrayList<>();
          for (int i = 0; i < INPUTS; i++) {
            Map<String, Tensor> in = inputsFor(spec, random, i);
            ins.add(in);
            Map<String, float[]> out = new HashMap<>();
            m.infer(in).forEach((name, t) -> out.put(name, t.toFloatArray()));
            refs.add(out);
          }
          cases.add(new Case(spec, ins, refs));
        }
      }
      for (ModelSpec spec : specs) {
        try (Model m = roomy.load(plainSpecs.get(specs.indexOf(spec)))) {
          m.infer(cases.get(specs.indexOf(spec)).inputs().get(0));
          footprints.put(spec.id(), roomy.models().stream().filter(i -> i.id().equals(spec.id()))
              .findFirst().orElseThrow().bytes());
        }
      }
    }
    long[] sorted = footprints.values().stream().mapToLong(Long::longValue).sorted().toArray();
    long budget = sorted[3] + sorted[2] - 1;
    System.out.println("SoakTest: footprints " + footprints + ", budget " + budget + " B");
    assertTrue(footprints.values().stream().mapToLong(Long::longValue).sum() > budget);

    try (ModelManager manager = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .memoryBudget(Device.cpu(), budget).loadTimeout(Duration.ofSeconds(60)).build()) {
      List<Model> models = new ArrayList<>();
      for (Case c : cases) {
        models.add(manager.load(c.spec().toBuilder()
            .memoryBytes(Math.max(1, footprints.get(c.spec().id()))).build()));
      }
      AtomicLong sent = new AtomicLong();
      AtomicLong served = new AtomicLong();
      AtomicLong failed = new AtomicLong();
      int perThread = (REQUESTS + THREADS - 1) / THREADS;
      ExecutorService pool = Executors.newFixedThreadPool(THREADS);
      List<String> table = new ArrayList<>();
      long t0 = System.nanoTime();
      try {
        runHalf(pool, models, cases, WARM_UP, 0, sent, served, failed);
        long[] start = snapshot(manager, table, "start", sent.get());
        runHalf(pool, models, cases, perThread / 2, 1, sent, served, failed);
        long[] middle = snapshot(manager, table, "middle", sent.get());
        runHalf(pool, models, cases, perThread - perThread / 2, 2, sent, served, failed);
        long[] end = snapshot(manager, table, "end", sent.get());
        double seconds = (System.nanoTime() - t0) / 1e9;
        DeviceStats cpu = manager.stats().get(0);
        StringBuilder report = new StringBuilder(String.format(
            "SoakTest: %d sent, %d served, %d failed in %.1f s (%.0f/s); %d loads, %d evictions%n",
            sent.get(), served.get(), failed.get(), seconds, served.get() / seconds, cpu.loads(),
            cpu.evictions()));
        report.append(String.format("%-7s %10s %8s %14s %14s %8s %8s %12s%n", "point", "requests",
            "RSS MB", "JavaCPP bytes", "JavaCPP ptrs", "threads", "nos-*", "budget used"));
        table.forEach(report::append);
        for (ModelInfo info : manager.models()) {
          report.append(String.format("  %-15s requests %7d failures %d loads %5d batches %6d"
              + " p50 %d us p99 %d us%n", info.id(), info.requests(), info.failures(),
              info.loads(), info.batches(), info.p50Micros(), info.p99Micros()));
        }
        System.out.print(report);
        // Every thread sent its whole share, whatever length the run was given.
        assertEquals((long) THREADS * perThread, sent.get(), report.toString());
        assertEquals(sent.get(), served.get(), report.toString());
        assertEquals(0, failed.get(), report.toString());
        long counted = manager.models().stream().mapToLong(ModelInfo::requests).sum();
        long warmUp = (long) THREADS * WARM_UP;
        assertEquals(sent.get() + warmUp, counted, "the manager counts every call: " + report);
        assertEquals(0, manager.models().stream().mapToLong(ModelInfo::failures).sum());
        assertTrue(cpu.evictions() > 0, report.toString());
        assertTrue(end[0] - middle[0] < RSS_BOUND, "RSS grew middle to end: " + report);
        assertTrue(end[1] <= start[1], "JavaCPP bytes grew: " + report);
        assertTrue(end[2] <= start[2], "JavaCPP pointers grew: " + report);
        for (long[] point : List.of(start, middle, end)) {
          // Two batched models with two workers each, on pooled threads that outlive their
          // copies: reloads reuse them, so the count stays at what runs at once, not what ran.
          assertTrue(point[4] <= 6, "NOS threads bounded by what runs at once: " + report);
          // Callers' futures complete on a cached pool: at most one thread per call completing
          // at once, i.e. the rows of the batches in flight (2 batched models x 2 workers x 16).
          assertTrue(point[6] <= 64, "callback threads bounded by completions at once: "
              + report);
          assertTrue(point[5] <= budget, report.toString());
        }
        assertTrue(end[3] - end[4] - end[6] <= start[3] - start[4] - start[6],
            "threads: " + report);
      } finally {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
      }
      models.forEach(Model::close);
    }
  }

  /** Phase 0 is the warm-up: its requests are not counted as sent. */
  private static void runHalf(ExecutorService pool, List<Model> models, List<Case> cases,
      int perThread, int phase, AtomicLong sent, AtomicLong served, AtomicLong failed)
      throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      long seed = 1000L * phase + t;
      done.add(pool.submit(() -> {
        go.await();
        drive(models, cases, perThread, new SplittableRandom(seed), phase == 0 ? null : sent,
            served, failed);
        return null;
      }));
    }
    go.countDown();
    for (Future<?> f : done) {
      f.get(120, TimeUnit.SECONDS);
    }
  }

  private static void drive(List<Model> models, List<Case> cases, int n, SplittableRandom random,
      AtomicLong sent, AtomicLong served, AtomicLong failed) {
    record Pending(CompletableFuture<Map<String, Tensor>> future, Case c, int input) {}
    ArrayDeque<Pending> window = new ArrayDeque<>();
    for (int i = 0; i < n; i++) {
      int which = pick(random, ISSUED.getAndIncrement() / EPOCH % 2 == 0);
      Model model = models.get(which);
      Case c = cases.get(which);
      int input = random.nextInt(INPUTS);
      if (sent != null) {
        sent.incrementAndGet();
      }
      if (c.spec().batching().isPresent()) {
        window.add(new Pending(model.inferAsync(c.inputs().get(input)), c, input));
        if (window.size() >= WINDOW) {
          Pending p = window.poll();
          settle(p.c(), p.input(), () -> p.future().join(), sent, served, failed);
        }
      } else {
        settle(c, input, () -> model.infer(c.inputs().get(input)), sent, served, failed);
      }
    }
    for (Pending p : window) {
      settle(p.c(), p.input(), () -> p.future().join(), sent, served, failed);
    }
  }

  /**
   * The working set shifts: digits and tokens cannot both fit, so 40% of the traffic goes to one
   * of them, switching every {@link #EPOCH} requests, and each switch evicts the other. The rest
   * goes to dict_out and two_in_two_out, which are evicted too when they are the idle ones.
   */
  private static int pick(SplittableRandom random, boolean digitsEpoch) {
    int r = random.nextInt(100);
    return r < 40 ? (digitsEpoch ? 0 : 1) : r < 85 ? 2 : 3;
  }

  private static void settle(Case c, int input,
      java.util.function.Supplier<Map<String, Tensor>> call, AtomicLong sent, AtomicLong served,
      AtomicLong failed) {
    Map<String, Tensor> out;
    try {
      out = call.get();
    } catch (RuntimeException e) {
      if (sent != null) {
        failed.incrementAndGet();
      }
      throw new AssertionError("request to " + c.spec().id() + " failed", e);
    }
    Map<String, float[]> want = c.reference().get(input);
    assertEquals(want.keySet(), out.keySet(), c.spec().id());
    for (var e : want.entrySet()) {
      assertArrayEquals(e.getValue(), out.get(e.getKey()).toFloatArray(), 1e-4f,
          c.spec().id() + " input " + input + " output " + e.getKey());
    }
    if (sent != null) {
      served.incrementAndGet();
    }
  }

  private static Map<String, Tensor> inputsFor(ModelSpec spec, SplittableRandom random, int i) {
    switch (spec.signature().inputs().get(0).name()) {
      case "image":
        return Map.of("image", Fixtures.digitBatch(Fixtures.heldOutDigits(), i, 1));
      case "ids":
        long[] ids = new long[1 + random.nextInt(6)];
        Arrays.setAll(ids, k -> random.nextInt(100));
        return Map.of("ids", Tensor.of(ids, 1, ids.length));
      case "x":
        return Map.of("x", Tensor.of(floats(random, 3), 1, 3));
      default:
        return Map.of("a", Tensor.of(floats(random, 4), 1, 4),
            "b", Tensor.of(floats(random, 4), 1, 4));
    }
  }

  private static float[] floats(SplittableRandom random, int n) {
    float[] v = new float[n];
    for (int k = 0; k < n; k++) {
      v[k] = (float) random.nextDouble(-2, 2);
    }
    return v;
  }

  /** NOS's threads by name without their numbers, for the report. */
  private static java.util.Map<String, Long> nosThreadKinds() {
    return Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
        .filter(n -> n.startsWith("nos-"))
        .collect(java.util.stream.Collectors.groupingBy(n -> n.replaceAll("[0-9]+$", ""),
            java.util.TreeMap::new, java.util.stream.Collectors.counting()));
  }

  private static long nosThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("nos-") && !t.getName().startsWith("nos-copy-")
          && !t.getName().startsWith("nos-callback-")).count();
  }

  /** Threads completing callers' futures (ManagerCore's callback pool). */
  private static long callbackThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("nos-callback-")).count();
  }

  /** RSS, JavaCPP bytes and pointers, live threads, NOS threads and budget used, after a GC. */
  private static long[] snapshot(ModelManager manager, List<String> table, String point,
      long requests) throws InterruptedException {
    System.gc();
    Thread.sleep(200);
    long[] s = {Pointer.physicalBytes(), Pointer.totalBytes(), Pointer.totalCount(),
        Thread.activeCount(), nosThreads(), manager.stats().get(0).usedBytes(),
        callbackThreads()};
    table.add(String.format("%-7s %10d %8d %14d %14d %8d %8d %12d %s%n", point, requests,
        s[0] >> 20, s[1], s[2], s[3], s[4], s[5], nosThreadKinds()));
    return s;
  }
}
