package ai.nos.internal.manager;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves a {@link ManagerCore}'s copies between a device and its {@link HostTier} (the core's
 * essay, "Host tier", says when and why): parks an evicted copy's replica in host memory, brings
 * a parked copy back on the device booked for it (or drops it when its artifact changed or it
 * cannot come back), and frees parked copies that leave the tier.
 *
 * <h2>Locking</h2>
 * The tier itself is guarded by the core's one lock, which this class shares, never a lock of its
 * own. {@link #unpark} is called without the lock (it runs the host-to-device copy) and takes it
 * only to count; {@link #park} takes no lock and runs wherever the lease's free action runs, so
 * under the lock when an eviction frees a copy; {@link #closeQuietly} takes none. Lock order:
 * the core's lock is the outermost; see the core's essay, "Locks and their order".
 */
final class Parking {
  /** The core's logger: these lines keep the category they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(ManagerCore.class);

  private final ReentrantLock lock;
  private final Backend backend;
  private final HostTier hostTier;

  /** @param lock the core's lock, which guards {@code hostTier} */
  Parking(ReentrantLock lock, Backend backend, HostTier hostTier) {
    this.lock = lock;
    this.backend = backend;
    this.hostTier = hostTier;
  }

  /**
   * The model's parked copy back on the booked device, or null (the parked copy closed) if its
   * artifact changed or it could not come back: the caller then loads from the artifact. An Error
   * closes the parked copy and is passed on. Called without the lock.
   */
  Replica unpark(Copy copy, Parked parked) {
    String id = copy.entry.spec.id();
    String stale;
    try {
      stale = parked.staleReason();
    } catch (RuntimeException e) {
      stale = e.getMessage();
    }
    if (stale != null) {
      LOG.info("model '{}': its copy in host memory is not reused ({}); loading it from its"
          + " artifact", id, stale);
      discard(parked);
      return null;
    }
    long t0 = System.nanoTime();
    Replica replica;
    try {
      replica = backend.unpark(parked, copy.slot.info);
    } catch (RuntimeException e) {
      LOG.warn("model '{}': its copy in host memory could not come back on {} ({}); loading it"
          + " from its artifact", id, copy.slot.info.device(), e.toString());
      discard(parked);
      return null;
    } catch (Error e) {
      discard(parked);
      throw e;
    }
    lock.lock();
    try {
      hostTier.unparks++;
    } finally {
      lock.unlock();
    }
    LOG.debug("model '{}' back on {} from host memory in {} us", id, copy.slot.info.device(),
        TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0));
    return replica;
  }

  /** Counts and closes a parked copy that will not come back; called without the lock. */
  private void discard(Parked parked) {
    lock.lock();
    try {
      hostTier.dropped++;
    } finally {
      lock.unlock();
    }
    closeQuietly(parked);
  }

  /** Frees a parked copy, logging a failure; best called outside the lock. */
  static void closeQuietly(Parked parked) {
    try {
      parked.close();
    } catch (RuntimeException e) {
      LOG.warn("could not free a copy parked in host memory: {}", e.toString());
    }
  }

  /**
   * An evicted copy moved to host memory, or null (the caller frees it) if it cannot be. Runs in
   * the lease's free action: with the lock held or not; it takes no lock.
   */
  Parked park(Copy copy) {
    try {
      return copy.replica.park();
    } catch (RuntimeException e) {
      LOG.warn("model '{}' on {}: could not park its evicted copy in host memory ({}); freeing"
          + " it", copy.entry.spec.id(), copy.slot.info.device(), e.toString());
      return null;
    }
  }
}
