package ai.nos.generate;

/** Why a generation stopped producing tokens. */
public enum FinishReason {
  /** The model produced one of the request's end-of-sequence ids (included in the tokens). */
  EOS_TOKEN,
  /** The text reached one of the request's stop strings (nos-hub's {@code TextGenerator}). */
  STOP_STRING,
  /** {@link GenerationConfig#maxNewTokens()} tokens were produced. */
  MAX_NEW_TOKENS,
  /** The sequence filled the generator's cache length ({@link TokenGenerator#maxLength()}). */
  MAX_LENGTH
}
