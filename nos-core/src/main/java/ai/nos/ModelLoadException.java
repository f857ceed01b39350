package ai.nos;

/**
 * A model could not be loaded: its artifact is missing, unreadable, fails its checksum, or is not a
 * model libtorch can read. The message names the model and the file.
 */
public class ModelLoadException extends NosException {
  private static final long serialVersionUID = 1L;

  public ModelLoadException(String message) {
    super(message);
  }

  public ModelLoadException(String message, Throwable cause) {
    super(message, cause);
  }
}
