package ai.nos.optim;

import ai.nos.Precision;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The verdict of the {@link AccuracyGuard} on one optimized model: whether it passed, and which
 * output decided it.
 *
 * <p>The deciding output is the one with the largest error, or the first that cannot be compared
 * at all (missing, extra, another dtype or shape, or non-finite where the reference is finite);
 * those count as an infinite error. {@link #toString()} says it in one phrase, the one the guard
 * logs: {@code output 'logits' relative error 0.034 > 0.01}.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class GuardResult {

  private final Precision precision;
  private final double threshold;
  private final Map<String, Double> errors;
  private final String output;
  private final double error;
  private final String problem;

  /**
   * A verdict on {@code output}: {@code problem} is null when its error was measured, else why
   * it could not be compared (and {@code error} is infinite).
   */
  GuardResult(Precision precision, double threshold, Map<String, Double> errors, String output,
      double error, String problem) {
    this.precision = precision;
    this.threshold = threshold;
    this.errors = Collections.unmodifiableMap(new LinkedHashMap<>(errors));
    this.output = output;
    this.error = error;
    this.problem = problem;
  }

  /** Whether every output matched the reference within {@link #threshold()}. */
  public boolean passed() {
    return problem == null && error <= threshold;
  }

  /** The name of the output that decided the verdict: the worst, or the first mismatched one. */
  public String worstOutput() {
    return output;
  }

  /**
   * The relative error of {@link #worstOutput()} (see {@link AccuracyGuard} for the metric);
   * {@link Double#POSITIVE_INFINITY} when it could not be compared or holds NaN or infinity where
   * the reference is finite.
   */
  public double error() {
    return error;
  }

  /** The largest error that passes at {@link #precision()}. */
  public double threshold() {
    return threshold;
  }

  /** The precision the optimized model ran in, which chose the threshold. */
  public Precision precision() {
    return precision;
  }

  /**
   * The relative error of each output of the reference, in the reference's order; infinite for
   * those that could not be compared. Unmodifiable.
   */
  public Map<String, Double> errors() {
    return errors;
  }

  @Override
  public boolean equals(Object o) {
    return o == this || (o instanceof GuardResult r && precision == r.precision
        && Double.compare(threshold, r.threshold) == 0 && errors.equals(r.errors)
        && output.equals(r.output) && Double.compare(error, r.error) == 0
        && Objects.equals(problem, r.problem));
  }

  @Override
  public int hashCode() {
    return Objects.hash(precision, threshold, errors, output, error, problem);
  }

  /**
   * The deciding output and why, e.g. {@code output 'logits' relative error 0.034 > 0.01},
   * {@code output 'logits' relative error 0.00021 <= 0.01}, or
   * {@code output 'logits' is NaN at [0, 3] where the reference is finite (0.52)}.
   */
  @Override
  public String toString() {
    if (problem != null) {
      return "output '" + output + "' " + problem;
    }
    int digits = 2;
    while (digits < 17 && error != threshold
        && format(error, digits).equals(format(threshold, digits))) {
      digits++;
    }
    return "output '" + output + "' relative error " + format(error, digits)
        + (passed() ? " <= " : " > ") + format(threshold, digits);
  }

  /** {@code value} to {@code digits} significant digits, without trailing zeros. */
  static String format(double value, int digits) {
    return ai.nos.internal.Accuracy.format(value, digits);
  }
}
