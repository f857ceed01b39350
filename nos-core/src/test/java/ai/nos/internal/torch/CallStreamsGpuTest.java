package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Optimization;
import ai.nos.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link CallStreams} on a GPU (issue #20, item 2): two callers of one copy run on the device's
 * two call streams, at the same time, and get the answers one caller gets, eagerly and through
 * recorded CUDA graphs (whose static buffers the calls share under the replay lock). GPU machine
 * only (scripts/gpu/gpu-tests.sh).
 */
@Tag("gpu")
final class CallStreamsGpuTest {
  private static final int ROWS = 8192;
  private static final int CALLS = 150;

  @Test
  void eager_twoCallersRunOnTwoStreams_withTheAnswersOfOne() throws Exception {
    twoCallers(Fixtures.digitsOn("cuda").toBuilder().id("digits-streams").build());
  }

  @Test
  void cudaGraphs_twoCallersRunOnTwoStreams_withTheAnswersOfOne() throws Exception {
    twoCallers(Fixtures.digitsOn("cuda").toBuilder().id("digits-streams-graphs")
        .maxBatchSize(ROWS).optimize(Optimization.CUDA_GRAPHS).build());
  }

  private static void twoCallers(ModelSpec spec) throws Exception {
    try (Model m = Nos.load(spec)) {
      Tensor[] inputs = new Tensor[4];
      float[][] expected = new float[inputs.length][];
      for (int i = 0; i < inputs.length; i++) {
        inputs[i] = Fixtures.digitBatch(Fixtures.heldOutDigits(), 97 * i, ROWS - 13 * i);
        expected[i] = m.infer(Map.of("image", inputs[i])).get("logits").toFloatArray();
      }
      long[] before = CallStreams.calls(0);
      long alongsideBefore = CallStreams.alongside(0);
      ExecutorService pool = Executors.newFixedThreadPool(2);
      try {
        List<Future<?>> callers = new ArrayList<>();
        for (int c = 0; c < 2; c++) {
          int caller = c;
          callers.add(pool.submit(() -> {
            for (int k = 0; k < CALLS; k++) {
              int i = (k + caller) % inputs.length;
              float[] got = m.infer(Map.of("image", inputs[i])).get("logits").toFloatArray();
              double err = Fixtures.relativeError(got, expected[i]);
              if (err > 1e-6) {
                throw new AssertionError("caller " + caller + ", call " + k + ", input " + i
                    + ": relative error " + err);
              }
            }
            return null;
          }));
        }
        for (Future<?> f : callers) {
          f.get();
        }
      } finally {
        pool.shutdown();
      }
      long[] after = CallStreams.calls(0);
      long alongside = CallStreams.alongside(0) - alongsideBefore;
      System.out.printf("CallStreamsGpuTest %s: calls per stream %s -> %s, %d started beside"
          + " another stream's%n", spec.id(), java.util.Arrays.toString(before),
          java.util.Arrays.toString(after), alongside);
      for (int s = 0; s < CallStreams.PER_DEVICE; s++) {
        long was = before.length > s ? before[s] : 0;
        assertTrue(after[s] > was, "stream " + s + " ran no call: " + was + " -> " + after[s]);
      }
      assertTrue(alongside > 0, "no call started while another stream had one running");
    }
  }
}
