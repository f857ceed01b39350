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
 */
final class TokenizerJson {

  /** Nesting deeper than this is refused; serde_json's limit is 128. */
  static final int MAX_DEPTH = 64;

  private static final JsonFactory JSON = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
      .build();
  /** The post_processor read as a tree; duplicate keys are refused there. */
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
      int processorFrom = -1;
      int processorTo = -1;
      for (int depth = 1; depth > 0; ) {
        token = p.nextToken();
        if (token == JsonToken.FIELD_NAME && depth == 1
            && p.currentName().equals("post_processor")) {
          JsonToken value = p.nextToken();
          if (value == null) {
            throw invalid(file, "it ends after \"post_processor\"", p);
          }
          processorFrom = (int) p.currentTokenLocation().getCharOffset();
          checkValue(value, p, file);
          if (value.isStructStart()) {
            int inner = 1;
            while (inner > 0) { // checked as everything else, then read as a tree below
              JsonToken t = p.nextToken();
              if (t == null) {
                throw invalid(file, "it ends inside its post_processor", p);
              }
              inner += t.isStructStart() ? 1 : t.isStructEnd() ? -1 : 0;
              checkValue(t, p, file);
            }
          }
          processorTo = (int) p.currentLocation().getCharOffset();
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
      if (processorFrom >= 0) {
        JsonValue processor = JsonValue.parse(TREE, text.substring(processorFrom, processorTo));
        checkProcessor(processor, "post_processor", file);
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

  /** Checks each template in a post-processor tree; see the class comment. */
  private static void checkProcessor(JsonValue root, String rootPath, Path file) {
    java.util.Deque<JsonValue> nodes = new java.util.ArrayDeque<>();
    java.util.Deque<String> paths = new java.util.ArrayDeque<>();
    nodes.push(root);
    paths.push(rootPath);
    while (!nodes.isEmpty()) {
      JsonValue node = nodes.pop();
      String path = paths.pop();
      if (node.isObject() && (node.has("single") || node.has("pair")
          || node.has("special_tokens"))) {
        checkTemplate(node, path, file);
      }
      if (node.isObject() && node.get("processors") != null) {
        JsonValue list = node.get("processors");
        for (int i = 0; i < list.size(); i++) {
          nodes.push(list.get(i));
          paths.push(path + ".processors[" + i + "]");
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
          throw new IllegalArgumentException("tokenizer file " + file + " is not a valid"
              + " HuggingFace tokenizer.json: " + path + ".special_tokens['"
              + shorten(e.getKey()) + "'] has " + ids.size() + " ids but " + tokens.size()
              + " tokens; expected as many of each");
        }
      }
    }
    for (String which : java.util.List.of("single", "pair")) {
      JsonValue pieces = template.get(which);
      for (int i = 0; pieces != null && i < pieces.size(); i++) {
        JsonValue piece = pieces.get(i);
        String at = path + "." + which + "[" + i + "]";
        JsonValue token = piece.get("SpecialToken");
        JsonValue id = token == null ? null : token.get("id");
        if (id != null && id.isTextual()
            && (special == null || !special.isObject() || !special.has(id.textValue()))) {
          throw new IllegalArgumentException("tokenizer file " + file + " is not a valid"
              + " HuggingFace tokenizer.json: " + at + " is the special token '"
              + shorten(id.textValue()) + "', which its special_tokens do not define");
        }
        JsonValue sequence = piece.get("Sequence");
        JsonValue name = sequence == null ? null : sequence.get("id");
        if (which.equals("single") && name != null && "B".equals(name.textValue())) {
          throw new IllegalArgumentException("tokenizer file " + file + " is not a valid"
              + " HuggingFace tokenizer.json: " + at + " takes sequence B, but a single text"
              + " is sequence A");
        }
      }
    }
  }

  private static IllegalArgumentException invalid(Path file, String why, JsonParser p) {
    return new IllegalArgumentException("tokenizer file " + file + " is not a valid HuggingFace"
        + " tokenizer.json: " + why + where(p.currentLocation()));
  }

  private static String where(com.fasterxml.jackson.core.JsonLocation at) {
    return at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
  }

  private static String shorten(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }
}
