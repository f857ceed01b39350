package ai.nos.generate;

import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Fixtures;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decoders of other architectures than the Llama of models/llm-tiny, exported to the same step
 * (random weights, references from transformers' generate(do_sample=False) on the CPU): a Qwen2
 * (models/qwen2-tiny, `make_tiny_llama.py --arch qwen2 --seed 7`: q, k and v biases, tied head,
 * rotary base 1e6) and a GPT-2 (models/gpt2-tiny, `make_gpt2.py`: learned positions, LayerNorm,
 * GELU, tied head). NOS's libtorch gives transformers' tokens alone and with requests joining and
 * leaving the batch.
 */
final class OtherArchitecturesTest {
  private static Path dir(String name) {
    return Fixtures.modelsDir().resolve(name);
  }

  private static JsonNode json(String name, String file) throws IOException {
    return new ObjectMapper().readTree(dir(name).resolve(file).toFile());
  }

  @Test
  void fixtures_areTheArchitecturesTheySayFromTransformers() throws Exception {
    // What makes each what it is and where its tokens came from: a re-export as a Llama would
    // pass the token tests on its own references.
    JsonNode qwen2 = json("qwen2-tiny", "config.json");
    assertTrue(qwen2.get("qkv_bias").asBoolean(), qwen2.toString());
    assertTrue(qwen2.get("tie_word_embeddings").asBoolean(), qwen2.toString());
    assertEquals(1_000_000.0, qwen2.get("rope_theta").asDouble(), qwen2.toString());
    JsonNode gpt2 = json("gpt2-tiny", "config.json");
    assertEquals("gelu_new", gpt2.get("activation_function").asText(), gpt2.toString());
    assertTrue(gpt2.has("n_positions"), gpt2.toString());
    assertTrue(json("qwen2-tiny", "reference.json").get("source").asText()
        .startsWith("transformers "));
    assertTrue(json("gpt2-tiny", "reference.json").get("source").asText()
        .contains("GPT2LMHeadModel"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen2-tiny", "gpt2-tiny"})
  void greedy_matchesTransformers_aloneAndBatched(String name) throws Exception {
    JsonNode reference = json(name, "reference.json");
    GenerationConfig greedy = GenerationConfig.builder()
        .maxNewTokens(reference.get("max_new_tokens").asInt()).build();
    try (TokenGenerator lm = TokenGenerator.builder(dir(name).resolve("model.pt")).id(name)
        .device(Device.cpu()).maxSequences(3).maxLength(128).build()) {
      assertEquals(reference.get("eos_token_id").asInt(), lm.eosTokenId());
      assertEquals(5, reference.get("cases").size());
      for (JsonNode c : reference.get("cases")) {
        assertArrayEquals(ints(c.get("greedy_ids")),
            lm.generate(ints(c.get("prompt_ids")), greedy).join().tokens(),
            c.get("prompt").asText());
      }
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      List<int[]> expected = new ArrayList<>();
      for (int round = 0; round < 2; round++) {
        for (JsonNode c : reference.get("cases")) {
          futures.add(lm.generate(ints(c.get("prompt_ids")), greedy));
          expected.add(ints(c.get("greedy_ids")));
        }
      }
      for (int i = 0; i < futures.size(); i++) {
        assertArrayEquals(expected.get(i), futures.get(i).join().tokens(), "request " + i);
      }
    }
  }
}
