package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.function.BiConsumer;

/**
 * The bad command lines of {@link ImageProbeArgs}, for each probe that takes it: every one is an
 * IllegalArgumentException from the probe's own {@code run}, naming the argument and the value.
 */
final class ImageProbeArgsCases {
  private ImageProbeArgsCases() {}

  static void assertRefused(Path model, BiConsumer<String[], PrintStream> run) {
    String f = model.toString();
    expect(run, new String[] {}, "FILE");
    expect(run, new String[] {"/no/such/model.pt"}, "FILE", "'/no/such/model.pt'");
    expect(run, new String[] {f, "gpu"}, "DEVICE", "'gpu'");
    expect(run, new String[] {f, "auto"}, "DEVICE", "'auto'");
    expect(run, new String[] {f, "cpu", "0"}, "BATCH", "'0'");
    expect(run, new String[] {f, "cpu", "two"}, "BATCH", "'two'");
    expect(run, new String[] {f, "cpu", "2", "bf16"}, "fp16 or fp32", "'bf16'");
    expect(run, new String[] {f, "cpu", "2", "fp32", "-1"}, "CALLS", "'-1'");
    expect(run, new String[] {f, "cpu", "2", "fp32", "3", "x"}, "SIZE", "'x'");
    expect(run, new String[] {f, "cpu", "2", "fp32", "3", "8", "0"}, "CHANNELS", "'0'");
    expect(run, new String[] {f, "cpu", "2", "fp32", "3", "8", "1", "more"}, "FILE", "more");
  }

  private static void expect(BiConsumer<String[], PrintStream> run, String[] args,
      String... named) {
    PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> run.accept(args, sink));
    for (String n : named) {
      assertTrue(e.getMessage().contains(n), n + " in: " + e.getMessage());
    }
  }
}
