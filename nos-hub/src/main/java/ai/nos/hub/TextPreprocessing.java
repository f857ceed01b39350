package ai.nos.hub;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * How text becomes the inputs of a text model, and how its outputs become one vector.
 *
 * <p>In JSON: {@code {"tokenizer": "tokenizer", "maxLength": 256, "pooling": "mean",
 * "normalize": true}}; {@code normalize} is false when absent.
 *
 * @param tokenizer the name of the entry's artifact holding the HuggingFace {@code tokenizer.json}
 * @param maxLength the most tokens per text, special tokens included; 1 to {@value #MAX_LENGTH}
 * @param pooling how token vectors become one vector
 * @param normalize whether the vector is scaled to unit L2 norm
 */
public record TextPreprocessing(String tokenizer, int maxLength, Pooling pooling,
    boolean normalize) {

  /** The largest {@link #maxLength()} accepted. */
  public static final int MAX_LENGTH = 65_536;

  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_-]{0,31}");

  /** How the per-token outputs of a text model become one vector per text. */
  public enum Pooling {
    /** The mean of the token vectors, weighted by the attention mask. */
    MEAN,
    /** The vector of the first token ({@code [CLS]}). */
    CLS,
    /** None: the model returns one vector per text itself (CLIP's projected text embedding). */
    NONE;

    /** The name in JSON, e.g. {@code "mean"}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * Checks the components.
   *
   * @throws IllegalArgumentException if a component is null or out of range; the message starts
   *     with the component's name
   */
  public TextPreprocessing {
    if (tokenizer == null || !NAME.matcher(tokenizer).matches()) {
      throw new IllegalArgumentException("tokenizer must name an artifact (" + NAME.pattern()
          + ") but was " + (tokenizer == null ? "null" : "'" + Checks.shorten(tokenizer) + "'"));
    }
    if (maxLength < 1 || maxLength > MAX_LENGTH) {
      throw new IllegalArgumentException(
          "maxLength must be between 1 and " + MAX_LENGTH + " but was " + maxLength);
    }
    if (pooling == null) {
      throw new IllegalArgumentException("pooling must not be null");
    }
  }
}
