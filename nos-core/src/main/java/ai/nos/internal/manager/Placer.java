package ai.nos.internal.manager;

import ai.nos.Placement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The placement decisions of a {@link ManagerCore}, as pure functions of the books so they can be
 * tested against reference implementations.
 */
final class Placer {
  private Placer() {}

  /**
   * The slot a copy of {@code need} bytes goes to without evicting anything, or null.
   * BEST_FIT: least budget left after placing; SPREAD: most left. Ties go to the first slot.
   */
  static Slot choose(Placement policy, List<Slot> candidates, long need) {
    Slot best = null;
    for (Slot s : candidates) {
      long left = s.free() - need;
      if (left < 0) {
        continue;
      }
      if (best == null
          || (policy == Placement.BEST_FIT
              ? left < best.free() - need : left > best.free() - need)) {
        best = s;
      }
    }
    return best;
  }

  /** The idle copies to evict from one slot to make {@code need} bytes, coldest first. */
  record Plan(Slot slot, List<Copy> victims, long coldestKept, long freed) {}

  /**
   * Plans evictions: on each candidate slot, idle copies go least recently used first until the
   * copy fits. Among slots where it can fit, the plan whose most recently used victim is the
   * coldest wins (it disturbs the least recent work); ties go to fewer bytes evicted. Null if no
   * slot can make room from idle copies.
   */
  static Plan planEviction(List<Slot> candidates, long need) {
    return planEviction(candidates, need, c -> true);
  }

  /** As {@link #planEviction(List, long)}, with only the idle copies {@code evictable} accepts. */
  static Plan planEviction(List<Slot> candidates, long need,
      java.util.function.Predicate<Copy> evictable) {
    Plan best = null;
    for (Slot s : candidates) {
      List<Copy> idle = new ArrayList<>();
      for (Copy c : s.residents) {
        if (c.isIdle() && evictable.test(c)) {
          idle.add(c);
        }
      }
      idle.sort(Comparator.comparingLong(c -> c.lastUsed));
      long free = s.free();
      long freed = 0;
      List<Copy> victims = new ArrayList<>();
      for (Copy c : idle) {
        if (free + freed >= need) {
          break;
        }
        victims.add(c);
        freed += c.bytes;
      }
      if (free + freed < need) {
        continue;
      }
      long newest = victims.isEmpty() ? Long.MIN_VALUE : victims.get(victims.size() - 1).lastUsed;
      Plan p = new Plan(s, victims, newest, freed);
      if (best == null || newest < best.coldestKept()
          || (newest == best.coldestKept() && freed < best.freed())) {
        best = p;
      }
    }
    return best;
  }
}
