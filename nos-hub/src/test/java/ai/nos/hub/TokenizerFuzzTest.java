package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.ByteMutator;
import ai.nos.testing.JsonMutator;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds TextTokenizer.open seeded mutations of the committed tokenizer.json files (WordPiece with
 * a template post-processor; byte-level BPE with RoBERTa's): JSON-aware edits (values replaced
 * with extreme ones, fields inserted, deep nesting, characters changed) and byte-level ones. Each
 * must load a tokenizer that encodes texts, or be refused with an IllegalArgumentException
 * naming the file. The native tokenizers library panics on some malformed files, which aborts
 * the JVM: before TokenizerJson, this test killed its JVM within its first hundred mutations.
 */
final class TokenizerFuzzTest {
  private static final int MUTATIONS = ByteMutator.rounds(3_000);
  private static final long SEED = ByteMutator.seed(0x70CL);
  private static final ByteMutator BYTES = new ByteMutator(4_000);
  private static final JsonMutator TEXT = new JsonMutator(
      "{}[]\":,-0123456789.eE \\nultrefas#AB",
      List.of("null", "-1", "0", "4294967296", "-9223372036854775808", "1e400", "\"\"", "{}",
          "[]", "true", "\"[UNK]\"", "\"[XLS]\"", "\"B\"", "99999999", "\"\\ud800\"",
          "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"
              + "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "\"WordPiece\"", "\"BPE\"",
          "\"Sequence\"", "\"TemplateProcessing\""),
      List.of("\"type\": \"BPE\", ", "\"id\": \"B\", ", "\"max_length\": 0, ",
          "\"stride\": 4294967295, ", "\"pad_to_multiple_of\": 0, ", "\"unk_token\": \"nope\", ",
          "\"vocab\": {}, ", "\"continuing_subword_prefix\": \"\", ",
          "\"max_input_chars_per_word\": 0, ", "\"x\": 1e999, "));
  private static final List<String> TEXTS = List.of("hello world", "", "x".repeat(300),
      "h\u00e9llo \u4f60\u597d \u0000 \ud83d\ude00");

  @TempDir Path dir;

  @Test
  void open_mutations_tokenizerThatEncodesOrIllegalArgumentNamingTheFile() throws Exception {
    List<String> seeds = List.of(resource("minilm"), resource("clip"));
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    Path file = dir.resolve("tokenizer.json");
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 3_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        String seed = seeds.get(random.nextInt(seeds.size()));
        byte[] bytes = random.nextBoolean()
            ? TEXT.mutate(random, seed).getBytes(StandardCharsets.UTF_8)
            : BYTES.mutate(random, seed.getBytes(StandardCharsets.UTF_8));
        Files.write(file, bytes);
        outcomes.merge(check(file, bytes), 1, Integer::sum);
      }
    });
    System.out.println("TokenizerFuzzTest: " + MUTATIONS + " mutations: " + outcomes);
    assertTrue(outcomes.getOrDefault("loaded", 0) > 20
        && outcomes.getOrDefault("refused", 0) > MUTATIONS / 2, outcomes.toString());
  }

  private static String check(Path file, byte[] bytes) {
    TextTokenizer tokenizer;
    try {
      tokenizer = TextTokenizer.open(file, 16);
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage().startsWith("tokenizer file " + file), e.getMessage());
      return "refused";
    } catch (Throwable t) {
      return fail("open threw " + t + " for " + JsonMutator.shorten(
          new String(bytes, StandardCharsets.UTF_8), 2_000), t);
    }
    try (tokenizer) {
      TextTokenizer.Batch batch = tokenizer.encode(TEXTS, 0);
      assertEquals(TEXTS.size(), batch.size());
      assertEquals(batch.size() * batch.length(), batch.ids().length);
    } catch (Throwable t) {
      return fail("encode threw " + t + " for " + JsonMutator.shorten(
          new String(bytes, StandardCharsets.UTF_8), 2_000), t);
    }
    return "loaded";
  }

  private static String resource(String name) throws Exception {
    try (InputStream in = TokenizerFuzzTest.class.getResourceAsStream(
        "tokenizers/" + name + "/tokenizer.json")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
