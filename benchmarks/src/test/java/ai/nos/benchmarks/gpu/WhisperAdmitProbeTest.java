package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@link WhisperAdmitProbe} on the CPU with the committed whisper-micro export (the GPU run is
 * {@code bench.sh whisper}): every step of the admission runs and is timed, at each batch size.
 */
final class WhisperAdmitProbeTest {
  private static final Path MICRO =
      Path.of(System.getProperty("nos.models.dir", "../models")).resolve("whisper-micro");

  @Test
  void run_givesTheCallersThreadItsExecutorSettingBack() {
    ExecutorFlag.assertGivenBack(() -> WhisperAdmitProbe.run(
        new String[] {MICRO.toString(), "1", "1", "fp32", "cpu"},
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
  }

  @Test
  void run_onWhisperMicroCpu_timesEveryStepAtEachBatchSize() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    WhisperAdmitProbe.run(new String[] {MICRO.toString(), "1,2", "1", "fp32", "cpu"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("fp32, 80 bins, cross cache [2, 65, 1500, 2, 8]"), out);
    Pattern line = Pattern.compile("batch (\\d+): first chained call (\\S+) ms; medians of 1:"
        + " pack (\\S+) ms, upload (\\S+), pinned upload (\\S+), staged \\(the engine's\\)"
        + " (\\S+), features (\\S+), encoder (\\S+), cross_kv (\\S+), sum of steps \\(staged\\)"
        + " (\\S+); chained (\\S+) ms");
    Matcher m = line.matcher(out);
    int batches = 0;
    while (m.find()) {
      batches++;
      assertEquals(batches, Integer.parseInt(m.group(1)), out);
      for (int g = 2; g <= 11; g++) {
        assertTrue(Double.parseDouble(m.group(g)) >= 0, "group " + g + ": " + out);
      }
      // the encoder and the features are real work on every window, never free
      assertTrue(Double.parseDouble(m.group(7)) > 0 && Double.parseDouble(m.group(8)) > 0, out);
      // the staged upload moves every window: never free either
      assertTrue(Double.parseDouble(m.group(6)) > 0, out);
    }
    assertEquals(2, batches, out);
  }
}
