package ai.nos.generate;

import java.util.Arrays;

/**
 * The result of one generation: the new token ids (the prompt's are not repeated), why it
 * stopped, and the prompt's length. Immutable.
 */
public final class GeneratedTokens {
  private final int[] tokens;
  private final FinishReason finishReason;
  private final int promptTokens;

  /**
   * @param tokens the new ids, copied
   * @param finishReason why generation stopped
   * @param promptTokens how many ids the prompt had
   */
  public GeneratedTokens(int[] tokens, FinishReason finishReason, int promptTokens) {
    if (tokens == null || finishReason == null) {
      throw new IllegalArgumentException("tokens and finishReason must not be null (tokens "
          + (tokens == null ? "null" : tokens.length + " ids") + ", finishReason "
          + finishReason + ")");
    }
    this.tokens = tokens.clone();
    this.finishReason = finishReason;
    this.promptTokens = promptTokens;
  }

  /** The generated ids, in order; a copy. */
  public int[] tokens() {
    return tokens.clone();
  }

  /** How many ids were generated. */
  public int size() {
    return tokens.length;
  }

  public FinishReason finishReason() {
    return finishReason;
  }

  public int promptTokens() {
    return promptTokens;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GeneratedTokens g && Arrays.equals(tokens, g.tokens)
        && finishReason == g.finishReason && promptTokens == g.promptTokens;
  }

  @Override
  public int hashCode() {
    return (Arrays.hashCode(tokens) * 31 + finishReason.hashCode()) * 31 + promptTokens;
  }

  @Override
  public String toString() {
    return "GeneratedTokens" + Arrays.toString(tokens) + " (" + finishReason + ", prompt "
        + promptTokens + " tokens)";
  }
}
