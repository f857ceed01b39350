package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@link CallPathProbe} on the CPU with the committed digit CNN (input [N, 1, 8, 8], hence SIZE 8
 * and CHANNELS 1; the GPU run is {@code bench.sh callpath}). The CPU has no graphs and no
 * copies: the header, the load-time steps, the two whole-call lines in the format bench.sh's
 * readers parse with positive figures and no piece lines; and arguments refused before native
 * code with messages that name them.
 */
final class CallPathProbeTest {
  private static final Path DIGITS = Path.of(System.getProperty("nos.models.dir", "../models"))
      .resolve("digits").resolve("digits.pt");

  @Test
  void run_digitsOnCpu_printsTheWholeCallLines() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CallPathProbe.run(new String[] {DIGITS.toString(), "cpu", "2", "fp32", "3", "8", "1"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("CallPathProbe: " + DIGITS + " on cpu, fp32, input [2, 1, 8, 8]"
        + " from a PinnedBuffer (pinned false); libtorch "), out);
    assertTrue(out.contains("; SDPA priority " + SdpOrder.current()), out);
    // freeze and channels-last run on the CPU; cudnn_benchmark and cuda_graphs do not apply
    Matcher steps = Pattern.compile("(?m)^CallPathProbe: runs with \\[(.*)]$").matcher(out);
    assertTrue(steps.find(), out);
    assertTrue(steps.group(1).contains("freeze"), out);
    assertFalse(steps.group(1).contains("cuda_graphs"), out);
    Matcher m = Pattern.compile("(?m)^CallPathProbe: (\\S+) median_ms=(\\d+\\.\\d{3})$")
        .matcher(out);
    List<String> pieces = new ArrayList<>();
    while (m.find()) {
      pieces.add(m.group(1));
      assertTrue(Double.parseDouble(m.group(2)) > 0, out);
    }
    assertEquals(List.of("whole", "whole-no-manager"), pieces, out);
    assertFalse(out.contains("chain"), out);
    assertFalse(out.contains("direct copies"), out);
  }

  @Test
  void spec_isOptimBenchsFreezePath() {
    var spec = CallPathProbe.spec(DIGITS, ai.nos.Precision.FP16, ai.nos.Device.cpu(), 64, 3,
        224);
    assertEquals(java.util.Set.of(ai.nos.Optimization.CHANNELS_LAST, ai.nos.Optimization.FREEZE,
        ai.nos.Optimization.CUDNN_BENCHMARK, ai.nos.Optimization.CUDA_GRAPHS),
        spec.optimizations());
    var batching = spec.batching().orElseThrow();
    assertEquals(256, batching.maxBatchSize());
    assertEquals(List.of(1, 8, 64, 256), batching.preferredBatchSizes());
    // a batch outside OptimBench's sizes gets a bucket of its own
    assertEquals(List.of(1, 8, 64, 256, 300), CallPathProbe.spec(DIGITS,
        ai.nos.Precision.FP32, ai.nos.Device.cpu(), 300, 1, 8).batching().orElseThrow()
        .preferredBatchSizes());
  }

  @Test
  void run_badArguments_throwNamingThem() {
    ImageProbeArgsCases.assertRefused(DIGITS, CallPathProbe::run);
  }
}
