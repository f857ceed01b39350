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
}
