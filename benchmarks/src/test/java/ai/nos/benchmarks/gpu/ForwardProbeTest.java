package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@link ForwardProbe} on the CPU with the committed digit CNN (input [N, 1, 8, 8], hence SIZE 8
 * and CHANNELS 1; the GPU run is {@code bench.sh vitforward}): the header, one "frozen" line in
 * the format bench.sh's readers parse with positive figures, no graphs line off CUDA, and
 * arguments refused before native code with messages that name them.
 */
final class ForwardProbeTest {
  private static final Path DIGITS = Path.of(System.getProperty("nos.models.dir", "../models"))
      .resolve("digits").resolve("digits.pt");

  @Test
  void run_digitsOnCpu_printsAFrozenLineWithPositiveFigures() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ForwardProbe.run(new String[] {DIGITS.toString(), "cpu", "2", "fp32", "3", "8", "1"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("ForwardProbe: " + DIGITS + " on cpu, fp32, input [2, 1, 8, 8]"
        + " channels-last, frozen; libtorch "), out);
    assertTrue(out.contains("; SDPA priority " + SdpOrder.current()), out);
    Matcher m = Pattern.compile("(?m)^ForwardProbe: (\\S+) batch=(\\d+) median_ms=(\\d+\\.\\d{3})"
        + " images_s=(\\d+) backtoback_ms=(\\d+\\.\\d{3})$").matcher(out);
    assertTrue(m.find(), out);
    assertEquals("frozen", m.group(1), out);
    assertEquals(2, Integer.parseInt(m.group(2)), out);
    double median = Double.parseDouble(m.group(3));
    assertTrue(median > 0 && Double.parseDouble(m.group(5)) > 0, out);
    assertTrue(Long.parseLong(m.group(4)) > 0, out);
    // images/s is batch over the unrounded median: within the printed median's rounding
    assertEquals(2 / median * 1000, Long.parseLong(m.group(4)), 2 / median * 1000 * 0.5e-3
        / median + 1, out);
    assertFalse(m.find(), "one line off CUDA (no graphs): " + out);
    assertFalse(out.contains("frozen-graphs"), out);
  }

  @Test
  void median_ofOddAndEvenCounts() {
    assertEquals(2.0, ForwardProbe.median(new double[] {3, 1, 2}));
    assertEquals(2.5, ForwardProbe.median(new double[] {4, 1, 3, 2}));
  }

  @Test
  void run_badArguments_throwNamingThem() {
    ImageProbeArgsCases.assertRefused(DIGITS, ForwardProbe::run);
  }
}
