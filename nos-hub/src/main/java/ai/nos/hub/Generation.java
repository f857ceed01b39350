package ai.nos.hub;

import ai.nos.generate.FinishReason;
import java.util.Arrays;

/**
 * A {@link TextGenerator}'s result: the new text (cut before a stop string that ended it), the
 * new token ids, and why generation stopped.
 */
public record Generation(String text, int[] tokens, FinishReason finishReason) {
  public Generation {
    tokens = tokens.clone();
  }

  @Override
  public int[] tokens() {
    return tokens.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Generation g && text.equals(g.text) && Arrays.equals(tokens, g.tokens)
        && finishReason == g.finishReason;
  }

  @Override
  public int hashCode() {
    return (text.hashCode() * 31 + Arrays.hashCode(tokens)) * 31 + finishReason.hashCode();
  }

  @Override
  public String toString() {
    return "Generation[" + finishReason + ", " + tokens.length + " tokens: \"" + text + "\"]";
  }
}
