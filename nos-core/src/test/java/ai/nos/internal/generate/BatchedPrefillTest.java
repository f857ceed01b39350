package ai.nos.internal.generate;

import static ai.nos.testing.TinyLlama.greedy;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.testing.TinyLlama;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import org.junit.jupiter.api.Test;

/**
 * Prefills of several prompts at once on the CPU (the committed tiny Llama): prompts of different
 * lengths padded into one step give the Python references' tokens, and the token budget decides
 * how many prompts share a prefill. The scheduler starts after the requests are queued, so what
 * one prefill holds does not depend on timing.
 */
final class BatchedPrefillTest {

  private static GenerationEngine paused(int slots, int prefillTokens) {
    DecoderModel model = DecoderModel.load("tiny-prefill", TinyLlama.MODEL, Device.cpu(),
        Precision.FP32);
    return new GenerationEngine("tiny-prefill", model, slots, 128, 64,
        ForkJoinPool.commonPool(), System::nanoTime, false, prefillTokens, false, false);
  }

  @Test
  void promptsOfDifferentLengths_inOnePrefill_giveTheReferenceTokens() {
    JsonNode cases = TinyLlama.reference().get("cases");
    try (GenerationEngine engine = paused(cases.size(), GenerationEngine.PREFILL_TOKENS)) {
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      int shortest = Integer.MAX_VALUE;
      int longest = 0;
      for (JsonNode c : cases) {
        int[] prompt = ints(c.get("prompt_ids"));
        shortest = Math.min(shortest, prompt.length);
        longest = Math.max(longest, prompt.length);
        futures.add(engine.submit(prompt, greedy(), null));
      }
      // the padding is real: the references hold prompts of different lengths
      assertEquals(true, shortest < longest, shortest + " vs " + longest);
      engine.start();
      for (int i = 0; i < cases.size(); i++) {
        assertArrayEquals(ints(cases.get(i).get("greedy_ids")), futures.get(i).join().tokens(),
            cases.get(i).get("prompt").asText());
      }
      int longestOutput = 0;
      for (JsonNode c : cases) {
        longestOutput = Math.max(longestOutput, c.get("greedy_ids").size());
      }
      // one prefill, then one decode step per further token of the longest generation
      assertEquals(longestOutput, engine.steps());
    }
  }

  @Test
  void tokenBudget_decidesHowManyPromptsShareAPrefill() {
    GenerationConfig one = GenerationConfig.builder().maxNewTokens(1).build();
    int[] prompt = {10, 20, 30, 40, 50};
    // 4 prompts of 5 tokens: a budget of 10 takes 2 per prefill, 4096 all 4, 5 one each
    int[][] budgets = {{10, 2}, {GenerationEngine.PREFILL_TOKENS, 1}, {5, 4}};
    for (int[] b : budgets) {
      try (GenerationEngine engine = paused(4, b[0])) {
        List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          futures.add(engine.submit(prompt, one, null));
        }
        engine.start();
        int[] first = futures.get(0).join().tokens();
        for (CompletableFuture<GeneratedTokens> f : futures) {
          assertArrayEquals(first, f.join().tokens());
        }
        assertEquals(b[1], engine.steps(), "prefills with a budget of " + b[0] + " tokens");
      }
    }
  }
}
