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

  private static final String WORDPIECE_DECODER = "\"decoder\": {\n    \"type\":"
      + " \"WordPiece\",\n    \"prefix\": \"##\",\n    \"cleanup\": true\n  }";
  private static final String BERT_NORMALIZER = "\"normalizer\": {\n    \"type\":"
      + " \"BertNormalizer\",\n    \"clean_text\": true,\n    \"handle_chinese_chars\": true,"
      + "\n    \"strip_accents\": null,\n    \"lowercase\": true\n  }";

  private static String strip(int start, int stop) {
    return "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"WordPiece\","
        + " \"prefix\": \"##\", \"cleanup\": true}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\","
        + " \"content\": \" \", \"start\": " + start + ", \"stop\": " + stop + "}]}";
  }

  /**
   * The library (0.21) indexes before a token's start when stripping more characters from its
   * end than the token has: with Fuse before it, decoding a text of no tokens (or one skipped
   * special token) aborted the JVM. It loaded and encoded; TextGenerator's first decode killed it.
   */
  @Test
  void stripDecoderWithAStop_isRefusedByName() throws Exception {
    refused(edited("strip.json", WORDPIECE_DECODER, strip(0, 1)),
        "decoder.decoders[2] is a Strip decoder with stop 1");
  }

  /** Llama's and Mistral's decoders strip one space at the start: read, and decoded as Python. */
  @Test
  void stripDecoderAtTheStartOnly_loadsAndDecodes() throws Exception {
    Path file = edited("start.json", WORDPIECE_DECODER, strip(1, 0));
    try (var tk = TextTokenizer.load(file, java.util.Map.of("addSpecialTokens", "false"))) {
      assertEquals("", tk.decode(new long[0]));
      assertEquals("hello world", tk.decode(tk.encode("hello world").getIds()));
    }
  }

  /**
   * A charsmap: a trie of 512 units where the root's child 'A' (0x41) is a leaf whose value
   * indexes {@code strings}; {@code leafValue} and the unit count are what the cases break.
   */
  private static String charsmap(int units, int leafValue, String strings) {
    byte[] text = strings.getBytes(StandardCharsets.UTF_8);
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 + 4 * units + text.length)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.putInt(4 * units);
    int[] trie = new int[units];
    if (units >= 512) {
      trie[0x41] = 0x41 | 1 << 8 | 256 << 10; // label 'A', has a leaf, offset 256
      trie[0x41 ^ 256] = 1 << 31 | leafValue; // the leaf
    }
    for (int u : trie) {
      b.putInt(u);
    }
    b.put(text);
    return java.util.Base64.getEncoder().encodeToString(b.array());
  }

  private Path precompiled(String name, String charsmap) throws Exception {
    return edited(name, BERT_NORMALIZER, "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\":"
        + " [{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"" + charsmap + "\"}]}");
  }

  /** A well-formed charsmap (T5's normalizer) loads and rewrites as its trie says. */
  @Test
  void precompiledNormalizer_wellFormed_loadsAndNormalizes() throws Exception {
    Path file = precompiled("good.json", charsmap(512, 0, "hello\0"));
    try (TextTokenizer t = TextTokenizer.open(file, 16)) {
      assertEquals(java.util.Arrays.toString(t.encode(List.of("hello world"), 0).ids()),
          java.util.Arrays.toString(t.encode(List.of("A world"), 0).ids()));
    }
  }

  /** The library's normalizer deserializer unwraps the charsmap's parse: a panic at load. */
  @Test
  void precompiledNormalizer_notBase64OrTooShort_isRefusedByName() throws Exception {
    refused(precompiled("b64.json", "!!notbase64"),
        "normalizer.normalizers[0] is a Precompiled normalizer whose charsmap is not base64");
    refused(precompiled("unpadded.json", "QUJD"), "too few for its trie's size");
    refused(precompiled("nopad.json", "QUI"), "is not canonical base64");
    refused(precompiled("short.json", charsmap(512, 0, "").substring(0, 400)),
        "claims a trie of 512 units but holds");
  }

  /** spm_precompiled indexes the trie and the strings unchecked: a panic at the first encode. */
  @Test
  void precompiledNormalizer_trieLeadingOutside_isRefusedByName() throws Exception {
    refused(precompiled("empty.json", charsmap(0, 0, "")), "has an empty trie");
    refused(precompiled("one.json", charsmap(1, 0, "")),
        "children (from unit 0) lie past its 1 units");
    refused(precompiled("leaf.json", charsmap(512, 100000, "hello\0")),
        "has a leaf pointing to byte 100000 of its 6 bytes of strings, past their end");
    refused(precompiled("inside.json", charsmap(512, 1, "\u00e9\0")),
        "has a leaf pointing to byte 1 of its 3 bytes of strings, inside a character");
  }

  /** A Sequence's processors as an object, not a list: the library's error, not an NPE here. */
  @Test
  void processorsNotAList_isTheLibrarysRefusal() throws Exception {
    refused(edited("procs.json", "\"post_processor\": {", "\"post_processor\": {\"type\":"
        + " \"Sequence\", \"processors\": {\"a\": {\"single\": {\"x\": 1}}}}, \"was\": {"),
        "");
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
