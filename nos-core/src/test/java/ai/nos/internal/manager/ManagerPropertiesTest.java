package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.NosException;
import ai.nos.Placement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;

/**
 * Properties of placement and eviction over random machines, model sizes and request sequences
 * (seeded, so a failure names its seed): never over budget, never a copy freed under a call,
 * best fit as a reference implementation computes it.
 */
final class ManagerPropertiesTest {

  @RepeatedTest(200)
  void bestFit_matchesReference(RepetitionInfo rep) {
    Random r = new Random(rep.getCurrentRepetition());
    List<Slot> slots = new ArrayList<>();
    for (int i = 0; i < 1 + r.nextInt(6); i++) {
      Slot s = new Slot(new Backend.DeviceInfo(Device.cuda(i), "g", 1000), 1 + r.nextInt(1000));
      s.used = r.nextInt((int) s.budget + 1);
      slots.add(s);
    }
    long need = 1 + r.nextInt(600);
    for (Placement policy : Placement.values()) {
      Slot reference = null;
      for (Slot s : slots) {
        long left = s.budget - s.used - need;
        if (left >= 0 && (reference == null || (policy == Placement.BEST_FIT
            ? left < reference.budget - reference.used - need
            : left > reference.budget - reference.used - need))) {
          reference = s;
        }
      }
      assertSame(reference, Placer.choose(policy, slots, need),
          "seed " + rep.getCurrentRepetition() + " " + policy);
    }
  }

  @RepeatedTest(50)
  void randomSequences_neverOverBudget_evictOnlyIdle_reloadTransparently(RepetitionInfo rep) {
    long seed = rep.getCurrentRepetition();
    Random r = new Random(seed);
    SimulatedBackend sim = new SimulatedBackend();
    Map<Backend.DeviceInfo, Long> budgets = new LinkedHashMap<>();
    int devices = 1 + r.nextInt(3);
    for (int i = 0; i < devices; i++) {
      long total = 200 + r.nextInt(800);
      sim.device(Device.cuda(i), total);
      budgets.put(sim.devices.get(i), total - r.nextInt(100));
    }
    AtomicLong clock = new AtomicLong();
    ManagerCore core = new ManagerCore(sim, budgets,
        r.nextBoolean() ? Placement.BEST_FIT : Placement.SPREAD, Duration.ofSeconds(5), null,
        clock::incrementAndGet);
    List<Entry> open = new ArrayList<>();
    int rejected = 0;
    for (int step = 0; step < 300; step++) {
      int op = r.nextInt(10);
      try {
        if (op < 2 || open.isEmpty()) {
          long bytes = 1 + r.nextInt(400);
          open.add(core.open(ManagerCoreTest.spec("m" + step, bytes)));
        } else if (op < 9) {
          Entry e = open.get(r.nextInt(open.size()));
          assertEquals(1, core.infer(e, ManagerCoreTest.INPUT).get("y").numel());
        } else {
          core.release(open.remove(r.nextInt(open.size())));
        }
      } catch (NosException e) {
        assertTrue(e.getMessage().contains("more than any device's budget"), e.getMessage());
        rejected++;
      }
      for (DeviceStats d : core.stats()) {
        assertTrue(d.usedBytes() <= d.budgetBytes(), "seed " + seed + ": " + d);
        assertTrue(d.usedBytes() >= 0, "seed " + seed + ": " + d);
      }
      assertEquals(List.of(), sim.violations, "seed " + seed);
    }
    core.close();
    for (AtomicLong live : sim.live.values()) {
      assertEquals(0, live.get(), "seed " + seed + ": everything freed on close");
    }
    assertTrue(rejected < 300);
  }

  @Test
  void planEviction_prefersTheColdestVictims() {
    Entry e = new Entry(ManagerCoreTest.spec("x", 10), 10, true);
    Slot hot = new Slot(new Backend.DeviceInfo(Device.cuda(0), "g", 100), 100);
    Slot cold = new Slot(new Backend.DeviceInfo(Device.cuda(1), "g", 100), 100);
    Copy h = idle(e, hot, 60, 50);
    Copy c = idle(e, cold, 60, 10);
    Placer.Plan plan = Placer.planEviction(List.of(hot, cold), 60);
    assertSame(cold, plan.slot());
    assertEquals(List.of(c), plan.victims());
    assertTrue(h.isIdle());
  }

  private static Copy idle(Entry e, Slot s, long bytes, long lastUsed) {
    Copy c = new Copy(e, s, bytes);
    c.lease = new ai.nos.internal.Lease(() -> { });
    c.state = Copy.State.READY;
    c.lastUsed = lastUsed;
    s.used += bytes;
    s.residents.add(c);
    return c;
  }
}
