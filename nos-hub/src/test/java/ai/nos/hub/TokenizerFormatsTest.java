package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.TensorSpec;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tiny hand-made tokenizer.json files in the two real formats of the hub's text entries, read
 * through {@link TextEmbedder}'s tokenizer path with the builtin entries' settings; the expected
 * ids are worked out by hand from each vocabulary. TokenizerParityTest checks the same path
 * against transformers on larger files.
 */
final class TokenizerFormatsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String CLIP = "openai/clip-vit-base-patch32/text";
  private static final String MINILM = "sentence-transformers/all-MiniLM-L6-v2";

  /** GPT-2's and CLIP's printable stand-in for each byte, in CLIP's vocabulary order. */
  static List<String> byteSymbols() {
    List<Integer> bytes = new ArrayList<>();
    List<Integer> chars = new ArrayList<>();
    for (int b = 0; b < 256; b++) {
      if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        bytes.add(b);
        chars.add(b);
      }
    }
    int n = 0;
    for (int b = 0; b < 256; b++) {
      if (!bytes.contains(b)) {
        bytes.add(b);
        chars.add(256 + n++);
      }
    }
    List<String> symbols = new ArrayList<>();
    chars.forEach(c -> symbols.add(new String(Character.toChars(c))));
    return symbols;
  }

  /**
   * CLIP's format (openai/clip-vit-base-patch32's tokenizer.json) with its 512 byte symbols,
   * two merges ("c a" = 512, "ca t</w>" = 513), BOS 514, EOS 515 and, as the hub writes it,
   * CLIPProcessor's padding with EOS.
   */
  static Path clipFile(Path dir, boolean padding) throws Exception {
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    if (padding) {
      ObjectNode pad = root.putObject("padding");
      pad.putObject("strategy").put("Fixed", 77);
      pad.put("direction", "Right");
      pad.putNull("pad_to_multiple_of");
      pad.put("pad_id", 515);
      pad.put("pad_type_id", 0);
      pad.put("pad_token", "<|endoftext|>");
    } else {
      root.putNull("padding");
    }
    ArrayNode added = root.putArray("added_tokens");
    added.add(special(514, "<|startoftext|>", true));
    added.add(special(515, "<|endoftext|>", true));
    ObjectNode normalizer = root.putObject("normalizer");
    normalizer.put("type", "Sequence");
    ArrayNode norms = normalizer.putArray("normalizers");
    norms.addObject().put("type", "NFC");
    ObjectNode replace = norms.addObject().put("type", "Replace");
    replace.putObject("pattern").put("Regex", "\\s+");
    replace.put("content", " ");
    norms.addObject().put("type", "Lowercase");
    ObjectNode pre = root.putObject("pre_tokenizer");
    pre.put("type", "Sequence");
    ArrayNode pres = pre.putArray("pretokenizers");
    ObjectNode split = pres.addObject().put("type", "Split");
    split.putObject("pattern").put("Regex", "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|"
        + "'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+");
    split.put("behavior", "Removed").put("invert", true);
    pres.addObject().put("type", "ByteLevel").put("add_prefix_space", false)
        .put("trim_offsets", true).put("use_regex", true);
    ObjectNode post = root.putObject("post_processor");
    post.put("type", "RobertaProcessing");
    post.putArray("sep").add("<|endoftext|>").add(515);
    post.putArray("cls").add("<|startoftext|>").add(514);
    post.put("trim_offsets", false).put("add_prefix_space", false);
    root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true)
        .put("trim_offsets", true).put("use_regex", true);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE").putNull("dropout");
    model.put("unk_token", "<|endoftext|>").put("continuing_subword_prefix", "")
        .put("end_of_word_suffix", "</w>").put("fuse_unk", false).put("byte_fallback", false);
    ObjectNode vocab = model.putObject("vocab");
    List<String> symbols = byteSymbols();
    for (int i = 0; i < 256; i++) {
      vocab.put(symbols.get(i), i);
    }
    for (int i = 0; i < 256; i++) {
      vocab.put(symbols.get(i) + "</w>", 256 + i);
    }
    vocab.put("ca", 512).put("cat</w>", 513).put("<|startoftext|>", 514)
        .put("<|endoftext|>", 515);
    model.putArray("merges").add("c a").add("ca t</w>");
    return write(dir.resolve("clip.json"), root);
  }

  /**
   * all-MiniLM-L6-v2's format: BERT's special ids, its truncation and padding blocks of 128,
   * and ten word pieces from 104 on.
   */
  static Path bertFile(Path dir) throws Exception {
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putObject("truncation").put("direction", "Right").put("max_length", 128)
        .put("strategy", "LongestFirst").put("stride", 0);
    ObjectNode pad = root.putObject("padding");
    pad.putObject("strategy").put("Fixed", 128);
    pad.put("direction", "Right").putNull("pad_to_multiple_of");
    pad.put("pad_id", 0).put("pad_type_id", 0).put("pad_token", "[PAD]");
    ArrayNode added = root.putArray("added_tokens");
    added.add(special(0, "[PAD]", false)).add(special(100, "[UNK]", false))
        .add(special(101, "[CLS]", false)).add(special(102, "[SEP]", false))
        .add(special(103, "[MASK]", false));
    root.putObject("normalizer").put("type", "BertNormalizer").put("clean_text", true)
        .put("handle_chinese_chars", true).putNull("strip_accents");
    ((ObjectNode) root.get("normalizer")).put("lowercase", true);
    root.putObject("pre_tokenizer").put("type", "BertPreTokenizer");
    ObjectNode post = root.putObject("post_processor");
    post.put("type", "TemplateProcessing");
    ArrayNode single = post.putArray("single");
    single.addObject().putObject("SpecialToken").put("id", "[CLS]").put("type_id", 0);
    single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    single.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 0);
    ArrayNode pair = post.putArray("pair");
    pair.addAll(single.deepCopy());
    pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
    pair.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 1);
    ObjectNode specials = post.putObject("special_tokens");
    specials.putObject("[CLS]").put("id", "[CLS]").<ObjectNode>set("ids",
        JSON.createArrayNode().add(101)).set("tokens", JSON.createArrayNode().add("[CLS]"));
    specials.putObject("[SEP]").put("id", "[SEP]").<ObjectNode>set("ids",
        JSON.createArrayNode().add(102)).set("tokens", JSON.createArrayNode().add("[SEP]"));
    root.putObject("decoder").put("type", "WordPiece").put("prefix", "##").put("cleanup", true);
    ObjectNode model = root.putObject("model");
    model.put("type", "WordPiece").put("unk_token", "[UNK]")
        .put("continuing_subword_prefix", "##").put("max_input_chars_per_word", 100);
    ObjectNode vocab = model.putObject("vocab");
    vocab.put("[PAD]", 0);
    for (int i = 0; i < 99; i++) {
      vocab.put("[unused" + i + "]", 1 + i);
    }
    vocab.put("[UNK]", 100).put("[CLS]", 101).put("[SEP]", 102).put("[MASK]", 103);
    String[] pieces = {"the", "cat", "sat", "cafe", "un", "##believ", "##able", "!", "猫", "##s"};
    for (int i = 0; i < pieces.length; i++) {
      vocab.put(pieces[i], 104 + i);
    }
    return write(dir.resolve("bert.json"), root);
  }

  private static ObjectNode special(int id, String content, boolean normalized) {
    return JSON.createObjectNode().put("id", id).put("content", content)
        .put("single_word", false).put("lstrip", false).put("rstrip", false)
        .put("normalized", normalized).put("special", true);
  }

  private static Path write(Path file, ObjectNode root) throws Exception {
    Files.writeString(file, JSON.writeValueAsString(root), StandardCharsets.UTF_8);
    return file;
  }

  private static TextTokenizer open(String entryId, Path file) {
    CatalogEntry entry = Catalog.builtin().entry(entryId);
    return TextEmbedder.tokenizer(entry, entry.id(), entry.signature().inputs(), file);
  }

  private static int padLength(String entryId) {
    List<TensorSpec> inputs = Catalog.builtin().entry(entryId).signature().inputs();
    return TextEmbedder.padLength(entryId, inputs);
  }

  private static long[] padded(long pad, long... ids) {
    return LongStream.range(0, 77).map(i -> i < ids.length ? ids[(int) i] : pad).toArray();
  }

  private static long[] ones(int n, int length) {
    return LongStream.range(0, length).map(i -> i < n ? 1 : 0).toArray();
  }

  @Test
  void clip_lowerCasesSplitsBytesAndPadsTo77WithEndOfText(@TempDir Path dir) throws Exception {
    assertEquals(77, padLength(CLIP));
    try (TextTokenizer t = open(CLIP, clipFile(dir, true))) {
      assertEquals(515, t.padId());
      TextTokenizer.Batch b = t.encode(List.of("A  CAT!", "Cafe\u0301", "CAFÉ", ""), 77);
      long[] a = {514, 256 + 64, 513, 256, 515};       // a</w> cat</w> !</w>
      long[] cafe = {514, 512, 'f' - '!', 127, 256 + 102, 515};  // ca f Ã ©</w>
      long[] empty = {514, 515};
      assertArrayEquals(concat(padded(515, a), padded(515, cafe), padded(515, cafe),
          padded(515, empty)), b.ids());
      assertArrayEquals(concat(ones(5, 77), ones(6, 77), ones(6, 77), ones(2, 77)), b.mask());
    }
  }

  @Test
  void clip_truncatesTo77KeepingEndOfText(@TempDir Path dir) throws Exception {
    try (TextTokenizer t = open(CLIP, clipFile(dir, true))) {
      TextTokenizer.Batch b = t.encode(List.of("cat ".repeat(100)), 77);
      long[] want = new long[77];
      Arrays.fill(want, 513);
      want[0] = 514;
      want[76] = 515;
      assertArrayEquals(want, b.ids());
      assertArrayEquals(ones(77, 77), b.mask());
    }
  }

  /** openai's own file keeps its pad token in tokenizer_config.json: padded with 0 then. */
  @Test
  void clip_withoutPaddingBlock_padsWithZero(@TempDir Path dir) throws Exception {
    try (TextTokenizer t = open(CLIP, clipFile(dir, false))) {
      assertEquals(0, t.padId());
      assertArrayEquals(padded(0, 514, 513, 515), t.encode(List.of("cat"), 77).ids());
    }
  }

  @Test
  void bert_wordPiecesAccentsCjkAndUnknowns(@TempDir Path dir) throws Exception {
    assertEquals(-1, padLength(MINILM));
    try (TextTokenizer t = open(MINILM, bertFile(dir))) {
      assertEquals(0, t.padId());
      TextTokenizer.Batch b = t.encode(List.of("The CATS sat!", "Café unbelievable 猫犬"), -1);
      assertEquals(8, b.length());
      assertArrayEquals(new long[] {101, 104, 105, 113, 106, 111, 102, 0,
          101, 107, 108, 109, 110, 112, 100, 102}, b.ids());
      assertArrayEquals(concat(ones(7, 8), ones(8, 8)), b.mask());
    }
  }

  /** The file says 128 (truncation and padding); all-MiniLM-L6-v2's pipeline says 256. */
  @Test
  void bert_truncatesAt256NotTheFiles128(@TempDir Path dir) throws Exception {
    try (TextTokenizer t = open(MINILM, bertFile(dir))) {
      TextTokenizer.Batch b = t.encode(List.of("cat ".repeat(200)), -1);
      assertEquals(202, b.length());
      assertEquals(101, b.ids()[0]);
      assertEquals(102, b.ids()[201]);
      b = t.encode(List.of("cat ".repeat(300)), -1);
      assertEquals(256, b.length());
      assertEquals(105, b.ids()[254]);
      assertEquals(102, b.ids()[255]);
      assertArrayEquals(ones(256, 256), b.mask());
    }
  }

  @Test
  void padId_badPaddingBlock_namesFileAndWhatWasGiven(@TempDir Path dir) throws Exception {
    String good = Files.readString(clipFile(dir, true));
    for (String[] c : new String[][] {
        {"\"pad_id\":515", "\"pad_id\":-1", "pad_id a non-negative int but has -1"},
        {"\"pad_id\":515", "\"pad_id\":\"x\"", "pad_id a non-negative int but has x"},
        {"\"pad_id\":515,", "", "a pad_id but has a padding block without one"}}) {
      Path file = dir.resolve("bad.json");
      Files.writeString(file, good.replace(c[0], c[1]));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> open(CLIP, file).close());
      assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains(c[2]),
          e.getMessage());
    }
    Path file = dir.resolve("array.json");
    Files.writeString(file, "{\"version\":\"1.0\",\"padding\":[1]}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> open(CLIP, file).close());
    assertTrue(e.getMessage().contains("must have an object or null but has ["), e.getMessage());
  }

  private static long[] concat(long[]... parts) {
    return Arrays.stream(parts).flatMapToLong(Arrays::stream).toArray();
  }
}
