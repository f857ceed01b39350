package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.Placement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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

  @Test
  @Timeout(120)
  void thirtyTwoThreads_tenModels_roomForThree_noFailureNoViolation() throws Exception {
    SimulatedBackend sim = new SimulatedBackend().device(Device.cuda(0), 300);
    sim.callNanos = TimeUnit.MICROSECONDS.toNanos(200);
    Map<Backend.DeviceInfo, Long> budgets = new LinkedHashMap<>();
    budgets.put(sim.devices.get(0), 300L);
    ManagerCore core = new ManagerCore(sim, budgets, Placement.BEST_FIT, Duration.ofSeconds(60),
        null, System::nanoTime);
    List<Entry> models = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      models.add(core.open(ManagerCoreTest.spec("m" + i, 100)));
    }
    AtomicBoolean running = new AtomicBoolean(true);
    AtomicInteger overBudget = new AtomicInteger();
    Thread watcher = new Thread(() -> {
      while (running.get()) {
        for (DeviceStats d : core.stats()) {
          if (d.usedBytes() > d.budgetBytes()) {
            overBudget.incrementAndGet();
          }
        }
        Thread.onSpinWait();
      }
    });
    watcher.start();
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> results = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      results.add(pool.submit(() -> {
        go.await();
        int ok = 0;
        for (int i = 0; i < CALLS_PER_THREAD; i++) {
          // Skewed popularity, so some models stay hot and others come and go.
          int m = (int) Math.min(9, Math.abs(ThreadLocalRandom.current().nextGaussian() * 3));
          if (core.infer(models.get(m), ManagerCoreTest.INPUT).get("y").numel() == 1) {
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
    running.set(false);
    watcher.join();
    pool.shutdown();
    long evictions = core.stats().get(0).evictions();
    long loads = sim.loads.values().stream().mapToLong(AtomicInteger::get).sum();
    System.out.printf("ManagerStressTest: %d calls ok, %d loads, %d evictions, violations %s%n",
        ok, loads, evictions, sim.violations);
    assertEquals(THREADS * CALLS_PER_THREAD, ok);
    assertEquals(List.of(), sim.violations);
    assertEquals(0, overBudget.get());
    assertTrue(evictions > 0, "room for 3 of 10 models must evict");
    core.close();
    assertEquals(0, sim.live.get(Device.cuda(0)).get());
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
    SimulatedBackend sim = new SimulatedBackend().device(Device.cuda(0), 300);
    sim.callNanos = TimeUnit.MICROSECONDS.toNanos(200);
    Map<Backend.DeviceInfo, Long> budgets = new LinkedHashMap<>();
    budgets.put(sim.devices.get(0), 300L);
    AtomicInteger threadsMade = new AtomicInteger();
    ManagerCore core = new ManagerCore(sim, budgets, Placement.BEST_FIT, Duration.ofSeconds(60),
        null, System::nanoTime, task -> {
          Thread th = new Thread(task, "nos-worker-" + threadsMade.getAndIncrement());
          th.setDaemon(true);
          return th;
        });
    ai.nos.Batching batching = ai.nos.Batching.builder().maxBatchSize(8)
        .maxQueueDelay(Duration.ofNanos(200_000)).build();
    List<Entry> models = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      ai.nos.ModelSpec spec = ManagerCoreTest.spec("m" + i, 100);
      models.add(core.open(i % 2 == 0 ? spec.toBuilder().batching(batching).build() : spec));
    }
    AtomicBoolean running = new AtomicBoolean(true);
    AtomicInteger overBudget = new AtomicInteger();
    AtomicInteger maxNosThreads = new AtomicInteger();
    Thread watcher = new Thread(() -> {
      while (running.get()) {
        for (DeviceStats d : core.stats()) {
          if (d.usedBytes() > d.budgetBytes()) {
            overBudget.incrementAndGet();
          }
        }
        int nos = (int) Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.getName().startsWith("nos-worker-")
                || t.getName().startsWith("nos-batcher-")).count();
        maxNosThreads.accumulateAndGet(nos, Math::max);
        Thread.onSpinWait();
      }
    });
    watcher.start();
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> results = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      results.add(pool.submit(() -> {
        go.await();
        int ok = 0;
        for (int i = 0; i < CALLS_PER_THREAD; i++) {
          int m = (int) Math.min(9, Math.abs(ThreadLocalRandom.current().nextGaussian() * 3));
          Entry e = models.get(m);
          Map<String, ai.nos.Tensor> out = e.spec.batching().isPresent()
              ? core.inferAsync(e, ManagerCoreTest.INPUT, ai.nos.Priority.NORMAL, null)
                  .get(30, TimeUnit.SECONDS)
              : core.infer(e, ManagerCoreTest.INPUT);
          if (out.get("y").toFloatArray()[0] == 100f) {
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
    running.set(false);
    watcher.join();
    pool.shutdown();
    long evictions = core.stats().get(0).evictions();
    System.out.printf("ManagerStressTest (batched and plain): %d calls ok, %d evictions, %d"
        + " worker threads made, at most %d alive, violations %s%n", ok, evictions,
        threadsMade.get(), maxNosThreads.get(), sim.violations);
    assertEquals(THREADS * CALLS_PER_THREAD, ok);
    assertEquals(List.of(), sim.violations);
    assertEquals(0, overBudget.get());
    assertTrue(evictions > 0, "room for 3 of 10 models must evict");
    // Thousands of batched copies came and went, two workers each; the pool reused threads
    // (its size follows how many run at once, including copies still draining).
    assertTrue(threadsMade.get() <= 64, threadsMade.get() + " worker threads for " + evictions
        + " evictions");
    assertTrue(maxNosThreads.get() <= 64, "manager threads alive: " + maxNosThreads.get());
    core.close();
    assertEquals(0, sim.live.get(Device.cuda(0)).get());
  }
}
