package ai.nos;

/**
 * The device a spec asked for is not there. NOS never falls back from CUDA to the CPU on its own:
 * the message says what was asked for, what this process has, and how to get what is missing.
 */
public class DeviceUnavailableException extends NosException {
  private static final long serialVersionUID = 1L;

  public DeviceUnavailableException(String message) {
    super(message);
  }
}
