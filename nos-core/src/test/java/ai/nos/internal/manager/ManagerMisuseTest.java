package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.NosException;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The manager as a careless or hostile application treats it: callbacks that never return,
 * timeouts shorter than a hung model's run, a close while a load is on its way.
 */
@Timeout(60)
final class ManagerMisuseTest {
  static final Map<String, Tensor> INPUT = ManagerCoreTest.INPUT;
  final SimulatedBackend sim = new SimulatedBackend();
  final Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());
  ManagerCore core;

  ManagerCore core(long budget, Duration closeTimeout) {
    sim.device(Device.cuda(0), budget);
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    slots.put(sim.devices.get(0), budget);
    core = new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(5), null,
        System::nanoTime);
    core.closeTimeout(closeTimeout);
    return core;
  }

  static ModelSpec batched(String id, long bytes, int maxBatchSize) {
    return ManagerCoreTest.spec(id, bytes).toBuilder().batching(Batching.builder()
        .maxBatchSize(maxBatchSize).maxQueueDelay(Duration.ZERO).build()).build();
  }

  @AfterEach
  void noViolations() {
    sim.gate.countDown();
    CountDownLatch g = sim.loadGate;
    if (g != null) {
      g.countDown();
    }
    if (core != null) {
      core.close();
    }
    assertEquals(List.of(), sim.violations);
  }

  /**
   * A callback that never returns holds one callback thread, not the close: with no call left,
   * close returns at once rather than wait its whole timeout for the application's code.
   */
  @Test
  void callbackBlocksForever_closeDoesNotWaitForIt() throws Exception {
    core(100, Duration.ofSeconds(20));
    Entry a = core.open(batched("a", 60, 4));
    CountDownLatch never = new CountDownLatch(1);
    CountDownLatch inCallback = new CountDownLatch(1);
    AtomicReference<String> where = new AtomicReference<>();
    core.inferAsync(a, INPUT, Priority.NORMAL, null).thenRun(() -> {
      where.set(Thread.currentThread().getName());
      inCallback.countDown();
      try {
        never.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    assertTrue(inCallback.await(10, TimeUnit.SECONDS));
    assertTrue(where.get().startsWith("nos-callback-"), where.get());
    // The model keeps serving while the callback blocks.
    assertEquals(1, core.inferAsync(a, INPUT, Priority.NORMAL, null).get(5, TimeUnit.SECONDS)
        .get("y").numel());
    long t0 = System.nanoTime();
    core.close();
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    never.countDown();
    assertTrue(ms < 5_000, "close waited " + ms + " ms for a callback of the application");
    assertEquals(0, core.stats().get(0).usedBytes());
  }
}
