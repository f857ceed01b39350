package ai.nos.optim;

import ai.nos.NosException;

/**
 * An optimization could not be made or kept: building a cached artifact failed, the cache could
 * not store or read it, or an optimized model failed to run on the accuracy guard's inputs. The
 * message names what was being built (the {@link CacheKey} or the optimization step and model) and
 * carries the cause's own message.
 */
public class OptimizationException extends NosException {
  private static final long serialVersionUID = 1L;

  /** An exception with a message and no cause. */
  public OptimizationException(String message) {
    super(message);
  }

  /** An exception with a message and the failure that caused it. */
  public OptimizationException(String message, Throwable cause) {
    super(message, cause);
  }
}
