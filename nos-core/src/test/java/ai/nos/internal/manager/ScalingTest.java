package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.Device;
import ai.nos.ModelInfo;
import ai.nos.ModelSpec;
import ai.nos.ModelState;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.ScalingPolicy;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Traffic patterns against the scaling loop on a simulated machine, ticked by the test with its
 * own clock: replica counts over time, no failed call, no busy copy retired (the simulated copy
 * records a call on a freed copy as a violation).
 */
@Timeout(60)
final class ScalingTest {
  static final long S = 1_000_000_000L;
  static final Map<String, Tensor> INPUT = Map.of("x", Tensor.of(new float[] {1}, 1, 1));
  final AtomicLong clock = new AtomicLong();
  final SimulatedBackend sim = new SimulatedBackend();
  final Map<Entry, List<CompletableFuture<Map<String, Tensor>>>> calls = new LinkedHashMap<>();
  ManagerCore core;

  static ModelSpec spec(String id, long bytes, ScalingPolicy policy) {
    return ModelSpec.builder().id(id).artifact(Path.of(id + ".pt")).memoryBytes(bytes)
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 1)
            .output("y", DType.FLOAT32, -1).output("device", DType.INT64, -1).build())
        .batching(Batching.builder().maxBatchSize(1).build())
        .scaling(policy).build();
  }

  ManagerCore core(long... budgets) {
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    for (int i = 0; i < budgets.length; i++) {
      sim.device(Device.cuda(i), budgets[i]);
      slots.put(sim.devices.get(i), budgets[i]);
    }
    core = new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(5), null,
        clock::get);
    core.scaling(null, Duration.ZERO);
    return core;
  }

  @AfterEach
  void noViolations() {
    sim.gates.values().forEach(CountDownLatch::countDown);
    if (core != null) {
      core.close();
    }
    assertEquals(List.of(), sim.violations);
  }

  /** Holds {@code n} calls of a model in flight until {@link #release}. */
  void hold(Entry e, int n) {
    sim.gates.computeIfAbsent(e.spec.id(), k -> new CountDownLatch(1));
    for (int i = 0; i < n; i++) {
      calls.computeIfAbsent(e, k -> new ArrayList<>())
          .add(core.inferAsync(e, INPUT, Priority.NORMAL, null));
    }
  }

  /** Lets the held calls of a model finish and checks that every call so far succeeded. */
  void release(Entry e) {
    sim.gates.remove(e.spec.id()).countDown();
    calls.remove(e).forEach(f -> f.orTimeout(10, java.util.concurrent.TimeUnit.SECONDS).join());
    assertEquals(0, core.info(e).failures());
  }

  ModelInfo tickAt(long seconds, Entry e) {
    clock.set(seconds * S);
    core.autoscale();
    return core.info(e);
  }

  @Test
  void stepUp_addsCopiesOnOtherDevices_stepDown_retiresThemAfterTheWindow() {
    core(100, 100, 100);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 3, 4)
        .window(Duration.ofSeconds(60))));
    assertEquals(1, tickAt(0, a).currentReplicas());
    hold(a, 12);
    ModelInfo up = tickAt(1, a);
    assertEquals(3, up.currentReplicas());
    assertEquals(3, up.replicas());
    assertEquals(3, up.maxReplicas());
    assertEquals(3, new HashSet<>(up.devices()).size(), "each copy on its own device");
    assertTrue(up.lastScaling().startsWith("up 1 -> 3: 12 calls outstanding on 1 copies"),
        up.lastScaling());
    hold(a, 2);
    assertEquals(14, core.info(a).inFlight());
    release(a);
    for (long t = 2; t <= 61; t += 10) {
      assertEquals(3, tickAt(t, a).currentReplicas(), "within the window at " + t + " s");
    }
    ModelInfo down = tickAt(62, a);
    assertEquals(1, down.currentReplicas());
    assertEquals(1, down.replicas());
    assertTrue(down.lastScaling().startsWith("down 3 -> 1"), down.lastScaling());
    assertEquals(3, sim.loads.get("a").get());
    hold(a, 1);
    release(a);
  }

  @Test
  void stepDown_neverRetiresACopyWithCallsInFlight() {
    core(100, 100, 100);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 3, 4)
        .window(Duration.ofSeconds(10))).toBuilder().replicas(3).build());
    assertEquals(3, core.info(a).currentReplicas());
    tickAt(0, a);
    hold(a, 3);
    ModelInfo busy = tickAt(11, a);
    assertEquals(1, busy.replicas(), "one copy is enough for 3 calls");
    assertEquals(3, busy.currentReplicas(), "each copy has a call in flight: none retired");
    assertEquals(3, busy.inFlight());
    release(a);
    assertEquals(1, tickAt(12, a).currentReplicas());
  }

  @Test
  void spikeShorterThanTheUpWindow_loadsNothing_sustainedStepScales() {
    core(100, 100);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 2, 4)
        .upWindow(Duration.ofSeconds(5)).window(Duration.ofSeconds(30))));
    for (long t = 0; t <= 5; t++) {
      tickAt(t, a);
    }
    hold(a, 12);
    tickAt(6, a);
    tickAt(7, a);
    release(a);
    for (long t = 8; t <= 20; t++) {
      assertEquals(1, tickAt(t, a).currentReplicas(), "after the spike, at " + t + " s");
    }
    assertEquals(1, sim.loads.get("a").get());
    hold(a, 12);
    for (long t = 21; t <= 25; t++) {
      assertEquals(1, tickAt(t, a).currentReplicas(), "the step is young at " + t + " s");
    }
    assertEquals(2, tickAt(26, a).currentReplicas());
    release(a);
  }

  @Test
  void twoModelsCompeting_theOneWithMoreCallsPerCopyGetsTheRoomLeft() {
    core(100, 60);
    ScalingPolicy p = ScalingPolicy.queueDepth(1, 4, 1);
    Entry a = core.open(spec("a", 40, p));
    Entry b = core.open(spec("b", 40, p));
    hold(a, 3);
    hold(b, 8);
    clock.set(S);
    core.autoscale();
    assertEquals(1, core.info(a).currentReplicas());
    assertEquals(3, core.info(a).replicas());
    assertEquals(2, core.info(b).currentReplicas(), "b waits more per copy: it gets the room");
    assertEquals(4, core.info(b).replicas());
    clock.set(2 * S);
    core.autoscale();
    assertEquals(1, core.info(a).currentReplicas(), "b's fresh idle copy is not a's to evict");
    assertEquals(2, core.info(b).currentReplicas());
    release(a);
    release(b);
  }

  @Test
  void memoryTooShortForMax_evictsOnlyIdleModelsWithoutAPolicy_neverOneAtItsMinimum() {
    core(120);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 3, 1)));
    Entry z = core.open(spec("z", 40, ScalingPolicy.queueDepth(1, 1, 1)));
    Entry c = core.open(spec("c", 40, null));
    core.infer(c, INPUT);
    hold(a, 5);
    ModelInfo info = tickAt(1, a);
    assertEquals(3, info.replicas());
    assertEquals(2, info.currentReplicas(), "c's idle copy made room for one on the same GPU");
    assertEquals(ModelState.EVICTED, core.info(c).state());
    assertEquals(ModelState.READY, core.info(z).state(), "z is at its minReplicas");
    assertEquals(2, tickAt(2, a).currentReplicas());
    assertEquals(2, sim.loads.get("a").get());
    release(a);
    assertEquals(1, sim.loads.get("z").get());
  }

  /**
   * The loop on its own thread, ticking every millisecond with a 5 ms window, while 8 callers
   * come and go in waves: copies are added and retired many times under live traffic, and no
   * call fails or runs on a freed copy (the simulated copy records that as a violation).
   */
  @Test
  void stress_loopThreadUnderWavesOfCallers_noFailedCall_noBusyCopyRetired() throws Exception {
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    for (int i = 0; i < 3; i++) {
      sim.device(Device.cuda(i), 100);
      slots.put(sim.devices.get(i), 100L);
    }
    sim.callNanos = 200_000;
    core = new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(30), null,
        System::nanoTime);
    core.scaling(null, Duration.ofMillis(1));
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 5, 1)
        .window(Duration.ofMillis(5))));
    java.util.concurrent.ExecutorService callers =
        java.util.concurrent.Executors.newFixedThreadPool(8);
    try {
      for (int wave = 0; wave < 10; wave++) {
        int threads = wave % 2 == 0 ? 8 : 1;
        CountDownLatch done = new CountDownLatch(threads);
        for (int t = 0; t < threads; t++) {
          callers.execute(() -> {
            try {
              for (int i = 0; i < 100; i++) {
                core.inferAsync(a, INPUT, Priority.NORMAL, null).join();
              }
            } finally {
              done.countDown();
            }
          });
        }
        assertTrue(done.await(30, java.util.concurrent.TimeUnit.SECONDS));
      }
    } finally {
      callers.shutdownNow();
    }
    ModelInfo info = core.info(a);
    assertEquals(0, info.failures());
    assertEquals(5 * 800 + 5 * 100, info.requests());
    assertTrue(sim.loads.get("a").get() > 2, "the loop added copies: " + sim.loads);
    assertTrue(sim.frees.get() > 0, "and retired some while calls came and went: " + info);
  }

  @Test
  void loopThread_isTheFactorys_andEndsAtClose() throws Exception {
    sim.device(Device.cuda(0), 100);
    List<Thread> made = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.ThreadFactory factory = task -> {
      Thread t = new Thread(task, "app-" + made.size());
      made.add(t);
      return t;
    };
    core = new ManagerCore(sim, Map.of(sim.devices.get(0), 100L), Placement.BEST_FIT,
        Duration.ofSeconds(5), null, System::nanoTime, factory);
    core.scaling(null, Duration.ofMillis(1));
    core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 2, 4)));
    // Made first: the loop starts as the model registers, before its copy loads.
    Thread loop = made.get(0);
    assertTrue(loop.isAlive());
    assertTrue(!loop.isDaemon(), "the factory's own (non-daemon) thread");
    core.close();
    loop.join(10_000);
    assertTrue(!loop.isAlive(), "the loop ends with the manager");
  }
}
