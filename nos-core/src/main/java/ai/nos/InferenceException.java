package ai.nos;

/**
 * Running a model failed inside libtorch: the model raised, an operator rejected its input, or the
 * device ran out of memory. The message starts with the model's id and carries the model's own
 * message; {@link #modelMessage()} gives the latter alone.
 */
public class InferenceException extends NosException {
  private static final long serialVersionUID = 1L;

  private final String modelId;
  private final String modelMessage;

  public InferenceException(String modelId, String modelMessage, String message, Throwable cause) {
    super(message, cause);
    this.modelId = modelId;
    this.modelMessage = modelMessage;
  }

  /** The id of the model that failed. */
  public String modelId() {
    return modelId;
  }

  /**
   * The model's own error, e.g. {@code "builtins.ValueError: negative input not allowed"} for a
   * TorchScript {@code raise}, without the interpreter's traceback.
   */
  public String modelMessage() {
    return modelMessage;
  }
}
