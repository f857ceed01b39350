package ai.nos.generate;

import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Fixtures;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The committed tiny Qwen2 (models/qwen2-tiny: `make_tiny_llama.py --arch qwen2 --seed 7`, q, k
 * and v biases, the head tied to the embedding, rotary base 1e6, random weights) generates on the
 * CPU the tokens transformers' Qwen2ForCausalLM generate(do_sample=False) gave, alone and with
 * requests joining and leaving the batch.
 */
final class Qwen2TinyTest {
  static final Path DIR = Fixtures.modelsDir().resolve("qwen2-tiny");

  private static JsonNode reference;
  private static TokenGenerator lm;

  @BeforeAll
  static void load() throws Exception {
    reference = new ObjectMapper().readTree(DIR.resolve("reference.json").toFile());
    lm = TokenGenerator.builder(DIR.resolve("model.pt")).id("qwen2-tiny").device(Device.cpu())
        .maxSequences(3).maxLength(128).build();
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  private static GenerationConfig greedy() {
    return GenerationConfig.builder().maxNewTokens(reference.get("max_new_tokens").asInt())
        .build();
  }

  @Test
  void fixture_isAQwen2FromTransformers() throws Exception {
    // What makes it Qwen2 rather than the Llama of models/llm-tiny, and where its tokens came
    // from: a re-export as a Llama would pass the token tests on its own references.
    JsonNode config = new ObjectMapper().readTree(DIR.resolve("config.json").toFile());
    assertTrue(config.get("qkv_bias").asBoolean(), config.toString());
    assertTrue(config.get("tie_word_embeddings").asBoolean(), config.toString());
    assertEquals(1_000_000.0, config.get("rope_theta").asDouble(), config.toString());
    assertTrue(reference.get("source").asText().startsWith("transformers "),
        reference.get("source").asText());
    assertEquals(5, reference.get("cases").size());
  }

  @Test
  void greedy_matchesTransformers() {
    assertEquals(reference.get("eos_token_id").asInt(), lm.eosTokenId());
    for (JsonNode c : reference.get("cases")) {
      GeneratedTokens out = lm.generate(ints(c.get("prompt_ids")), greedy()).join();
      assertArrayEquals(ints(c.get("greedy_ids")), out.tokens(), c.get("prompt").asText());
    }
  }

  @Test
  void greedy_batchedWithOthers_sameTokensAsAlone() {
    List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
    List<int[]> expected = new ArrayList<>();
    for (int round = 0; round < 2; round++) {
      for (JsonNode c : reference.get("cases")) {
        futures.add(lm.generate(ints(c.get("prompt_ids")), greedy()));
        expected.add(ints(c.get("greedy_ids")));
      }
    }
    for (int i = 0; i < futures.size(); i++) {
      assertArrayEquals(expected.get(i), futures.get(i).join().tokens(), "request " + i);
    }
  }
}
