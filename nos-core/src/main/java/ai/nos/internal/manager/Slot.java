package ai.nos.internal.manager;

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
