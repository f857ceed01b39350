package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.generate.TokenGenerator;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tokenizer files that the native tokenizers library (0.21, through DJL) would not refuse but
 * panic on, which aborts the JVM ("fatal runtime error: failed to initiate panic"): each is now
 * an IllegalArgumentException naming the file, before any native code reads it. Each case is
 * the committed all-MiniLM-L6-v2 tokenizer.json with one edit. Before the fix, the decoder cases
 * (and TextGenerator's) killed the test JVM at load; the two template cases loaded and killed
 * it at the first encode; the WordPiece one loaded and failed every text with an unknown word.
 */
final class TokenizerJsonTest {

  @TempDir Path dir;

  static String minilm() throws Exception {
    try (InputStream in = TokenizerJsonTest.class.getResourceAsStream(
        "tokenizers/minilm/tokenizer.json")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private Path edited(String name, String from, String to) throws Exception {
    String json = minilm();
    assertTrue(json.contains(from), from);
    return Files.writeString(dir.resolve(name), json.replace(from, to));
  }

  private static String refused(Path file, String expected) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TextTokenizer.open(file, 16));
    assertTrue(e.getMessage().startsWith("tokenizer file " + file + " is not a valid HuggingFace"
        + " tokenizer.json: ") && e.getMessage().contains(expected), e.getMessage());
    return e.getMessage();
  }

  /** A JSON error inside "decoder" panics in the library's DecoderWrapper ("Helper"). */
  @Test
  void syntaxErrorInsideTheDecoder_isRefusedByName() throws Exception {
    String m = refused(edited("syntax.json", "\"decoder\": {", "\"decoder\": {1: 2, "),
        "was expecting double-quote to start field name");
    assertTrue(m.contains("(line "), m);
  }

  /** serde_json refuses a number beyond a double ("number out of range"): the same panic. */
  @Test
  void numberBeyondADoubleInsideTheDecoder_isRefusedByName() throws Exception {
    refused(edited("big.json", "\"decoder\": {", "\"decoder\": {\"x\": 1e400, "),
        "the number 1e400 is beyond a double's range");
  }

  /** serde_json stops at 128 levels ("recursion limit exceeded"): the same panic. */
  @Test
  void nestingBeyondSerdesLimitInsideTheDecoder_isRefusedByName() throws Exception {
    refused(edited("deep.json", "\"decoder\": {", "\"decoder\": {\"x\": " + "[".repeat(130)
        + "]".repeat(130) + ", "), "nesting depth");
  }

  /** The template's lookup of a special token its map lacks panics at the first encode. */
  @Test
  void templateSpecialTokenNotDefined_isRefusedByName() throws Exception {
    refused(edited("undefined.json", "\"id\": \"[CLS]\",\n          \"type_id\": 0",
        "\"id\": \"[XLS]\",\n          \"type_id\": 0"),
        "post_processor.single[0] is the special token '[XLS]', which its special_tokens do not"
            + " define");
  }

  /** One text is sequence A: a single template taking B indexes past it, at the first encode. */
  @Test
  void singleTemplateTakingSequenceB_isRefusedByName() throws Exception {
    refused(edited("b.json", "\"Sequence\": {\n          \"id\": \"A\",\n          \"type_id\": 0",
        "\"Sequence\": {\n          \"id\": \"B\",\n          \"type_id\": 0"),
        "post_processor.single[1] takes sequence B");
  }

  /** SpecialToken::new refuses this; deserializing skips it. */
  @Test
  void specialTokenWithMoreIdsThanTokens_isRefusedByName() throws Exception {
    refused(edited("ids.json", "\"ids\": [\n          101\n        ],",
        "\"ids\": [\n          101, 7\n        ],"),
        "post_processor.special_tokens['[CLS]'] has 2 ids but 1 tokens");
  }

  /** Loads, then failed every text with an unknown word (a RuntimeException at each call). */
  @Test
  void wordPieceWithoutItsUnknownToken_isRefusedAtLoad() throws Exception {
    refused(edited("unk.json", "\"unk_token\": \"[UNK]\"", "\"unk_token\": \"[NOPE]\""),
        "cannot encode the text");
  }

  /** TextGenerator and SpeechRecognizer load their tokenizer through the same checks. */
  @Test
  void textGeneratorsTokenizer_isCheckedToo() throws Exception {
    Path file = edited("gen.json", "\"decoder\": {", "\"decoder\": {1: 2, ");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TextGenerator.load(TokenGenerator.builder(dir.resolve("none.pt")), file));
    assertTrue(e.getMessage().startsWith("tokenizer file " + file), e.getMessage());
  }

  @Test
  void theCommittedTokenizers_stillLoadAndEncode() throws Exception {
    for (String name : List.of("minilm", "clip")) {
      Path file = dir.resolve(name + ".json");
      try (InputStream in = TokenizerJsonTest.class.getResourceAsStream(
          "tokenizers/" + name + "/tokenizer.json")) {
        Files.write(file, in.readAllBytes());
      }
      try (TextTokenizer t = TextTokenizer.open(file, 16)) {
        assertEquals(2, t.encode(List.of("hello world", "z\u00fcrich"), 0).size());
      }
    }
  }
}
