package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.NosException;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Faults in the middle of traffic, on a simulated machine: out-of-memory errors, a device that
 * disappears, a model that hangs. Every call completes (with its outputs or a clear failure), the
 * other models keep serving, and no copy is ever freed under a call.
 */
@Timeout(60)
final class FaultInjectionTest {
  private final SimulatedBackend sim = new SimulatedBackend();

  private ManagerCore core(long... budgets) {
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    for (int i = 0; i < budgets.length; i++) {
      sim.device(Device.cuda(i), budgets[i]);
      slots.put(sim.devices.get(i), budgets[i]);
    }
    return new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(10), null,
        System::nanoTime);
  }

  @Test
  void outOfMemoryBursts_midTraffic_everyCallCompletes_othersKeepServing() throws Exception {
    ManagerCore core = core(300);
    List<Entry> models = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      models.add(core.open(ManagerCoreTest.spec("m" + i, 100)));
    }
    sim.callNanos = TimeUnit.MICROSECONDS.toNanos(50);
    AtomicInteger ok = new AtomicInteger();
    AtomicInteger oomFailed = new AtomicInteger();
    AtomicInteger injected = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Future<?>> runs = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      runs.add(pool.submit(() -> {
        for (int i = 0; i < 300; i++) {
          int m = ThreadLocalRandom.current().nextInt(4);
          if (i % 50 == 25) {
            sim.oom("m" + m, 1);
            injected.incrementAndGet();
          }
          try {
            core.infer(models.get(m), ManagerCoreTest.INPUT);
            ok.incrementAndGet();
          } catch (NosException e) {
            assertTrue(e.getMessage().contains("out of memory"), e.getMessage());
            oomFailed.incrementAndGet();
          }
        }
        return null;
      }));
    }
    for (Future<?> f : runs) {
      f.get(50, TimeUnit.SECONDS);
    }
    pool.shutdown();
    System.out.printf("FaultInjectionTest: OOM bursts: %d calls ok, %d failed after the retry,"
        + " %d bursts injected, %d evictions%n", ok.get(), oomFailed.get(), injected.get(),
        core.stats().get(0).evictions());
    assertEquals(2400, ok.get() + oomFailed.get(), "every call completed");
    assertTrue(oomFailed.get() <= injected.get(), "a burst fails at most the call it hit twice");
    for (Entry e : models) {
      assertEquals(1, core.infer(e, ManagerCoreTest.INPUT).get("y").numel());
    }
    assertEquals(List.of(), sim.violations);
    core.close();
  }

  @Test
  void deviceDisappears_itsModelsFailClearly_theOtherDeviceServes() {
    ManagerCore core = core(100, 100);
    Entry onZero = core.open(ManagerCoreTest.spec("a", 60).toBuilder().device("cuda:0").build());
    Entry onOne = core.open(ManagerCoreTest.spec("b", 60).toBuilder().device("cuda:1").build());
    sim.lostDevice = Device.cuda(1);
    var e = assertThrows(NosException.class, () -> core.infer(onOne, ManagerCoreTest.INPUT));
    assertTrue(e.getMessage().contains("cuda:1 is lost"), e.getMessage());
    for (int i = 0; i < 20; i++) {
      assertEquals(1, core.infer(onZero, ManagerCoreTest.INPUT).get("y").numel());
    }
    var load = assertThrows(NosException.class,
        () -> core.open(ManagerCoreTest.spec("c", 10).toBuilder().device("cuda:1").build()));
    assertTrue(load.getMessage().contains("lost"), load.getMessage());
    assertEquals(60, core.stats().get(1).usedBytes(), "the failed load gave its booking back");
    assertEquals(List.of(), sim.violations);
    core.close();
  }

  @Test
  void hangingModel_queuedCallsExpire_otherModelsKeepServing() throws Exception {
    ManagerCore core = core(300);
    Batching batching = Batching.builder().maxBatchSize(1).build();
    Entry slow = core.open(ManagerCoreTest.spec("slow", 60).toBuilder().batching(batching)
        .build());
    Entry fast = core.open(ManagerCoreTest.spec("fast", 60).toBuilder().batching(batching)
        .build());
    sim.gatedModel = "slow";
    List<CompletableFuture<Map<String, Tensor>>> calls = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      calls.add(core.inferAsync(slow, ManagerCoreTest.INPUT, Priority.NORMAL,
          Duration.ofMillis(100)));
    }
    for (int i = 0; i < 10; i++) {
      assertEquals(1, core.inferAsync(fast, ManagerCoreTest.INPUT, Priority.NORMAL, null)
          .get(5, TimeUnit.SECONDS).get("y").numel());
    }
    Thread.sleep(300);
    sim.gate.countDown();
    int expired = 0;
    int served = 0;
    for (CompletableFuture<Map<String, Tensor>> f : calls) {
      try {
        f.get(5, TimeUnit.SECONDS);
        served++;
      } catch (java.util.concurrent.ExecutionException ex) {
        assertTrue(ex.getCause() instanceof DeadlineExceededException, ex.getCause().toString());
        expired++;
      }
    }
    System.out.printf("FaultInjectionTest: hanging model: %d served, %d expired in the queue%n",
        served, expired);
    assertEquals(5, served + expired);
    assertTrue(expired >= 3, "calls queued behind the hang pass their deadline: " + expired);
    assertTrue(served >= 1, "the calls already running finish once the model returns");
    assertEquals(List.of(), sim.violations);
    core.close();
  }
}
