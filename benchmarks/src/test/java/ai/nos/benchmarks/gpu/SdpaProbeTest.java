package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@link SdpaProbe} on the CPU (the GPU run is {@code bench.sh stepprobe}): libtorch's settings,
 * then for both of Whisper's attentions the backend libtorch names and a timed call, on the
 * shapes and strides the decode step gives them.
 */
final class SdpaProbeTest {

  @Test
  void run_onCpu_namesABackendAndTimesBothAttentions() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    SdpaProbe.run(new String[] {"cpu", "3", "fp32", "2"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("SDP priority [") && out.contains("cuDNN "), out);
    Matcher m = Pattern.compile("SdpaProbe: (self|cross) .*: q \\[3, 6, 1, 64\\] .*k \\[3, 6,"
        + " (448|1500), 64\\] strides \\[(\\d+), 64, 384, 1\\]: libtorch's order:"
        + " backend (\\d+) \\((\\w+)\\), eager"
        + " (\\S+) ms a call").matcher(out);
    int lines = 0;
    while (m.find()) {
      lines++;
      // slot-major caches read as strided views: a slot's stride is its positions x 384
      assertEquals(Long.parseLong(m.group(2)) * 384, Long.parseLong(m.group(3)), out);
      assertTrue(!m.group(5).equals("?") && Double.parseDouble(m.group(6)) > 0, out);
    }
    assertEquals(2, lines, out);
    // each backend put first in turn, for both attentions, and libtorch's order back after
    for (String first : new String[] {"cudnn", "flash", "efficient", "math"}) {
      assertEquals(2, out.lines().filter(l -> l.contains(": " + first + " first")).count(), out);
    }
    assertTrue(out.contains("SDP priority " + SdpOrder.current() + ";"), out);
  }

  @Test
  void sdpOrder_putsTheNamedBackendsFirst_andRefusesUnknownNames() {
    java.util.List<String> before = SdpOrder.order();
    try {
      SdpOrder.apply("math,efficient");
      assertTrue(SdpOrder.current().startsWith("[math, efficient, "), SdpOrder.current());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> SdpOrder.apply("cudnn,fast"));
      assertTrue(e.getMessage().contains("'fast'") && e.getMessage().contains("cudnn,fast"),
          e.getMessage());
    } finally {
      SdpOrder.apply(String.join(",", before));
    }
    assertEquals(before, SdpOrder.order());
  }

  @Test
  void run_llama_onCpu_timesItsOneAttention() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    SdpaProbe.run(new String[] {"cpu", "1", "fp32", "2", "llama"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("SdpaProbe: self (mask, 257 positions): q [1, 16, 1, 64] strides"
        + " [1024, 64, 1024, 1] k [1, 16, 257, 64] strides [263168, 64, 1024, 1]: libtorch's"
        + " order: backend "), out);
    assertFalse(out.contains("cross"), out);
  }

  @Test
  void run_badCounts_throwNamingThem() {
    PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SdpaProbe.run(new String[] {"cpu", "0"}, sink));
    assertTrue(e.getMessage().contains("were 0"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> SdpaProbe.run(new String[] {"cpu", "1", "fp32", "1", "bert"}, sink));
    assertTrue(e.getMessage().contains("was 'bert'"), e.getMessage());
  }
}
