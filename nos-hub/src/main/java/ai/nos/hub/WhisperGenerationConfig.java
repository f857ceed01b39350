package ai.nos.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Whisper checkpoint's suppressed tokens, from the {@code suppress_tokens} and
 * {@code begin_suppress_tokens} of its HuggingFace {@code generation_config.json}: the lists
 * transformers' {@code generate} applies by default. A key that is absent or null is an empty
 * list, as is a directory without the file (an export of random weights has none).
 */
record WhisperSuppression(int[] tokens, int[] beginTokens) {
  static final String FILE = "generation_config.json";
  static final WhisperSuppression NONE = new WhisperSuppression(new int[0], new int[0]);

  /**
   * Reads {@code directory}'s {@value #FILE}, if any.
   *
   * @throws IllegalArgumentException if the file is not JSON, a list is not a list of token ids,
   *     or an id is outside {@code [0, vocab)}: the message names the file, the key and the value
   * @throws UncheckedIOException if the file exists but cannot be read
   */
  static WhisperSuppression read(Path directory, int vocab) {
    Path file = directory.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      return NONE;
    }
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(file.toFile());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException("generation config " + file + " is not valid JSON: "
          + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("generation config " + file + " cannot be read: " + e, e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("generation config " + file + " must hold a JSON"
          + " object, but holds " + (root == null ? "nothing" : root.getNodeType()));
    }
    return new WhisperSuppression(ids(file, root, "suppress_tokens", vocab),
        ids(file, root, "begin_suppress_tokens", vocab));
  }

  private static int[] ids(Path file, JsonNode root, String key, int vocab) {
    JsonNode list = root.get(key);
    if (list == null || list.isNull()) {
      return new int[0];
    }
    if (!list.isArray()) {
      throw new IllegalArgumentException("generation config " + file + ": " + key
          + " must be a list of token ids, but is " + list);
    }
    int[] ids = new int[list.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode id = list.get(i);
      if (!id.canConvertToInt() || !id.isIntegralNumber() || id.asInt() < 0
          || id.asInt() >= vocab) {
        throw new IllegalArgumentException("generation config " + file + ": " + key + "[" + i
            + "] is " + id + ", not a token id of the model's vocabulary [0, " + vocab + ")");
      }
      ids[i] = id.asInt();
    }
    return ids;
  }
}
