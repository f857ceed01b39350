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
 * {@link DecodeStepProbe} on the CPU with the committed tiny Llama (the GPU run is {@code bench.sh
 * stepprobe}): every measurement runs, at each row count, and the steps draw ids of the vocabulary.
 */
final class DecodeStepProbeTest {
  private static final Path TINY = Path.of(System.getProperty("nos.models.dir", "../models"))
      .resolve("llm-tiny").resolve("model.pt");

  @Test
  void run_givesTheCallersThreadItsExecutorSettingBack() {
    ExecutorFlag.assertGivenBack(() -> DecodeStepProbe.run(
        new String[] {TINY.toString(), "1", "2", "fp32", "cpu", "4", "32", "5"},
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
  }

  @Test
  void run_onTinyLlamaCpu_timesEveryModeAtEachRowCount() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DecodeStepProbe.run(new String[] {TINY.toString(), "1,3", "4", "fp32", "cpu", "4", "32", "5"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("fp32, 4 slots of 32 positions at position 5, graphs for []"), out);
    Matcher m = Pattern.compile("rows (\\d+): replay (\\S+) ms, steps back to back (\\S+) ms,"
        + " launched ahead (\\S+) ms, waited each (\\S+) ms; launch (\\S+) ms").matcher(out);
    int lines = 0;
    while (m.find()) {
      lines++;
      assertEquals(lines == 1 ? 1 : 3, Integer.parseInt(m.group(1)), out);
      for (int g = 2; g <= 6; g++) {
        // every mode runs the model: never free
        assertTrue(Double.parseDouble(m.group(g)) > 0, "group " + g + ": " + out);
      }
    }
    assertEquals(2, lines, out);
  }
}
