package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The scaling loop with the real digit CNN on the CPU: the manager's default policy, ticked by
 * the test with its own clock. The CPU is one device, so the batched model's extra copies share
 * it (see "Scaling with traffic" in ManagerCore).
 */
@Timeout(120)
final class ScalingCpuTest {
  @Test
  void burstOfQueuedCalls_addsARealCopy_allAnswerRight_thenItIsRetired() {
    AtomicLong clock = new AtomicLong();
    ModelSpec digits = Fixtures.digitsOn("cpu").toBuilder()
        // The burst waits in the queue for the delay, so the tick sees it outstanding.
        .batching(Batching.builder().maxBatchSize(64).maxQueueDelay(Duration.ofMillis(1500))
            .build())
        .build();
    Tensor image = Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 1);
    try (ModelManager m = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .scaling(ScalingPolicy.queueDepth(1, 3, 4).window(Duration.ofSeconds(10)))
        .clock(clock::get).manualScaling().build();
        Model model = m.load(digits)) {
      float[] expected = model.inferAsync(Map.of("image", image)).join().get("logits")
          .toFloatArray();
      m.autoscale();
      assertEquals(1, m.models().get(0).currentReplicas());
      List<CompletableFuture<Map<String, Tensor>>> burst = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        burst.add(model.inferAsync(Map.of("image", image)));
      }
      clock.set(TimeUnit.SECONDS.toNanos(1));
      m.autoscale();
      ModelInfo up = m.models().get(0);
      // 3 asked for; a copy sharing the one device is tried alone (see Scaler).
      assertEquals(2, up.currentReplicas(), up.toString());
      assertEquals(List.of(Device.cpu(), Device.cpu()), up.devices());
      assertTrue(up.lastScaling().startsWith("up 1 -> 2: 12 calls outstanding on 1 copies"),
          up.lastScaling());
      // A batch of 12 rows sums in another order than one row: equal up to float rounding.
      for (CompletableFuture<Map<String, Tensor>> f : burst) {
        assertArrayEquals(expected, f.join().get("logits").toFloatArray(), 1e-4f);
      }
      // The new copies serve too: calls go to the least busy copy.
      List<CompletableFuture<Map<String, Tensor>>> more = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        more.add(model.inferAsync(Map.of("image", image)));
      }
      for (CompletableFuture<Map<String, Tensor>> f : more) {
        assertArrayEquals(expected, f.join().get("logits").toFloatArray(), 1e-4f);
      }
      clock.set(TimeUnit.SECONDS.toNanos(5));
      m.autoscale();
      assertEquals(2, m.models().get(0).currentReplicas(), "the trial's window starts");
      clock.set(TimeUnit.SECONDS.toNanos(14));
      m.autoscale();
      assertEquals(2, m.models().get(0).currentReplicas(), "within the window");
      clock.set(TimeUnit.SECONDS.toNanos(15));
      m.autoscale();
      ModelInfo untested = m.models().get(0);
      // No call came in the window after it: nothing to judge it by, the window decides.
      assertTrue(untested.lastScaling().startsWith("kept the copy on cpu untested: no tick in"
          + " the 10000 ms after it asked for more than 1 copies"), untested.lastScaling());
      assertEquals(2, untested.currentReplicas());
      clock.set(TimeUnit.SECONDS.toNanos(16));
      m.autoscale();
      ModelInfo down = m.models().get(0);
      assertEquals(1, down.currentReplicas());
      assertEquals(0, down.failures());
      assertEquals(16, down.requests());
      assertEquals(2, down.loads());
      assertTrue(down.lastScaling().startsWith("down 2 -> 1: at most 0 copies needed"),
          down.lastScaling());
    }
  }

  @Test
  void builder_refusesBadScalingSettings_namingThem() {
    IllegalArgumentException zero = org.junit.jupiter.api.Assertions.assertThrows(
        IllegalArgumentException.class,
        () -> ModelManager.builder().scalingInterval(Duration.ZERO));
    assertEquals("scalingInterval must be positive but was PT0S", zero.getMessage());
    NullPointerException none = org.junit.jupiter.api.Assertions.assertThrows(
        NullPointerException.class, () -> ModelManager.builder().scaling(null));
    assertEquals("scaling policy must not be null", none.getMessage());
    IllegalArgumentException bounds = org.junit.jupiter.api.Assertions.assertThrows(
        IllegalArgumentException.class, () -> ScalingPolicy.queueDepth(0, 2, 1));
    assertEquals("scaling needs 1 <= minReplicas <= maxReplicas but was minReplicas 0,"
        + " maxReplicas 2", bounds.getMessage());
  }
}
