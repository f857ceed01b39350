package ai.nos.internal.generate;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The slot probe of the compaction tests: after every compaction (on the scheduler thread) it
 * checks the invariant (row i is slot i, slots 0..n-1 taken and the rest free), that each active
 * sequence's seen row holds exactly its prompt and generated tokens, and, where a request's
 * expected cross rows were given, that its slot's cross keys and values are its own. It never
 * throws (that would stop the scheduler): it records what failed, for {@link #errors()}. It also
 * advances a test clock by one millisecond per call, so a deadline falls at a known compaction.
 */
final class SlotChecks implements GenerationEngine.SlotProbe {
  static final long TICK_NANOS = 1_000_000;

  private final int slots;
  private final AtomicLong clock = new AtomicLong();
  private final List<String> errors = Collections.synchronizedList(new ArrayList<>());
  /** Per request (its future): expected cross keys and values of its slot's row. */
  private final Map<CompletableFuture<?>, float[][]> cross = new ConcurrentHashMap<>();
  private volatile int calls;
  private volatile int maxActive;

  SlotChecks(int slots) {
    this.slots = slots;
  }

  /** The clock to give the engine: one tick per compaction. */
  long now() {
    return clock.get();
  }

  /** Expects {@code request}'s slot to hold these cross keys and values while it is active. */
  void expectCross(CompletableFuture<?> request, float[] keys, float[] values) {
    cross.put(request, new float[][] {keys, values});
  }

  @Override
  public void compacted(List<Sequence> active, KvCache cache, CrossCache crossCache) {
    calls++;
    clock.addAndGet(TICK_NANOS);
    maxActive = Math.max(maxActive, active.size());
    if (errors.size() > 20) {
      return;
    }
    try (PointerScope scope = new PointerScope()) {
      int n = active.size();
      for (int i = 0; i < n; i++) {
        if (active.get(i).slot != i) {
          errors.add("call " + calls + ": row " + i + " of " + n + " holds slot "
              + active.get(i).slot);
        }
      }
      for (int j = 0; j < slots; j++) {
        if (cache.isTaken(j) != j < n) {
          errors.add("call " + calls + ": slot " + j + " taken " + cache.isTaken(j) + " with "
              + n + " active");
        }
      }
      for (Sequence s : active) {
        checkSeen(s, cache);
        float[][] expected = cross.get(s.future);
        if (expected != null) {
          checkRow("cross keys", s, expected[0], crossCache.keys());
          checkRow("cross values", s, expected[1], crossCache.values());
        }
      }
    } catch (RuntimeException e) {
      errors.add("call " + calls + ": " + e);
    }
  }

  private void checkSeen(Sequence s, KvCache cache) {
    Set<Integer> held = new HashSet<>();
    for (int t : s.prompt) {
      held.add(t);
    }
    for (int t : s.tokens()) {
      held.add(t);
    }
    float[] row = CrossCacheTest.floats(cache.seen().select(0, s.slot)
        .to(torch.ScalarType.Float));
    for (int v = 0; v < row.length; v++) {
      if ((row[v] != 0) != held.contains(v)) {
        errors.add("call " + calls + ": slot " + s.slot + "'s seen row has token " + v + " "
            + (row[v] != 0) + " but its sequence " + (held.contains(v) ? "holds" : "lacks")
            + " it");
        return;
      }
    }
  }

  private void checkRow(String what, Sequence s, float[] expected, Tensor all) {
    double d = CrossCacheTest.maxDiff(expected, CrossCacheTest.floats(all.select(1, s.slot)));
    if (d > 1e-5) {
      errors.add("call " + calls + ": slot " + s.slot + "'s " + what + " are not its request's"
          + " (max difference " + d + ")");
    }
  }

  List<String> errors() {
    return List.copyOf(errors);
  }

  int calls() {
    return calls;
  }

  int maxActive() {
    return maxActive;
  }
}
