package ai.nos.benchmarks.djl;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code Agree <a> <b>}: the largest relative difference between two files of logits written by
 * {@link FirstResult} (|a - b| / max(|a|, |b|, 1e-6)); fails if they differ in length.
 */
public final class Agree {
  private Agree() {}

  public static void main(String[] args) throws IOException {
    List<String> a = Files.readAllLines(Path.of(args[0]));
    List<String> b = Files.readAllLines(Path.of(args[1]));
    if (a.size() != b.size() || a.isEmpty()) {
      throw new IllegalStateException("outputs differ in length: " + args[0] + " has " + a.size()
          + " values, " + args[1] + " has " + b.size());
    }
    double worst = 0;
    for (int i = 0; i < a.size(); i++) {
      double x = Double.parseDouble(a.get(i));
      double y = Double.parseDouble(b.get(i));
      worst = Math.max(worst, Math.abs(x - y) / Math.max(Math.max(Math.abs(x), Math.abs(y)), 1e-6));
    }
    System.out.printf("max-relative-difference %.3e over %d logits%n", worst, a.size());
  }
}
