package ai.nos.benchmarks.gpu;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.global.torch;

/**
 * A benchmark-only switch of libtorch's process-wide SDPA priority order (#17/#18: whether NOS's
 * libtorch 2.10 picks a slower scaled_dot_product_attention backend for the decode steps than
 * Python's torch 2.11 does). {@code -Dnos.bench.sdpOrder=cudnn,flash} puts those backends first,
 * the rest after them in libtorch's order. NOS itself never changes process-wide settings; this
 * is for measuring what an export-level choice of backend would gain.
 */
final class SdpOrder {
  /** libtorch's SDPBackend values (sdp_utils.h), in their numeric order. */
  static final List<String> BACKENDS =
      List.of("math", "flash", "efficient", "cudnn", "overrideable");

  private SdpOrder() {}

  /** Applies {@code nos.bench.sdpOrder} if set; returns the order in force, for the log. */
  static String applyFromProperty() {
    String spec = System.getProperty("nos.bench.sdpOrder", "").trim();
    if (!spec.isEmpty()) {
      apply(spec);
    }
    return current();
  }

  /**
   * For a benchmark's main: if {@code nos.bench.sdpOrder} is set, loads libtorch, applies it and
   * prints "WHO: SDPA priority [...]"; otherwise leaves libtorch unloaded and prints nothing.
   */
  static void applyIfAsked(String who) {
    if (!System.getProperty("nos.bench.sdpOrder", "").isBlank()) {
      ai.nos.internal.torch.TorchRuntime.ensureLoaded();
      System.out.println(who + ": SDPA priority " + applyFromProperty());
    }
  }

  /** Puts the named backends (comma-separated, names of {@link #BACKENDS}) first. */
  static void apply(String spec) {
    Set<Integer> order = new LinkedHashSet<>();
    for (String name : spec.split(",")) {
      int b = BACKENDS.indexOf(name.trim().toLowerCase(Locale.ROOT));
      if (b < 0) {
        throw new IllegalArgumentException("nos.bench.sdpOrder names backends of " + BACKENDS
            + " but had '" + name.trim() + "' in '" + spec + "'");
      }
      order.add(b);
    }
    org.bytedeco.javacpp.IntPointer now = torch.globalContext().sDPPriorityOrder();
    int n = (int) torch.num_sdp_backends();
    for (int i = 0; i < n; i++) {
      order.add(now.get(i));
    }
    List<Integer> all = new ArrayList<>(order);
    if (all.size() != n) {
      throw new IllegalStateException("libtorch has " + n + " SDPA backends but the order has "
          + all);
    }
    LongVector v = new LongVector(n);
    for (int i = 0; i < n; i++) {
      v.put(i, all.get(i));
    }
    torch.globalContext().setSDPPriorityOrder(v);
  }

  /**
   * libtorch's priority order now, by name; {@code apply(String.join(",", order()))} restores it.
   */
  static List<String> order() {
    org.bytedeco.javacpp.IntPointer order = torch.globalContext().sDPPriorityOrder();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < torch.num_sdp_backends(); i++) {
      names.add(name(order.get(i)));
    }
    return names;
  }

  /** libtorch's priority order now, by name, for a log line. */
  static String current() {
    return order().toString();
  }

  /** The name of SDPBackend value {@code b} ({@link #BACKENDS}), or "?" for one not known. */
  static String name(long b) {
    return b >= 0 && b < BACKENDS.size() ? BACKENDS.get((int) b) : "?";
  }
}
