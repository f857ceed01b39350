package ai.nos.internal.manager;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The host-memory tier of a {@link ManagerCore}: evicted copies parked in host memory, at most one
 * per model, bounded by a budget in bytes, least recently parked or used first out.
 *
 * <p>A plain access-ordered map rather than a Caffeine cache: the tier is guarded by the core's
 * lock with the rest of the books, it must be strictly least-recently-used (Caffeine's TinyLFU
 * admission may refuse a newcomer in favour of a frequent entry, which would make the next swap
 * go to disk unpredictably), and a parked copy can outweigh Caffeine's int weights.
 *
 * <p>Not thread-safe: every method runs under the core's lock. Methods never close a copy
 * themselves; they return what left the tier, for the caller to close outside the lock.
 *
 * <p>The books never pass the budget. Host memory may, for a moment, by the copies in transit: a
 * copy taken back keeps its host bytes until its weights are on the device, and a copy pushed
 * out is freed by its caller after the lock is released; at rest the two agree
 * ({@code HostTierTest.swapStorm_booksStayWithinBothBudgets}).
 */
public final class HostTier {
  private final long budget;
  private final Map<Entry, Parked> parked = new LinkedHashMap<>(16, 0.75f, true);
  private long used;
  long parks;
  long unparks;
  long dropped;

  HostTier(long budget) {
    if (budget < 0) {
      throw new IllegalArgumentException("host memory budget must not be negative but was "
          + budget);
    }
    this.budget = budget;
  }

  boolean enabled() {
    return budget > 0;
  }

  /**
   * Parks a copy of {@code entry}; returns the copies that leave the tier to make room (least
   * recently used first), the given one itself if it alone exceeds the budget, and a copy of the
   * same model parked before (one per model: a model comes back with one copy).
   */
  List<Parked> put(Entry entry, Parked copy) {
    List<Parked> out = new ArrayList<>();
    long bytes = copy.hostBytes();
    if (bytes > budget) {
      out.add(copy);
      dropped++;
      return out;
    }
    Parked old = parked.remove(entry);
    if (old != null) {
      used -= old.hostBytes();
      out.add(old);
      dropped++;
    }
    for (Iterator<Parked> it = parked.values().iterator(); it.hasNext()
        && used + bytes > budget; ) {
      Parked lru = it.next();
      it.remove();
      used -= lru.hostBytes();
      out.add(lru);
      dropped++;
    }
    parked.put(entry, copy);
    used += bytes;
    parks++;
    return out;
  }

  /**
   * Takes a model's parked copy out of the tier for it to come back; null if none. The caller
   * counts the outcome ({@link #unparks} or {@link #dropped}).
   */
  Parked take(Entry entry) {
    Parked p = parked.remove(entry);
    if (p != null) {
      used -= p.hostBytes();
    }
    return p;
  }

  /** Removes a model's parked copy (the model was unloaded) and returns it to close; or null. */
  Parked drop(Entry entry) {
    Parked p = parked.remove(entry);
    if (p != null) {
      used -= p.hostBytes();
      dropped++;
    }
    return p;
  }

  /** Empties the tier, returning every copy to close. */
  List<Parked> clear() {
    List<Parked> out = new ArrayList<>(parked.values());
    dropped += out.size();
    parked.clear();
    used = 0;
    return out;
  }

  boolean holds(Entry entry) {
    return parked.containsKey(entry);
  }

  /** The models parked now, least recently used first. */
  List<String> ids() {
    List<String> out = new ArrayList<>();
    for (Entry e : parked.keySet()) {
      out.add(e.spec.id());
    }
    return out;
  }

  Stats stats() {
    return new Stats(budget, used, ids(), parks, unparks, dropped);
  }

  /**
   * A snapshot of the tier.
   *
   * @param budgetBytes the tier's budget (0: off)
   * @param usedBytes host bytes of the copies parked now
   * @param models the models parked now, least recently used first
   * @param parks copies parked, ever
   * @param unparks copies brought back to a device from the tier, ever
   * @param dropped copies that left the tier without coming back (room, unload, a changed file)
   */
  public record Stats(long budgetBytes, long usedBytes, List<String> models, long parks,
      long unparks, long dropped) {
    public Stats {
      models = List.copyOf(models);
    }
  }
}
