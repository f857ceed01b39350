package ai.nos.internal.manager;

import ai.nos.DeviceStats;
import java.util.ArrayList;
import java.util.List;

/** One device's books in a {@link ManagerCore}. Guarded by the core's lock. */
final class Slot {
  final Backend.DeviceInfo info;
  final long budget;
  final List<Copy> residents = new ArrayList<>();
  long used;
  long loads;
  long evictions;

  Slot(Backend.DeviceInfo info, long budget) {
    this.info = info;
    this.budget = budget;
  }

  long free() {
    return budget - used;
  }

  /** A snapshot for {@link ai.nos.ModelManager#stats()}; called under the core's lock. */
  DeviceStats snapshot() {
    List<String> ids = new ArrayList<>();
    for (Copy c : residents) {
      ids.add(c.entry.spec.id());
    }
    return new DeviceStats(info.device(), info.name(), info.totalBytes(), budget, used, ids, loads,
        evictions);
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
    return info.device() + " (budget " + budget + " B, used " + used + " B)";
  }
}
