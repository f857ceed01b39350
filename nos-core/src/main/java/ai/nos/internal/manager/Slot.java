package ai.nos.internal.manager;

import ai.nos.DeviceStats;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/** One device's books in a {@link ManagerCore}. Guarded by the core's lock. */
final class Slot {
  final Backend.DeviceInfo info;
  final long budget;
  final List<Copy> residents = new ArrayList<>();
  long used;
  /**
   * Bytes the native libraries hold here for the process rather than for any model (per-thread
   * cuBLAS/cuDNN workspaces), as the backend measured them ({@link Backend#libraryBytes}); booked
   * once for the device, outside every model's footprint.
   */
  long overhead;
  long loads;
  /** Runs calls of copies without batching on a GPU; null until the first such copy loads. */
  volatile CallThreads callThreads;
  long evictions;
  /**
   * Calls started on copies here, ever; lets a load tell whether the device was quiet. Added to
   * on every call and read only by loads, so striped (no shared counter for callers to contend
   * on); a sum read after a call started always counts it.
   */
  final LongAdder calls = new LongAdder();

  Slot(Backend.DeviceInfo info, long budget) {
    this.info = info;
    this.budget = budget;
  }

  long free() {
    return budget - overhead - used;
  }

  /** Whether the books are over the budget. */
  boolean over() {
    return free() < 0;
  }

  /** A snapshot for {@link ai.nos.ModelManager#stats()}; called under the core's lock. */
  DeviceStats snapshot(long allocatedBytes) {
    List<String> ids = new ArrayList<>();
    for (Copy c : residents) {
      ids.add(c.entry.spec.id());
    }
    return new DeviceStats(info.device(), info.name(), info.totalBytes(), budget, used, ids, loads,
        evictions, allocatedBytes, overhead);
  }

  /** Whether a copy other than {@code except} has calls in flight here. */
  boolean busyBesides(Copy except) {
    for (Copy c : residents) {
      if (c != except && c.inFlight() > 0) {
        return true;
      }
    }
    return false;
  }

  boolean hosts(Entry entry) {
    for (Copy c : residents) {
      if (c.entry == entry) {
        return true;
      }
    }
    return false;
  }

  @Override
  public String toString() {
    return info.device() + " (budget " + budget + " B, used " + used + " B"
        + (overhead > 0 ? ", libraries " + overhead + " B" : "") + ")";
  }
}
