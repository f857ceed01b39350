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
    assertEquals(2, core.info(a).replicas(), "3 asked for, one device it is not on");
    assertEquals(2, core.info(b).currentReplicas(), "b waits more per copy: it gets the room");
    assertEquals(2, core.info(b).replicas(), "4 asked for, one device it is not on");
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
    assertEquals(2, info.replicas(), "3 asked for: one at a time on a shared device");
    assertEquals(2, info.currentReplicas(), "c's idle copy made room for one on the same GPU");
    assertEquals(ModelState.EVICTED, core.info(c).state());
    assertEquals(ModelState.READY, core.info(z).state(), "z is at its minReplicas");
    assertEquals(2, tickAt(2, a).currentReplicas());
    assertEquals(2, sim.loads.get("a").get());
    release(a);
    assertEquals(1, sim.loads.get("z").get());
  }

  /**
   * One simulated second of traffic ending in a tick at {@code t}: {@code held} calls in flight
   * at the tick (the demand the scaler reads), and {@code completed} calls done in the second
   * (the held ones among them): the throughput of the simulated device.
   */
  ModelInfo second(long t, Entry e, int held, int completed) {
    long before = core.info(e).requests();
    hold(e, held);
    ModelInfo info = tickAt(t, e);
    release(e);
    for (int i = held; i < completed; i++) {
      core.infer(e, INPUT);
    }
    // A call's count is taken as its batcher's future completes, which may trail the caller's.
    long deadline = System.nanoTime() + 10 * S;
    while (core.info(e).requests() < before + completed) {
      assertTrue(System.nanoTime() < deadline, "calls counted: " + core.info(e));
      Thread.onSpinWait();
    }
    return info;
  }

  /** One GPU whose copies of a model share its cores: 16 calls/s however many there are. */
  @Test
  void sameDeviceCopy_thatDoesNotRaiseThroughput_isRetired_andNotTriedAgain() {
    core(1000);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 4, 4)
        .window(Duration.ofSeconds(3)).upWindow(Duration.ofSeconds(2))));
    second(0, a, 16, 16);
    second(1, a, 16, 16);
    ModelInfo up = second(2, a, 16, 16);
    assertEquals(2, up.replicas(), "one copy at a time on a shared device: " + up.lastScaling());
    assertEquals(2, up.currentReplicas());
    assertTrue(up.lastScaling().startsWith("up 1 -> 2: 16 calls outstanding on 1 copies"),
        up.lastScaling());
    for (long t = 3; t <= 5; t++) {
      assertEquals(2, second(t, a, 16, 16).currentReplicas(), "measuring at " + t + " s");
    }
    ModelInfo judged = second(6, a, 16, 16);
    assertEquals(1, judged.replicas());
    assertTrue(judged.lastScaling().startsWith("down 2 -> 1: another copy on cuda:0 did not"
        + " help: 2 copies: 16 calls/s"), judged.lastScaling());
    assertEquals(2, judged.currentReplicas(), "its held calls keep it until they end");
    for (long t = 7; t <= 30; t++) {
      ModelInfo info = second(t, a, 16, 16);
      assertEquals(1, info.currentReplicas(), "retired once idle, not tried again: " + t + " s");
      assertEquals(1, info.replicas());
    }
    assertEquals(2, sim.loads.get("a").get());
  }

  /** The back-off ends when twice the calls of the failed trial are outstanding. */
  @Test
  void sameDeviceBackoff_endsWhenTheLoadDoubles() {
    core(1000);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 4, 4)
        .window(Duration.ofSeconds(3)).upWindow(Duration.ofSeconds(2))));
    for (long t = 0; t <= 7; t++) {
      second(t, a, 16, 16);
    }
    assertEquals(1, core.info(a).replicas());
    assertEquals(2, sim.loads.get("a").get());
    second(8, a, 31, 31);
    second(9, a, 31, 31);
    assertEquals(2, sim.loads.get("a").get(), "31 calls: still backed off");
    second(10, a, 32, 32);
    second(11, a, 32, 32);
    ModelInfo retried = second(12, a, 32, 32);
    assertEquals(2, retried.currentReplicas(), retried.lastScaling());
    assertEquals(3, sim.loads.get("a").get());
  }

  /** A device whose copies each add throughput (16 calls/s per copy): each is kept. */
  @Test
  void sameDeviceCopies_thatRaiseThroughput_areKept_oneAtATime() {
    core(1000);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 4, 4)
        .window(Duration.ofSeconds(2)).upWindow(Duration.ofSeconds(1))));
    List<Integer> copies = new ArrayList<>();
    int serving = 1;
    for (long t = 0; t <= 20; t++) {
      ModelInfo info = second(t, a, 16, 16 * serving);
      serving = info.currentReplicas();
      copies.add(serving);
      assertTrue(info.replicas() - copies.get(Math.max(0, copies.size() - 2)) <= 1,
          "one copy at a time: " + info.lastScaling());
    }
    assertEquals(4, serving, "copies each second: " + copies);
    assertEquals(4, sim.loads.get("a").get(), "none retired: " + copies);
    assertTrue(core.info(a).lastScaling().contains("kept the copy on cuda:0, it helps"),
        core.info(a).lastScaling());
  }

  /** A copy on another GPU adds hardware: not a trial; the one sharing a GPU after it is. */
  @Test
  void copyOnAnotherDevice_isNotATrial_theSharedOneAfterItIs() {
    core(1000, 1000);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 3, 4)
        .window(Duration.ofSeconds(3)).upWindow(Duration.ofSeconds(2))));
    second(0, a, 16, 16);
    second(1, a, 16, 16);
    ModelInfo two = second(2, a, 16, 16);
    assertEquals(2, two.currentReplicas());
    assertEquals(2, new HashSet<>(two.devices()).size(), "the second copy on the other GPU");
    ModelInfo three = second(3, a, 16, 16);
    assertEquals(3, three.currentReplicas(), "then one sharing a GPU: " + three.lastScaling());
    for (long t = 4; t <= 20; t++) {
      second(t, a, 16, 16);
    }
    ModelInfo after = core.info(a);
    assertEquals(2, after.currentReplicas(), after.lastScaling());
    assertEquals(2, new HashSet<>(after.devices()).size(), "one copy on each GPU stays");
    assertTrue(after.lastScaling().startsWith("down 3 -> 2: another copy on cuda:"),
        after.lastScaling());
    assertEquals(4, sim.loads.get("a").get(), "one trial per GPU, each retired");
  }

  /**
   * The 2026-12-03 GPU run: 4 clients on 4 copies kept every copy busy at nearly every tick, so
   * the copies the model no longer wanted went one in 15 s. A copy to retire takes no new calls.
   */
  @Test
  void scaleDown_underSteadyTraffic_drainsTheCopiesToRetire() {
    core(100, 100, 100);
    Entry a = core.open(spec("a", 40, ScalingPolicy.queueDepth(1, 3, 4)
        .window(Duration.ofSeconds(2))).toBuilder().replicas(3).build());
    assertEquals(3, second(0, a, 3, 3).currentReplicas());
    assertEquals(3, second(1, a, 3, 3).currentReplicas());
    ModelInfo down = second(2, a, 3, 3);
    assertEquals(1, down.replicas());
    assertEquals(3, down.currentReplicas(), "each copy had a call at the tick");
    for (long t = 3; t <= 6; t++) {
      assertEquals(1, second(t, a, 3, 3).currentReplicas(), "drained, retired at " + t + " s");
    }
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
