package ai.nos;

/**
 * Base of the exceptions NOS throws for failures that are not the caller's programming error.
 *
 * <p>Invalid arguments (a malformed spec, a tensor that does not match the signature) are reported
 * with {@link IllegalArgumentException}; using a closed model with {@link IllegalStateException}.
 * Everything that goes wrong in loading or running a model is a {@code NosException}.
 */
public class NosException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public NosException(String message) {
    super(message);
  }

  public NosException(String message, Throwable cause) {
    super(message, cause);
  }
}
