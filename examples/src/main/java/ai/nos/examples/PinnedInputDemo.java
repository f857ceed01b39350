package ai.nos.examples;

import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.PinnedBuffer;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Path;

/**
 * Feeds a model from one reused {@link PinnedBuffer}: each batch is written straight into pinned
 * memory, and on a GPU goes to the device with one transfer and no host copy. The same program
 * runs on a machine without a GPU, where the buffer is ordinary memory.
 *
 * <p>Run from the repository root: {@code mvn -q -B -pl examples -am -DskipTests package
 * exec:java -Dexec.mainClass=ai.nos.examples.PinnedInputDemo} (a models folder may be the first
 * argument).
 */
public final class PinnedInputDemo {
  private static final int BATCH = 64;

  private PinnedInputDemo() {}

  public static void main(String[] args) throws IOException {
    Path models =
        Path.of(args.length > 0 ? args[0] : System.getProperty("nos.models.dir", "models"));
    int[] result = run(models);
    System.out.printf("accuracy: %.2f%% (%d of %d)%n", 100.0 * result[0] / result[1], result[0],
        result[1]);
  }

  /** Classifies the held-out digits through one pinned buffer: {correct, total}. */
  static int[] run(Path models) throws IOException {
    ModelSpec spec = ModelSpec.fromJson(models.resolve("digits/digits.json"));
    Digits test = Digits.read(models.resolve("digits/digits-test.csv"));
    try (Model model = Nos.load(spec);
        PinnedBuffer images = PinnedBuffer.allocate(DType.FLOAT32, BATCH, 1, 8, 8)) {
      System.out.printf("model %s on %s, input buffer %s%n", spec.id(), model.device(), images);
      int correct = 0;
      for (int start = 0; start < test.size(); start += BATCH) {
        int n = Math.min(BATCH, test.size() - start);
        // Write this batch's pixels into the pinned buffer; the last batch uses its first rows.
        FloatBuffer pixels = images.buffer().asFloatBuffer();
        pixels.put(test.images(start, n));
        float[] logits = model.infer(images.tensor(n, 1, 8, 8)).get("logits").toFloatArray();
        // The call has returned: the buffer is free for the next batch.
        for (int i = 0; i < n; i++) {
          if (DigitsDemo.argmax(logits, i * 10, 10) == test.label(start + i)) {
            correct++;
          }
        }
      }
      return new int[] {correct, test.size()};
    }
  }
}
