package ai.nos.internal.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.testing.TinyLlama;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import org.junit.jupiter.api.Test;

/**
 * Decode steps padded to batch buckets, as CUDA graphs run them, checked on the CPU: padding rows
 * write into the cache's scratch slot only, so every sequence gets the tokens it gets without
 * padding. Sampled requests with a repetition penalty (seeded: a request's draws do not depend on
 * the batch) and staggered lengths take the running batch through 5, 4, 3 (padded to 4), 2 and 1
 * sequences; a padding row that wrote into a live slot would change that sequence's tokens.
 */
final class DecodePaddingTest {

  private static List<int[]> run(boolean pad, long[] padded) {
    DecoderModel model = DecoderModel.load("tiny-padding", TinyLlama.MODEL, Device.cpu(),
        Precision.FP32);
    try (GenerationEngine engine = new GenerationEngine("tiny-padding", model, 5, 128, 64,
        ForkJoinPool.commonPool(), System::nanoTime, false, GenerationEngine.PREFILL_TOKENS,
        false, pad)) {
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      List<GenerationConfig> configs = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        GenerationConfig c = GenerationConfig.builder().maxNewTokens(6 + 5 * i)
            .temperature(0.8f).topK(40).topP(0.95f).repetitionPenalty(1.2f).seed(100 + i)
            .eosTokenIds(NEVER).build();
        configs.add(c);
        futures.add(engine.submit(new int[] {5 + i, 40 + 3 * i, 7, 90 - i}, c, null));
      }
      engine.start();
      List<int[]> out = new ArrayList<>();
      for (int i = 0; i < futures.size(); i++) {
        int[] tokens = futures.get(i).join().tokens();
        assertEquals(configs.get(i).maxNewTokens(), tokens.length, "request " + i);
        out.add(tokens);
      }
      padded[0] = engine.paddedSteps();
      return out;
    }
  }

  @Test
  void paddedDecodeSteps_giveTheUnpaddedTokens() {
    long[] padded = new long[1];
    List<int[]> plain = run(false, padded);
    assertEquals(0, padded[0]);
    List<int[]> withPadding = run(true, padded);
    assertTrue(padded[0] > 0, "no decode step ran padding rows");
    for (int i = 0; i < plain.size(); i++) {
      assertArrayEquals(plain.get(i), withPadding.get(i), "request " + i);
    }
  }
}
