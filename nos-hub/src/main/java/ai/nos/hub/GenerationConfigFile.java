package ai.nos.hub;

import ai.nos.internal.json.JsonValue;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What SpeechRecognizer takes from a Whisper checkpoint's HuggingFace
 * {@code generation_config.json}, the settings transformers' {@code generate} applies by
 * default: {@code suppress_tokens} and {@code begin_suppress_tokens} (a key absent or null is an
 * empty list), {@code max_initial_timestamp_index} (absent or null: openai-whisper's 1 s, 50)
 * and {@code lang_to_id} (absent or null: empty, Whisper's language list is used). A model
 * without the file gives those defaults. TextGenerator takes a text model's {@code
 * eos_token_id}s from the same format ({@link #eosTokenIds}). The file is read with
 * jackson-core's streaming parser
 * ({@link JsonValue}): a SpeechRecognizer loads no class of Jackson's databind.
 *
 * @param langToId language code ("en") to token id, in the file's order
 */
record GenerationConfigFile(int[] tokens, int[] beginTokens, int maxInitialTimestampIndex,
    Map<String, Integer> langToId) {
  static final String FILE = "generation_config.json";
  /** The largest {@value #FILE} read (HF's are a few KB). */
  static final int MAX_BYTES = 1 << 20;
  /** openai-whisper's max_initial_timestamp of 1 s in 0.02 s steps. */
  static final int MAX_INITIAL_TIMESTAMP_INDEX = 50;
  static final GenerationConfigFile NONE = new GenerationConfigFile(new int[0], new int[0],
      MAX_INITIAL_TIMESTAMP_INDEX, Map.of());
  /**
   * Read as the spec and catalog readers read (jackson-core's parser, JsonValue): HF's files nest
   * two levels, and a duplicate key is refused rather than one of its values taken silently.
   */
  private static final JsonFactory FACTORY = JsonValue.factory(64);

  /**
   * Reads a {@value #FILE} ({@code file}), or gives the defaults when {@code file} is null or
   * does not exist.
   *
   * @throws IllegalArgumentException if the file is not JSON, a list is not a list of token ids,
   *     an id is outside {@code [0, vocab)}, {@code max_initial_timestamp_index} is not a whole
   *     number of 0 or more, or a {@code lang_to_id} key is not {@code <|code|>}: the message
   *     names the file, the key and the value
   * @throws UncheckedIOException if the file exists but cannot be read
   */
  static GenerationConfigFile read(Path file, int vocab) {
    if (file == null || !Files.isRegularFile(file)) {
      return NONE;
    }
    return read(file, bytes(file), vocab);
  }

  /**
   * As {@link #read(Path, int)}, from the bytes of {@code file} already read with
   * {@link #bytes} (and checked against its pin: {@link PinnedFiles}); the file is not opened
   * again.
   */
  static GenerationConfigFile read(Path file, byte[] json, int vocab) {
    JsonValue root = root(file, json);
    JsonValue max = root.get("max_initial_timestamp_index");
    if (max != null && !max.isNull() && !(max.isIntegralNumber() && max.canConvertToInt()
        && max.asInt() >= 0)) {
      throw new IllegalArgumentException("generation config " + file
          + ": max_initial_timestamp_index must be a whole number of 0 or more, but is " + max);
    }
    return new GenerationConfigFile(ids(file, root, "suppress_tokens", vocab),
        ids(file, root, "begin_suppress_tokens", vocab),
        max == null || max.isNull() ? MAX_INITIAL_TIMESTAMP_INDEX : max.asInt(),
        languages(file, root, vocab));
  }

  /**
   * The end-of-sequence ids of a {@value #FILE} in any model's folder (HF's format, which
   * text models use too: {@code eos_token_id}, one id or a list; instruction-tuned models list
   * several), or none when {@code file} does not exist or names none.
   *
   * @throws IllegalArgumentException as {@link #read}: not JSON, or an id outside
   *     {@code [0, vocab)}; the message names the file, the key and the value
   */
  static int[] eosTokenIds(Path file, int vocab) {
    if (file == null || !Files.isRegularFile(file)) {
      return new int[0];
    }
    JsonValue root = root(file, bytes(file));
    JsonValue eos = root.get("eos_token_id");
    if (eos == null || eos.isNull()) {
      return new int[0];
    }
    if (eos.isArray()) {
      return ids(file, root, "eos_token_id", vocab);
    }
    return new int[] {id(file, "eos_token_id", eos, vocab)};
  }

  /**
   * The bytes of a {@value #FILE}, at most {@link #MAX_BYTES} of them.
   *
   * @throws IllegalArgumentException if it holds more
   * @throws UncheckedIOException if it cannot be read
   */
  static byte[] bytes(Path file) {
    return ai.nos.internal.files.BoundedFiles.readSmall(file, MAX_BYTES, "generation config",
        "; HF's are a few KB");
  }

  /** The JSON object of a file's bytes. */
  private static JsonValue root(Path file, byte[] bytes) {
    JsonValue root;
    try {
      root = JsonValue.parse(FACTORY, bytes);
    } catch (JacksonException e) {
      throw new IllegalArgumentException("generation config " + file + " is not valid JSON: "
          + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("generation config " + file + " cannot be read: " + e, e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("generation config " + file + " must hold a JSON"
          + " object, but holds " + (root == null ? "nothing" : root.nodeType()));
    }
    return root;
  }

  private static int[] ids(Path file, JsonValue root, String key, int vocab) {
    JsonValue list = root.get(key);
    if (list == null || list.isNull()) {
      return new int[0];
    }
    if (!list.isArray()) {
      throw new IllegalArgumentException("generation config " + file + ": " + key
          + " must be a list of token ids, but is " + list);
    }
    int[] ids = new int[list.size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = id(file, key + "[" + i + "]", list.get(i), vocab);
    }
    return ids;
  }

  private static Map<String, Integer> languages(Path file, JsonValue root, int vocab) {
    JsonValue map = root.get("lang_to_id");
    if (map == null || map.isNull()) {
      return Map.of();
    }
    if (!map.isObject()) {
      throw new IllegalArgumentException("generation config " + file + ": lang_to_id must map"
          + " language tokens to ids, but is " + map);
    }
    Map<String, Integer> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonValue>> it = map.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonValue> e = it.next();
      String token = e.getKey();
      if (!token.startsWith("<|") || !token.endsWith("|>") || token.length() < 5) {
        throw new IllegalArgumentException("generation config " + file + ": lang_to_id key '"
            + token + "' is not a language token <|code|>");
      }
      out.put(token.substring(2, token.length() - 2),
          id(file, "lang_to_id[" + token + "]", e.getValue(), vocab));
    }
    return java.util.Collections.unmodifiableMap(out);
  }

  private static int id(Path file, String what, JsonValue id, int vocab) {
    if (!id.canConvertToInt() || !id.isIntegralNumber() || id.asInt() < 0
        || id.asInt() >= vocab) {
      throw new IllegalArgumentException("generation config " + file + ": " + what + " is " + id
          + ", not a token id of the model's vocabulary [0, " + vocab + ")");
    }
    return id.asInt();
  }
}
