package ai.nos;

import java.time.Duration;
import java.util.Locale;

/**
 * A request's deadline passed while it waited in its model's queue, so it was dropped before it
 * ran: the model never saw it. The message states the model, how long the request waited and its
 * deadline, both counted from when it was submitted, e.g. {@code "model 'digits' request waited
 * 12.500 ms, past its deadline of 10.000 ms; dropped before it ran"}.
 */
public class DeadlineExceededException extends NosException {
  private static final long serialVersionUID = 1L;

  private final String modelId;
  private final Duration waited;
  private final Duration deadline;

  /**
   * @param modelId the model the request was for
   * @param waited how long the request waited, from its submission until it was dropped
   * @param deadline the time it was allowed, counted from its submission
   */
  public DeadlineExceededException(String modelId, Duration waited, Duration deadline) {
    super("model '" + modelId + "' request waited " + millis(waited) + ", past its deadline of "
        + millis(deadline) + "; dropped before it ran");
    this.modelId = modelId;
    this.waited = waited;
    this.deadline = deadline;
  }

  private static String millis(Duration d) {
    return String.format(Locale.ROOT, "%.3f ms", d.toNanos() / 1e6);
  }

  /** The id of the model the request was for. */
  public String modelId() {
    return modelId;
  }

  /** How long the request waited, from its submission until it was dropped. */
  public Duration waited() {
    return waited;
  }

  /** The time the request was allowed, counted from its submission. */
  public Duration deadline() {
    return deadline;
  }
}
