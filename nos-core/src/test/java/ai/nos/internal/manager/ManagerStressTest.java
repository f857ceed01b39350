package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.ModelSpec;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * 32 threads call 10 models on a device with room for 3: every call succeeds, no copy is freed
 * under a call, and the books never exceed the budget (a watcher samples them throughout).
 */
final class ManagerStressTest {
  private static final int THREADS = 32;
  private static final int CALLS_PER_THREAD = 300;

  private final SimulatedBackend sim = new SimulatedBackend().device(Device.cuda(0), 300);

  @Test
  @Timeout(120)
  void thirtyTwoThreads_tenModels_roomForThree_noFailureNoViolation() throws Exception {
    ManagerCore core = core(null);
    List<Entry> models = open(core, null);
    Watcher watcher = new Watcher(core, false);
    int ok = drive(() -> {
      return core.infer(models.get(pick()), ManagerCoreTest.INPUT).get("y").numel() == 1;
    });
    watcher.stop();
    long evictions = core.stats().get(0).evictions();
    long loads = sim.loads.values().stream().mapToLong(AtomicInteger::get).sum();
    System.out.printf("ManagerStressTest: %d calls ok, %d loads, %d evictions, violations %s%n",
        ok, loads, evictions, sim.violations);
    assertCleanRun(core, watcher, ok, evictions);
  }

  /**
   * The same with every other model batched (calls through inferAsync, two workers per copy on
   * the manager's pool): every future completes with its own output, no copy is freed under a
   * call or with calls queued, the budget holds, and the manager's threads stay bounded while
   * copies come and go.
   */
  @Test
  @Timeout(120)
  void batchedAndPlainModels_evictedUnderTraffic_everyFutureCompletes() throws Exception {
    AtomicInteger threadsMade = new AtomicInteger();
    ManagerCore core = core(task -> {
      Thread th = new Thread(task, "nos-worker-" + threadsMade.getAndIncrement());
      th.setDaemon(true);
      return th;
    });
    List<Entry> models = open(core, Batching.builder().maxBatchSize(8)
        .maxQueueDelay(Duration.ofNanos(200_000)).build());
    Watcher watcher = new Watcher(core, true);
    int ok = drive(() -> {
      Entry e = models.get(pick());
      Map<String, Tensor> out = e.spec.batching().isPresent()
          ? core.inferAsync(e, ManagerCoreTest.INPUT, Priority.NORMAL, null)
              .get(30, TimeUnit.SECONDS)
          : core.infer(e, ManagerCoreTest.INPUT);
      return out.get("y").toFloatArray()[0] == 100f;
    });
    watcher.stop();
    long evictions = core.stats().get(0).evictions();
    System.out.printf("ManagerStressTest (batched and plain): %d calls ok, %d evictions, %d"
        + " worker threads made, at most %d alive, violations %s%n", ok, evictions,
        threadsMade.get(), watcher.maxNosThreads.get(), sim.violations);
    // Thousands of batched copies came and went, two workers each; the pool reused threads
    // (its size follows how many run at once, including copies still draining).
    assertTrue(threadsMade.get() <= 64, threadsMade.get() + " worker threads for " + evictions
        + " evictions");
    assertTrue(watcher.maxNosThreads.get() <= 64,
        "manager threads alive: " + watcher.maxNosThreads.get());
    assertCleanRun(core, watcher, ok, evictions);
  }

  /** A 300-byte device with a budget of 300, room for three 100-byte models. */
  private ManagerCore core(ThreadFactory threads) {
    sim.callNanos = TimeUnit.MICROSECONDS.toNanos(200);
    Map<Backend.DeviceInfo, Long> budgets = new LinkedHashMap<>();
    budgets.put(sim.devices.get(0), 300L);
    return new ManagerCore(sim, budgets, Placement.BEST_FIT, Duration.ofSeconds(60), null,
        System::nanoTime, threads);
  }

  /** Ten 100-byte models m0..m9; with {@code batching}, the even ones batch. */
  private static List<Entry> open(ManagerCore core, Batching batching) {
    List<Entry> models = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      ModelSpec spec = ManagerCoreTest.spec("m" + i, 100);
      models.add(core.open(batching != null && i % 2 == 0
          ? spec.toBuilder().batching(batching).build() : spec));
    }
    return models;
  }

  /** A model index, skewed so that some models stay hot and others come and go. */
  private static int pick() {
    return (int) Math.min(9, Math.abs(ThreadLocalRandom.current().nextGaussian() * 3));
  }

  /** Runs {@code call} {@link #CALLS_PER_THREAD} times on each of {@link #THREADS} threads. */
  private static int drive(Callable<Boolean> call) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> results = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      results.add(pool.submit(() -> {
        go.await();
        int ok = 0;
        for (int i = 0; i < CALLS_PER_THREAD; i++) {
          if (call.call()) {
            ok++;
          }
        }
        return ok;
      }));
    }
    go.countDown();
    int ok = 0;
    for (Future<Integer> f : results) {
      ok += f.get(100, TimeUnit.SECONDS);
    }
    pool.shutdown();
    return ok;
  }

  private void assertCleanRun(ManagerCore core, Watcher watcher, int ok, long evictions) {
    assertEquals(THREADS * CALLS_PER_THREAD, ok);
    assertEquals(List.of(), sim.violations);
    assertEquals(0, watcher.overBudget.get());
    assertTrue(evictions > 0, "room for 3 of 10 models must evict");
    core.close();
    assertEquals(0, sim.live.get(Device.cuda(0)).get());
  }

  /**
   * Samples the books (never over budget) while the run lasts, and with {@code countThreads} the
   * manager's threads (listing every thread is slow, so only where the test asks).
   */
  private static final class Watcher {
    final AtomicInteger overBudget = new AtomicInteger();
    final AtomicInteger maxNosThreads = new AtomicInteger();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    Watcher(ManagerCore core, boolean countThreads) {
      thread = new Thread(() -> {
        while (running.get()) {
          for (DeviceStats d : core.stats()) {
            if (d.usedBytes() > d.budgetBytes()) {
              overBudget.incrementAndGet();
            }
          }
          if (countThreads) {
            int nos = (int) Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("nos-worker-")
                    || t.getName().startsWith("nos-batcher-")).count();
            maxNosThreads.accumulateAndGet(nos, Math::max);
          }
          Thread.onSpinWait();
        }
      });
      thread.start();
    }

    void stop() throws InterruptedException {
      running.set(false);
      thread.join();
    }
  }
}
