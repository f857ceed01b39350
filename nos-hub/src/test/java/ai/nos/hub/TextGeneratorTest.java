package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.generate.FinishReason;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The committed tiny Llama with its byte-level BPE tokenizer.json, end to end on the CPU. */
final class TextGeneratorTest {
  static final Path DIR = Path.of("..", "models", "llm-tiny");
  private static JsonNode reference;
  private static TextGenerator lm;

  @BeforeAll
  static void load() throws Exception {
    reference = new ObjectMapper().readTree(DIR.resolve("reference.json").toFile());
    lm = TextGenerator.load(TokenGenerator.builder(DIR.resolve("model.pt")).id("tiny-text")
        .device(Device.cpu()).maxSequences(2), DIR.resolve("tokenizer.json"));
  }

  @AfterAll
  static void close() {
    lm.close();
    lm.close();
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  @Test
  void prompts_encodeAsThePythonExport() {
    for (JsonNode c : reference.get("cases")) {
      assertArrayEquals(ints(c.get("prompt_ids")), lm.encode(c.get("prompt").asText()),
          c.get("prompt").asText());
    }
  }

  @Test
  void generate_textOfTheReferenceTokens_streamedPiecesAddUp() {
    GenerationConfig config = GenerationConfig.builder()
        .maxNewTokens(reference.get("max_new_tokens").asInt()).build();
    for (JsonNode c : reference.get("cases")) {
      int[] expected = ints(c.get("greedy_ids"));
      List<String> pieces = Collections.synchronizedList(new ArrayList<>());
      Generation g = lm.stream(c.get("prompt").asText(), config, pieces::add).join();
      assertArrayEquals(expected, g.tokens());
      assertEquals(lm.decode(expected), g.text());
      // Random weights write arbitrary bytes, invalid UTF-8 included (U+FFFD in the text):
      // whole characters across tokens are textStream_multiByteCharacters...'s to check.
      assertEquals(g.text(), String.join("", pieces));
    }
  }

  @Test
  void textStream_multiByteCharactersSplitAcrossTokens_comeOutWhole() {
    String text = "caf\u00e9 \uD83D\uDE42 \u4E16\u754C and more \uD83D\uDE80!";
    int[] ids = lm.encode(text);
    // The tokenizer's merges know no multi-byte character: each is several byte tokens.
    assertTrue(ids.length > text.length(), ids.length + " ids for " + text.length() + " chars");
    TextStream stream = new TextStream(i -> lm.decode(toInts(i)), List.of());
    StringBuilder out = new StringBuilder();
    int silent = 0;
    for (int id : ids) {
      String piece = stream.add(id);
      assertFalse(piece.contains("\uFFFD"), piece);
      silent += piece.isEmpty() ? 1 : 0;
      out.append(piece);
    }
    out.append(stream.finish());
    assertEquals(text, out.toString());
    assertTrue(silent > 0, "no token held back part of a character");
  }

  @Test
  void stopString_endsTheTextBeforeIt_andTheGeneration() {
    JsonNode c = reference.get("cases").get(0);
    GenerationConfig plain = GenerationConfig.builder().maxNewTokens(40).build();
    String full = lm.generateAsync(c.get("prompt").asText(), plain).join().text();
    // A stop string from the middle of the known continuation.
    String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
    List<String> pieces = Collections.synchronizedList(new ArrayList<>());
    Generation g = lm.stream(c.get("prompt").asText(), plain.toBuilder().stopStrings(stop)
        .build(), pieces::add).join();
    assertEquals(FinishReason.STOP_STRING, g.finishReason());
    assertEquals(full.substring(0, full.indexOf(stop)), g.text());
    assertEquals(g.text(), String.join("", pieces));
  }

  private static int[] toInts(long[] ids) {
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }
}
