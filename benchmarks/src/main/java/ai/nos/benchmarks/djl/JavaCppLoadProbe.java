package ai.nos.benchmarks.djl;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.bytedeco.javacpp.ClassProperties;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Where a CPU-only JVM's {@code Loader.load(torch.class)} spends its time (issue 20 item 5; the
 * findings are in docs/history.md, #20). {@code JavaCppLoadProbe <mode>}, one fresh JVM per run:
 * <ul>
 *   <li>{@code default}: {@code Loader.load(torch.class)}, then the first tensor operations (whose
 *       classes each run JavaCPP's preload loop again, answered from its cache).
 *   <li>{@code cpu-window}: the same with JavaCPP's shared platform properties saying "no
 *       extension" during the load only, so the presets' {@code -gpu} platform and its CUDA
 *       preloads are skipped; shows that the CUDA look-ups are only deferred to the next class.
 *   <li>{@code find}: sums {@code Loader.findLibrary} over torch's preload list on one
 *       ClassProperties (as {@code Loader.load} does) and on a fresh one per library: JavaCPP
 *       1.5.13's findLibrary appends to the properties' live "platform.preloadresource" list on
 *       each call, so one load's look-ups grow quadratically.
 * </ul>
 * The {@code cpu-window} mode changes JavaCPP's process-wide state for a moment: a probe only.
 */
public final class JavaCppLoadProbe {
  private JavaCppLoadProbe() {}

  public static void main(String[] args) {
    String mode = args.length > 0 ? args[0] : "";
    switch (mode) {
      case "default", "cpu-window" -> loadAndUse(mode);
      case "find" -> find();
      default -> throw new IllegalArgumentException(
          "usage: JavaCppLoadProbe default|cpu-window|find, got '" + mode + "'");
    }
  }

  private static void loadAndUse(String mode) {
    long t0 = System.nanoTime();
    if (mode.equals("cpu-window")) {
      Properties shared = Loader.loadProperties();
      Object before = shared.get("platform.extension");
      shared.setProperty("platform.extension", "");
      try {
        Loader.load(torch.class);
      } finally {
        if (before == null) {
          shared.remove("platform.extension");
        } else {
          shared.put("platform.extension", before);
        }
      }
    } else {
      Loader.load(torch.class);
    }
    long t1 = System.nanoTime();
    float sum;
    try (Tensor t = torch.ones(2, 3); Tensor s = torch.sum(t)) {
      sum = s.item_float();
    }
    long t2 = System.nanoTime();
    System.out.println("mode " + mode + " load-ms " + (t1 - t0) / 1_000_000 + " first-ops-ms "
        + (t2 - t1) / 1_000_000 + " libraries " + Loader.getLoadedLibraries().size() + " sum " + sum
        + " cuda " + torch.hasCUDA());
  }

  private static void find() {
    Loader.load(torch.class);
    List<String> preloads = new ArrayList<>(
        Loader.loadProperties(torch.class, Loader.loadProperties(), true).get("platform.preload"));
    for (String mode : new String[] {"shared", "fresh", "shared", "fresh"}) {
      ClassProperties p = Loader.loadProperties(torch.class, Loader.loadProperties(), true);
      long total = 0;
      for (String lib : preloads) {
        ClassProperties q = mode.equals("fresh")
            ? Loader.loadProperties(torch.class, Loader.loadProperties(), true) : p;
        long t0 = System.nanoTime();
        Loader.findLibrary(torch.class, q, lib, false);
        total += System.nanoTime() - t0;
      }
      System.out.println("findLibrary over " + preloads.size() + " preloads, " + mode
          + " properties: " + total / 1_000_000 + " ms; preloadresource entries after: "
          + p.get("platform.preloadresource").size());
    }
  }
}
