package ai.nos.hub;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import ai.nos.internal.json.JsonValue;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/*
 * A tokenizer.json checked in Java before the native tokenizers library parses it.
 *
 * Why: the Rust tokenizers library (0.21, through DJL's JNI binding) deserializes the decoder,
 * normalizer, pre-tokenizer, post-processor and model sections through helpers that panic on a
 * JSON error inside them (decoders/mod.rs: `.expect("Helper")`), and a Rust panic cannot cross
 * JNI: the process aborts ("fatal runtime error: failed to initiate panic"), taking the JVM and
 * every other model in it along. A JSON error at the top level only returns an error. So the
 * text the library will get (DJL decodes the bytes as UTF-8, replacing what is not) is parsed
 * here first, refusing what serde_json would refuse: a syntax error, a number beyond a double's
 * range ("number out of range"), nesting deeper than its recursion limit (128; MAX_DEPTH is half
 * of it, and real files nest 6 deep), anything after the root object.
 *
 * Well-formed JSON can still be a bad tokenizer. The library reports most of that as an error,
 * but a TemplateProcessing post-processor is deserialized without the checks its builder makes,
 * and encoding then panics: a SpecialToken piece whose id is no key of special_tokens ("no entry
 * found for key", template.rs), a special token with fewer ids than tokens or the reverse, or the
 * single-text template taking sequence B (an index out of bounds: one text is sequence A). The
 * post_processor object is read as a tree and each template in it (a Sequence processor nests
 * them; an unknown "type" still reads as a template when it has a template's fields) checked.
 * The decoder and normalizer objects are read as trees too, for two more panics the library has
 * no check for: a Strip decoder with a stop (it indexes before a short token's start, at decode)
 * and a Precompiled normalizer's charsmap (unwrapped as it loads, its trie indexed unchecked as
 * it normalizes; PrecompiledCharsmap). Found by building real shapes and attacking them through
 * TextTokenizer in a JVM of their own (Llama 2/3, Mistral, Qwen2, GPT-2, RoBERTa, BERT, T5 and
 * WordLevel tokenizers all load and encode as the Python library).
 */
final class TokenizerJson {

  /** Nesting deeper than this is refused; serde_json's limit is 128. */
  static final int MAX_DEPTH = 64;

  private static final JsonFactory JSON = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
      .build();
  /** The top-level sections read as trees (small in real files); duplicate keys are refused. */
  private static final java.util.Set<String> TREES =
      java.util.Set.of("post_processor", "decoder", "normalizer");
  /** The sections read as trees; duplicate keys are refused there. */
  private static final JsonFactory TREE = JsonValue.factory(MAX_DEPTH);

  private TokenizerJson() {}

  /**
   * The text of a tokenizer.json, as the native library will read it, once checked.
   *
   * @throws IllegalArgumentException if it is not one well-formed JSON object the native
   *     library would read without aborting the process; the message names the file, the
   *     problem and where it is
   */
  static String check(byte[] bytes, Path file) {
    String text = new String(bytes, StandardCharsets.UTF_8);
    try (JsonParser p = JSON.createParser(text)) {
      JsonToken token = p.nextToken();
      if (token != JsonToken.START_OBJECT) {
        throw invalid(file, "expected a JSON object but it starts with "
            + (token == null ? "nothing" : token), p);
      }
      java.util.Map<String, String> sections = new java.util.HashMap<>();
      for (int depth = 1; depth > 0; ) {
        token = p.nextToken();
        if (token == JsonToken.FIELD_NAME && depth == 1 && TREES.contains(p.currentName())) {
          String name = p.currentName();
          JsonToken value = p.nextToken();
          if (value == null) {
            throw invalid(file, "it ends after \"" + name + "\"", p);
          }
          int from = (int) p.currentTokenLocation().getCharOffset();
          checkValue(value, p, file);
          if (value.isStructStart()) {
            int inner = 1;
            while (inner > 0) { // checked as everything else, then read as a tree below
              JsonToken t = p.nextToken();
              if (t == null) {
                throw invalid(file, "it ends inside its " + name, p);
              }
              inner += t.isStructStart() ? 1 : t.isStructEnd() ? -1 : 0;
              checkValue(t, p, file);
            }
          }
          sections.put(name, text.substring(from, (int) p.currentLocation().getCharOffset()));
          continue;
        }
        if (token == null) {
          throw invalid(file, "it ends inside its object", p);
        }
        switch (token) {
          case START_OBJECT, START_ARRAY -> depth++;
          case END_OBJECT, END_ARRAY -> depth--;
          default -> checkValue(token, p, file);
        }
      }
      if (p.nextToken() != null) {
        throw invalid(file, "something follows its object", p);
      }
      if (sections.containsKey("post_processor")) {
        checkProcessor(JsonValue.parse(TREE, sections.get("post_processor")), "post_processor",
            file);
      }
      if (sections.containsKey("decoder")) {
        checkDecoder(JsonValue.parse(TREE, sections.get("decoder")), "decoder", file);
      }
      if (sections.containsKey("normalizer")) {
        checkNormalizer(JsonValue.parse(TREE, sections.get("normalizer")), "normalizer", file);
      }
      return text;
    } catch (JacksonException e) {
      throw new IllegalArgumentException("tokenizer file " + file + " is not a valid HuggingFace"
          + " tokenizer.json: " + e.getOriginalMessage() + where(e.getLocation()), e);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read a string held in memory", e); // no I/O
    }
  }

  private static void checkValue(JsonToken token, JsonParser p, Path file) throws IOException {
    if (token.isNumeric() && !Double.isFinite(p.getDoubleValue())) {
      throw invalid(file, "the number " + shorten(p.getText()) + " is beyond a double's range", p);
    }
  }

  /**
   * Checks each template in a post-processor tree (a Sequence nests them; see the class
   * comment): every object with a template's fields.
   */
  private static void checkProcessor(JsonValue root, String rootPath, Path file) {
    walk(root, rootPath, (node, path) -> {
      if (node.has("single") || node.has("pair") || node.has("special_tokens")) {
        checkTemplate(node, path, file);
      }
    });
  }

  /**
   * Every object of a decoder tree (a Sequence nests them): a Strip decoder with a stop of 1 or
   * more panics in the library (0.21, decoders/strip.rs) on a token of no more characters than
   * that, all its content (it indexes before the token's start), or one whose start and stop
   * cuts cross, and Fuse makes one token of the whole text: an empty one for a text that decodes
   * to nothing (a lone special token skipped). Real files strip at the start only (Llama's and
   * Mistral's Strip(' ', 1, 0)).
   */
  private static void checkDecoder(JsonValue root, String rootPath, Path file) {
    walk(root, rootPath, (node, path) -> {
      JsonValue stop = node.get("stop");
      if (isType(node, "Strip") && stop != null && stop.isNumber()
          && stop.doubleValue() != 0) {
        throw notValid(file, path + " is a Strip decoder with stop " + stop
            + ", which the native tokenizers library (0.21) aborts the process on for a short"
            + " or empty token; only stop 0 is read");
      }
    });
  }

  /**
   * Every object of a normalizer tree: a Precompiled normalizer whose charsmap the library
   * cannot parse panics as it loads (0.21: normalizers/mod.rs), and one whose trie leads outside
   * itself or its strings panics as it normalizes (spm_precompiled); {@link PrecompiledCharsmap}.
   */
  private static void checkNormalizer(JsonValue root, String rootPath, Path file) {
    walk(root, rootPath, (node, path) -> {
      if (!isType(node, "Precompiled")) {
        return;
      }
      JsonValue map = node.get("precompiled_charsmap");
      String problem = map == null || !map.isTextual()
          ? "has no precompiled_charsmap string"
          : PrecompiledCharsmap.problem(map.textValue());
      if (problem != null) {
        throw notValid(file, path + " is a Precompiled normalizer whose"
            + " charsmap " + problem + " (the native tokenizers library would abort the"
            + " process on it)");
      }
    });
  }

  private static boolean isType(JsonValue node, String type) {
    JsonValue t = node.get("type");
    return t != null && type.equals(t.textValue());
  }

  /** Calls {@code visit} on each object in the tree, with its path. */
  private static void walk(JsonValue root, String rootPath,
      java.util.function.BiConsumer<JsonValue, String> visit) {
    java.util.Deque<JsonValue> nodes = new java.util.ArrayDeque<>();
    java.util.Deque<String> paths = new java.util.ArrayDeque<>();
    nodes.push(root);
    paths.push(rootPath);
    while (!nodes.isEmpty()) {
      JsonValue node = nodes.pop();
      String path = paths.pop();
      if (node.isObject()) {
        visit.accept(node, path);
        for (var it = node.fields(); it.hasNext(); ) {
          var e = it.next();
          nodes.push(e.getValue());
          paths.push(path + "." + shorten(e.getKey()));
        }
      } else if (node.isArray()) {
        for (int i = 0; i < node.size(); i++) {
          nodes.push(node.get(i));
          paths.push(path + "[" + i + "]");
        }
      }
    }
  }

  private static void checkTemplate(JsonValue template, String path, Path file) {
    JsonValue special = template.get("special_tokens");
    if (special != null && special.isObject()) {
      for (var it = special.fields(); it.hasNext(); ) {
        var e = it.next();
        JsonValue ids = e.getValue().get("ids");
        JsonValue tokens = e.getValue().get("tokens");
        if (ids != null && tokens != null && ids.isArray() && tokens.isArray()
            && ids.size() != tokens.size()) {
          throw notValid(file, path + ".special_tokens['"
              + shorten(e.getKey()) + "'] has " + ids.size() + " ids but " + tokens.size()
              + " tokens; expected as many of each");
        }
      }
    }
    for (String which : java.util.List.of("single", "pair")) {
      JsonValue pieces = template.get(which);
      for (int i = 0; pieces != null && pieces.isArray() && i < pieces.size(); i++) {
        JsonValue piece = pieces.get(i);
        String at = path + "." + which + "[" + i + "]";
        JsonValue token = piece.get("SpecialToken");
        JsonValue id = token == null ? null : token.get("id");
        if (id != null && id.isTextual()
            && (special == null || !special.isObject() || !special.has(id.textValue()))) {
          throw notValid(file, at + " is the special token '"
              + shorten(id.textValue()) + "', which its special_tokens do not define");
        }
        JsonValue sequence = piece.get("Sequence");
        JsonValue name = sequence == null ? null : sequence.get("id");
        if (which.equals("single") && name != null && "B".equals(name.textValue())) {
          throw notValid(file, at + " takes sequence B, but a single text"
              + " is sequence A");
        }
      }
    }
  }

  private static IllegalArgumentException invalid(Path file, String why, JsonParser p) {
    return notValid(file, why + where(p.currentLocation()));
  }

  /** The refusal of {@code file}, saying {@code why}. */
  private static IllegalArgumentException notValid(Path file, String why) {
    return new IllegalArgumentException("tokenizer file " + file + " is not a valid HuggingFace"
        + " tokenizer.json: " + why);
  }

  private static String where(com.fasterxml.jackson.core.JsonLocation at) {
    return at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
  }

  private static String shorten(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }
}
