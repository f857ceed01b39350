package ai.nos.internal.generate;

import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.testing.TinyLlama;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Pipelined decode steps on {@code cuda:0} (GenerationEngine's essay), with CUDA graphs: on by
 * default there, steps are launched ahead, and the tokens are those of the same engine with
 * pipelining off: greedy (and the Python references), and seeded sampling with a repetition
 * penalty, whose draws read the seen rows the step before wrote. The device memory the engine
 * allocated is the same before and after many pipelined steps. GPU machine only
 * (scripts/gpu/gpu-tests.sh); written after the seventeenth session's lease.
 */
@Tag("gpu")
final class PipelinedDecodeGpuTest {
  private static final int SLOTS = 4;

  @Test
  void onCuda_pipelinedStepsGiveTheTokensOfUnpipelinedOnes() {
    JsonNode cases = TinyLlama.reference().get("cases");
    List<int[]> prompts = new ArrayList<>();
    List<GenerationConfig> configs = new ArrayList<>();
    for (JsonNode c : cases) {
      prompts.add(ints(c.get("prompt_ids")));
      configs.add(TinyLlama.greedy());
    }
    int greedyCount = prompts.size();
    configs.addAll(PipelinedDecodeTest.sampledConfigs(prompts));
    List<GeneratedTokens> plain;
    try (GenerationEngine engine = PipelinedDecodeTest.tiny("tiny-cuda-unpipelined",
        Device.cuda(0), SLOTS, 128, false)) {
      plain = PipelinedDecodeTest.run(engine, prompts, configs);
      assertEquals(0, engine.lookaheadSteps());
    }
    try (GenerationEngine engine = PipelinedDecodeTest.tiny("tiny-cuda-pipelined",
        Device.cuda(0), SLOTS, 128, true)) {
      List<GeneratedTokens> got = PipelinedDecodeTest.run(engine, prompts, configs);
      PipelinedDecodeTest.assertSame(plain, got);
      for (int i = 0; i < greedyCount; i++) {
        assertArrayEquals(ints(cases.get(i).get("greedy_ids")), got.get(i).tokens(),
            "greedy request " + i + " against the Python reference");
      }
      assertTrue(engine.lookaheadSteps() > 0, "no step was launched ahead on CUDA");
      // The same requests again on the started engine (its thread's library state is made;
      // they join while others run, so batches differ and only the lengths are compared):
      // everything the steps held past their scopes was given back.
      long allocated = ai.nos.internal.torch.TorchRuntime.cudaAllocatedBytes(0);
      List<java.util.concurrent.CompletableFuture<GeneratedTokens>> again = new ArrayList<>();
      for (int i = 0; i < prompts.size(); i++) {
        again.add(engine.submit(prompts.get(i), configs.get(i), null));
      }
      for (int i = 0; i < again.size(); i++) {
        assertEquals(plain.get(i).tokens().length, again.get(i).join().tokens().length,
            "request " + i + " again");
      }
      assertEquals(allocated, ai.nos.internal.torch.TorchRuntime.cudaAllocatedBytes(0),
          "cuda:0 allocated bytes after a second pipelined run");
      System.out.printf("PipelinedDecodeGpuTest: %d of %d steps launched ahead, %s%n",
          engine.lookaheadSteps(), engine.steps(), engine.stats());
    }
  }
}
