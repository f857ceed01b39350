package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.DeviceUnavailableException;
import ai.nos.ModelSpec;
import ai.nos.NosException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** The devices of a {@link ManagerCore} and which of them a spec may use. Immutable list. */
final class Devices {
  private final List<Slot> slots;

  Devices(List<Slot> slots) {
    this.slots = List.copyOf(slots);
  }

  List<Slot> all() {
    return slots;
  }

  /**
   * The devices a spec's device preference allows: {@code auto} means the CUDA devices when the
   * manager has any, else the CPU.
   *
   * @throws DeviceUnavailableException if none does; NOS never falls back on its own
   */
  List<Slot> allowed(ModelSpec spec) {
    Device want = spec.device();
    boolean anyCuda = slots.stream().anyMatch(s -> s.info.device().isCuda());
    List<Slot> out = new ArrayList<>();
    for (Slot s : slots) {
      Device d = s.info.device();
      if ((want.isAuto() && (d.isCuda() || !anyCuda)) || (want.isCpu() && d.isCpu())
          || (want.isCuda() && d.isCuda()
              && (want.index().isEmpty() || want.index().equals(d.index())))) {
        out.add(s);
      }
    }
    if (out.isEmpty()) {
      throw new DeviceUnavailableException("model '" + spec.id() + "' asks for device " + want
          + " but this manager uses " + slots.stream().map(s -> s.info.device().toString())
              .collect(Collectors.toList()) + ". NOS does not fall back to another device on"
          + " its own.");
    }
    return out;
  }

  /** Throws, stating the bytes and every budget, if the model fits no allowed device at all. */
  void requireFits(Entry entry) {
    List<Slot> allowed = allowed(entry.spec);
    for (Slot s : allowed) {
      if (s.budget - s.overhead >= entry.estimate) {
        return;
      }
    }
    throw new NosException("model '" + entry.spec.id() + "' needs " + entry.estimate + " bytes"
        + (entry.measured ? " (measured)" : " (estimated)") + ", more than any device's budget: "
        + describe(allowed));
  }

  static String describe(List<Slot> slots) {
    return slots.stream().map(Slot::toString).collect(Collectors.joining(", "));
  }
}
