package ai.nos.internal.manager;

import ai.nos.Placement;
import ai.nos.internal.Lease;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory books of a {@link ManagerCore}: where a new copy goes ({@link #place}, through the
 * {@link Placer}), which idle copies make room for it ({@link #evictIdle} and the eviction plans),
 * and taking a copy off the books ({@link #unbook}). The core's essay ("Books", "Eviction",
 * "Scaling with traffic") says what the rules are and why; this class holds them.
 *
 * <h2>Locking</h2>
 * It shares the core's one lock and its condition, never a lock of its own: {@link #place} and
 * {@link #unbook} are called with the lock held; {@link #evictIdle} takes it (it is reentrant).
 * An eviction runs the copy's free action on the evicting thread, under the lock, as before the
 * split: that action parks the copy ({@link Parking#park}) and unbooks it, and shuts the copy's
 * batcher down, which takes that batcher's own lock under the core's: the only lock taken inside
 * it. Lock order: the core's lock is the outermost; see the core's essay, "Locks and their order".
 */
final class Books {
  /** The core's logger: these lines keep the category they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(ManagerCore.class);

  private final ReentrantLock lock;
  /** Signalled whenever a copy leaves the books; see the core's "Concurrency". */
  private final Condition changed;
  private final Devices devices;
  private final Placement placement;
  private final Backend backend;
  private final HostTier hostTier;

  Books(ReentrantLock lock, Condition changed, Devices devices, Placement placement,
      Backend backend, HostTier hostTier) {
    this.lock = lock;
    this.changed = changed;
    this.devices = devices;
    this.placement = placement;
    this.backend = backend;
    this.hostTier = hostTier;
  }

  /**
   * Books room for a new copy (evicting idle copies if needed), or null if there is none now:
   * on a device the model is not on, else (see "Scaling with traffic") on one it is. A scale-up
   * evicts no copy that a scaled model still wants. Called with the lock held.
   */
  Copy place(Entry entry, boolean scaleUp) {
    return place(entry, scaleUp, s -> true);
  }

  /**
   * As {@link #place(Entry, boolean)}, sharing only the devices {@code mayShare} accepts (the
   * scaling loop's: not those where another copy did not help).
   */
  Copy place(Entry entry, boolean scaleUp, java.util.function.Predicate<Slot> mayShare) {
    List<Slot> candidates = new ArrayList<>();
    List<Slot> same = new ArrayList<>();
    for (Slot s : devices.allowed(entry.spec)) {
      if (!s.hosts(entry)) {
        candidates.add(s);
      } else if (sharesDevices(entry) && mayShare.test(s)) {
        same.add(s);
      }
    }
    long need = entry.estimate;
    Slot slot = Placer.choose(placement, candidates, need);
    if (slot == null) {
      slot = Placer.choose(placement, same, need);
    }
    // The model's parked copy leaves the tier before evictions park others there, which could
    // otherwise push it out just as it is wanted.
    Parked parked = hostTier.take(entry);
    if (slot == null) {
      java.util.function.Predicate<Copy> evictable = c -> c.entry != entry
          && (!scaleUp || c.entry.scaler == null || c.entry.active() > c.entry.replicas);
      Placer.Plan plan = Placer.planEviction(candidates, need, evictable);
      if (plan == null) {
        plan = Placer.planEviction(same, need, evictable);
      }
      if (plan != null && scaleUp && belowMin(plan)) {
        plan = null;
      }
      if (plan != null) {
        for (Copy victim : plan.victims()) {
          evict(victim);
        }
        if (!plan.victims().isEmpty()) {
          backend.releaseCache(plan.slot().info);
        }
      }
      if (plan == null || plan.slot().free() < need) {
        if (parked != null) {
          hostTier.put(entry, parked).forEach(Parking::closeQuietly);
        }
        return null;
      }
      slot = plan.slot();
    }
    Copy copy = new Copy(entry, slot, need);
    copy.parked = parked;
    slot.used += need;
    slot.residents.add(copy);
    entry.copies.add(copy);
    return copy;
  }

  /** Whether a plan evicts so many copies of a scaled model that it falls below its wanted. */
  private static boolean belowMin(Placer.Plan plan) {
    Map<Entry, Integer> taken = new java.util.HashMap<>();
    for (Copy c : plan.victims()) {
      taken.merge(c.entry, 1, Integer::sum);
    }
    for (Map.Entry<Entry, Integer> t : taken.entrySet()) {
      Entry e = t.getKey();
      if (e.scaler != null && e.active() - t.getValue() < e.replicas) {
        return true;
      }
    }
    return false;
  }

  /** Whether a model's copies may share a device: scaled and batched (see "Scaling"). */
  static boolean sharesDevices(Entry entry) {
    return entry.scaler != null && entry.spec.batching().isPresent();
  }

  /**
   * Evicts idle copies of other models on a slot, coldest first, until {@code bytes} are freed.
   * Takes the lock (reentrant: callers may hold it).
   */
  void evictIdle(Slot slot, long bytes, Entry keep) {
    lock.lock();
    try {
      List<Copy> idle = new ArrayList<>(slot.residents);
      idle.removeIf(c -> c.entry == keep || !c.isIdle());
      idle.sort(Comparator.comparingLong(c -> c.lastUsed));
      long freed = 0;
      for (Copy c : idle) {
        if (freed >= bytes) {
          break;
        }
        long b = c.bytes;
        if (evict(c)) {
          freed += b;
        }
      }
      if (freed > 0) {
        backend.releaseCache(slot.info);
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Evicts a copy if idle (its lease's free action then runs here: it parks or frees the copy and
   * unbooks it); whether it did. Called with the lock held.
   */
  private boolean evict(Copy copy) {
    Lease l = copy.lease;
    if (l == null) {
      return false;
    }
    // Read by the free action, which closeIfIdle runs on this thread when the copy is idle.
    copy.park = hostTier.enabled();
    if (l.closeIfIdle()) {
      copy.slot.evictions++;
      LOG.info("evicted model '{}' from {} ({} bytes, idle)", copy.entry.spec.id(),
          copy.slot.info.device(), copy.bytes);
      return true;
    }
    copy.park = false;
    return false;
  }

  /** Takes a copy off the books and wakes the waiters; called with the lock held. */
  void unbook(Copy copy) {
    copy.state = Copy.State.GONE;
    copy.slot.used -= copy.bytes;
    copy.slot.residents.remove(copy);
    copy.entry.copies.remove(copy);
    changed.signalAll();
  }
}
