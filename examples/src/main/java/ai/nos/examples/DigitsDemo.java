package ai.nos.examples;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Classifies the held-out handwritten digits with the model shipped in {@code models/digits}.
 *
 * <p>Run from the repository root: {@code mvn -q -B -pl examples -am -DskipTests package exec:java}
 * (or pass another models folder as the first argument).
 */
public final class DigitsDemo {
  private static final int BATCH = 32;

  private DigitsDemo() {}

  public static void main(String[] args) throws IOException {
    Path models =
        Path.of(args.length > 0 ? args[0] : System.getProperty("nos.models.dir", "models"));
    ModelSpec spec = ModelSpec.fromJson(models.resolve("digits/digits.json"));
    Digits test = Digits.read(models.resolve("digits/digits-test.csv"));
    System.out.printf("NOS digits demo: %d held-out images, model %s%n", test.size(), spec.id());

    try (Model model = Nos.load(spec)) {
      System.out.printf("loaded on %s%n", model.device());
      int correct = 0;
      long[] nanos = new long[(test.size() + BATCH - 1) / BATCH];
      int[] predicted = new int[test.size()];
      for (int b = 0, start = 0; start < test.size(); b++, start += BATCH) {
        int n = Math.min(BATCH, test.size() - start);
        Tensor images = Tensor.of(test.images(start, n), n, 1, 8, 8);
        long t0 = System.nanoTime();
        float[] logits = model.infer(images).get("logits").toFloatArray();
        nanos[b] = System.nanoTime() - t0;
        for (int i = 0; i < n; i++) {
          predicted[start + i] = argmax(logits, i * 10, 10);
          if (predicted[start + i] == test.label(start + i)) {
            correct++;
          }
        }
      }
      for (int i = 0; i < 3; i++) {
        System.out.printf("%nimage %d: label %d, predicted %d%n%s", i, test.label(i), predicted[i],
            test.ascii(i));
      }
      Arrays.sort(nanos);
      System.out.printf("%naccuracy: %.2f%% (%d of %d)%n", 100.0 * correct / test.size(), correct,
          test.size());
      System.out.printf("latency per batch of %d: p50 %.3f ms, p90 %.3f ms, max %.3f ms"
          + " (first batch included)%n", BATCH, nanos[nanos.length / 2] / 1e6,
          nanos[(int) (nanos.length * 0.9)] / 1e6, nanos[nanos.length - 1] / 1e6);
    }
  }

  static int argmax(float[] values, int offset, int length) {
    int best = 0;
    for (int i = 1; i < length; i++) {
      if (values[offset + i] > values[offset + best]) {
        best = i;
      }
    }
    return best;
  }
}
