package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.TensorSpec;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The hub's text entries tokenize as the Python pipelines do: the committed tokenizer.json files
 * (CLIP's byte-level BPE, all-MiniLM-L6-v2's BERT WordPiece, built offline in those formats) read
 * through the code path of {@link TextEmbedder} give, for every sentence of expected.json, the
 * input_ids and attention_mask that transformers' CLIPTokenizerFast and BertTokenizerFast give on
 * the same files, called as CLIPProcessor (77, padded) and SentenceTransformer (256, padded to
 * the longest of a batch) call them. scripts/hub/make_tokenizers.py makes the fixtures.
 */
final class TokenizerParityTest {

  static final String FIXTURES = "tokenizers/";

  static JsonNode expected() throws Exception {
    try (InputStream in = resource("expected.json")) {
      return new ObjectMapper().readTree(in);
    }
  }

  private static InputStream resource(String name) {
    InputStream in = TokenizerParityTest.class.getResourceAsStream(FIXTURES + name);
    if (in == null) {
      fail("fixtures missing: run scripts/hub/make_tokenizers.py (needs tokenizers and"
          + " transformers, no network) and commit its output, "
          + "nos-hub/src/test/resources/ai/nos/hub/" + FIXTURES + " (" + name + " not found)");
    }
    return in;
  }

  @ParameterizedTest
  @ValueSource(strings = {"clip", "minilm"})
  void everySentence_sameIdsAndMaskAsTransformers(String kind, @TempDir Path dir)
      throws Exception {
    JsonNode all = expected();
    JsonNode model = all.get("models").get(kind);
    List<String> sentences = new ArrayList<>();
    all.get("sentences").forEach(s -> sentences.add(s.asText()));
    assertTrue(sentences.size() >= 40, "expected.json holds " + sentences.size() + " sentences");
    assertEquals(sentences.size(), model.get("single").size(), kind);

    CatalogEntry entry = Catalog.builtin().entry(model.get("entry").asText());
    List<TensorSpec> inputs = entry.signature().inputs();
    int length = TextEmbedder.padLength(entry.id(), inputs);
    List<String> mismatches = new ArrayList<>();
    try (TextTokenizer tokenizer = TextEmbedder.tokenizer(entry, entry.id(), inputs,
        copy(model.get("tokenizer").asText(), dir))) {
      for (int i = 0; i < sentences.size(); i++) {
        TextTokenizer.Batch b = tokenizer.encode(List.of(sentences.get(i)), length);
        JsonNode want = model.get("single").get(i);
        compare(kind + " sentence " + i + " " + quoted(sentences.get(i)), b.ids(), b.mask(),
            want.get("input_ids"), want.get("attention_mask"), mismatches);
      }
      if (model.has("batch")) {
        TextTokenizer.Batch b = tokenizer.encode(sentences, length);
        JsonNode ids = model.get("batch").get("input_ids");
        JsonNode mask = model.get("batch").get("attention_mask");
        assertEquals(ids.size(), b.size());
        for (int i = 0; i < b.size(); i++) {
          int n = b.length();
          compare(kind + " batch row " + i + " " + quoted(sentences.get(i)),
              Arrays.copyOfRange(b.ids(), i * n, (i + 1) * n),
              Arrays.copyOfRange(b.mask(), i * n, (i + 1) * n), ids.get(i), mask.get(i),
              mismatches);
        }
      }
    }
    assertTrue(mismatches.isEmpty(), mismatches.size() + " of " + sentences.size()
        + " differ from transformers (" + model.get("transformers").asText() + "):\n"
        + String.join("\n", mismatches));
  }

  private static void compare(String what, long[] ids, long[] mask, JsonNode wantIds,
      JsonNode wantMask, List<String> mismatches) {
    long[] expectedIds = longs(wantIds);
    long[] expectedMask = longs(wantMask);
    if (!Arrays.equals(ids, expectedIds) || !Arrays.equals(mask, expectedMask)) {
      mismatches.add(what + ": ids " + Arrays.toString(ids) + " mask " + Arrays.toString(mask)
          + ", transformers: ids " + Arrays.toString(expectedIds) + " mask "
          + Arrays.toString(expectedMask));
    }
  }

  private static long[] longs(JsonNode array) {
    long[] out = new long[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asLong();
    }
    return out;
  }

  private static String quoted(String s) {
    StringBuilder b = new StringBuilder("\"");
    s.codePoints().limit(60).forEach(c -> b.append(c < 0x20 || c == 0x7f
        ? String.format("\\u%04x", c) : new String(Character.toChars(c))));
    return b.append(s.codePointCount(0, s.length()) > 60 ? "...\"" : "\"").toString();
  }

  private static Path copy(String name, Path dir) throws Exception {
    Path file = dir.resolve(name.replace('/', '-'));
    try (InputStream in = resource(name)) {
      Files.write(file, in.readAllBytes());
    }
    return file;
  }
}
