package ai.nos.benchmarks.djl;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A fresh JVM's first result: {@code FirstResult <engine> [outputs file]} loads the engine, makes
 * one call of 32 images and prints the wall clock (epoch ms) when the logits are in hand, so the
 * script that started the process measures process start to first output; then the phases as
 * this JVM saw them (from the JVM's start: to main, to loaded, to the first output) and the
 * process's peak RSS (VmHWM). With an outputs file, writes the logits there, one per line, for
 * {@link Agree}.
 */
public final class FirstResult {
  private FirstResult() {}

  public static void main(String[] args) throws IOException {
    long main = System.currentTimeMillis();
    if (args.length < 1) {
      throw new IllegalArgumentException("usage: FirstResult nos|nos-batched|djl [outputs file]");
    }
    float[] logits;
    long loaded;
    // With -Dfirst.phases=true, NOS's libtorch is loaded on its own first, so its share shows
    // (the timed runs leave this off: the native load then happens inside the model load).
    long natives = main;
    if (Boolean.getBoolean("first.phases") && args[0].startsWith("nos")) {
      ai.nos.Nos.versions();
      natives = System.currentTimeMillis();
    }
    try (Contender contender = Contender.load(args[0])) {
      loaded = System.currentTimeMillis();
      try (Contender.Caller caller = contender.caller(32)) {
        logits = caller.logits();
      }
      long first = System.currentTimeMillis();
      long jvm = ManagementFactory.getRuntimeMXBean().getStartTime();
      System.out.println("first-output-epoch-ms " + first);
      System.out.println("phases-ms jvm-to-main " + (main - jvm) + (natives > main
          ? " libtorch " + (natives - main) : "") + " load " + (loaded - natives)
          + " first-call " + (first - loaded) + " intra-op-threads " + contender.intraOpThreads());
    }
    System.out.println("peak-rss-kb " + peakRssKb());
    if (args.length > 1) {
      List<String> lines = new ArrayList<>(logits.length);
      for (float v : logits) {
        lines.add(Float.toString(v));
      }
      Files.write(Path.of(args[1]), lines);
    }
  }

  private static long peakRssKb() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }
}
