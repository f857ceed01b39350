package ai.nos;

import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link ModelManager} scales a model's copies with its traffic: between
 * {@code minReplicas} and {@code maxReplicas}, aiming at a {@link Target}.
 *
 * <p>Every tick of the manager's scaling loop (see {@link ModelManager.Builder#scalingInterval})
 * turns the model's signal into a recommendation: {@link Target#QUEUE_DEPTH} wants
 * {@code ceil(calls outstanding / value)} copies, where a call is outstanding from the moment
 * it is submitted (queued in a batcher or running) until it completes;
 * {@link Target#P99_LATENCY} wants {@code ceil(copies * p99 / bound)} copies, counting the calls
 * completed since the previous tick (no call since: {@code minReplicas}). A scale-up follows the
 * smallest recommendation of the last {@link #upWindow} (0, the default: the latest one), a
 * scale-down the largest of the last {@link #window}, so a spike loads copies once and they
 * stay until the window has seen no need for them. Utilization is not a target: the signals
 * above are what a copy's queue measures directly.
 *
 * <p>A copy placed on a device that already holds one of the model's copies (a batched model,
 * when no other device fits) adds no hardware, so it is added one at a time and kept only if,
 * over the {@link #window} after it serves, the model's calls per second rose by 10% or the mean
 * time a call is outstanding fell by 10%; otherwise it is retired and that device gets no further
 * copy of the model for ten windows or until twice the calls are outstanding.
 *
 * <p>Immutable; a spec's equality includes it.
 */
public final class ScalingPolicy {
  /** What the policy aims at. */
  public enum Target {
    /** Calls outstanding (queued or running) per copy at most {@code value}. */
    QUEUE_DEPTH("queueDepth"),
    /** The 99th percentile latency of recent calls at most {@code value} microseconds. */
    P99_LATENCY("p99LatencyMicros");

    private final String label;

    Target(String label) {
      this.label = label;
    }

    /** The name in spec JSON. */
    public String label() {
      return label;
    }

    /**
     * The target of a JSON label.
     *
     * @throws IllegalArgumentException naming the label and the known ones
     */
    public static Target of(String label) {
      for (Target t : values()) {
        if (t.label.equals(label)) {
          return t;
        }
      }
      throw new IllegalArgumentException("scaling target must be queueDepth or p99LatencyMicros"
          + " but was " + label);
    }
  }

  /** The scale-down window unless set: a minute without need before a copy goes. */
  public static final Duration DEFAULT_WINDOW = Duration.ofSeconds(60);
  /**
   * The longest window, as in spec JSON ({@code windowMillis}): no scaling decision should wait
   * longer, and the scaler's arithmetic on windows (ten of them for a back-off) stays in range.
   */
  public static final Duration MAX_WINDOW = Duration.ofDays(1);

  private final int minReplicas;
  private final int maxReplicas;
  private final Target target;
  private final double value;
  private final Duration window;
  private final Duration upWindow;

  private ScalingPolicy(int min, int max, Target target, double value, Duration window,
      Duration upWindow) {
    if (min < 1 || max < min) {
      throw new IllegalArgumentException("scaling needs 1 <= minReplicas <= maxReplicas but was"
          + " minReplicas " + min + ", maxReplicas " + max);
    }
    if (target == null) {
      throw new IllegalArgumentException("scaling target must not be null");
    }
    if (!(value > 0) || Double.isInfinite(value)) {
      throw new IllegalArgumentException("scaling target value (" + target.label()
          + ") must be a positive number but was " + value);
    }
    check(window, "window");
    check(upWindow, "upWindow");
    this.minReplicas = min;
    this.maxReplicas = max;
    this.target = target;
    this.value = value;
    this.window = window;
    this.upWindow = upWindow;
  }

  private static void check(Duration d, String what) {
    if (d == null || d.isNegative()) {
      throw new IllegalArgumentException("scaling " + what + " must be zero or positive but was "
          + d);
    }
    if (d.compareTo(MAX_WINDOW) > 0) {
      throw new IllegalArgumentException("scaling " + what + " must be at most a day ("
          + MAX_WINDOW + ") but was " + d);
    }
    if (d.getNano() % 1_000_000 != 0) {
      // JSON holds whole milliseconds: a finer window did not survive fromJson(toJson()).
      throw new IllegalArgumentException("scaling " + what + " must be whole milliseconds (the"
          + " spec JSON's " + what + "Millis) but was " + d);
    }
  }

  /**
   * Keeps about {@code callsPerCopy} calls outstanding per copy.
   *
   * @throws IllegalArgumentException unless {@code 1 <= min <= max} and {@code callsPerCopy > 0}
   */
  public static ScalingPolicy queueDepth(int minReplicas, int maxReplicas, double callsPerCopy) {
    return new ScalingPolicy(minReplicas, maxReplicas, Target.QUEUE_DEPTH, callsPerCopy,
        DEFAULT_WINDOW, Duration.ZERO);
  }

  /**
   * Keeps the 99th percentile latency at most {@code bound}.
   *
   * @throws IllegalArgumentException unless {@code 1 <= min <= max} and {@code bound} is at
   *     least a microsecond
   */
  public static ScalingPolicy p99Latency(int minReplicas, int maxReplicas, Duration bound) {
    // Compared, not converted: a bound of centuries overflows nanoseconds.
    if (bound == null || bound.compareTo(Duration.ofNanos(1000)) < 0) {
      throw new IllegalArgumentException("scaling p99 latency bound must be at least 1 us but was "
          + bound);
    }
    return new ScalingPolicy(minReplicas, maxReplicas, Target.P99_LATENCY,
        bound.getSeconds() * 1e6 + bound.getNano() / 1000.0, DEFAULT_WINDOW, Duration.ZERO);
  }

  /** The same policy with another target; {@code value} in calls or microseconds. */
  public static ScalingPolicy of(int minReplicas, int maxReplicas, Target target, double value) {
    return new ScalingPolicy(minReplicas, maxReplicas, target, value, DEFAULT_WINDOW,
        Duration.ZERO);
  }

  /**
   * The same policy with another scale-down window: a copy goes only after no recommendation in
   * this long asked for it. Default {@link #DEFAULT_WINDOW}.
   *
   * @throws IllegalArgumentException unless whole milliseconds in [0, {@link #MAX_WINDOW}], as
   *     in spec JSON
   */
  public ScalingPolicy window(Duration window) {
    return new ScalingPolicy(minReplicas, maxReplicas, target, value, window, upWindow);
  }

  /**
   * The same policy with another scale-up window: a copy is added only when every
   * recommendation in this long asked for it, so a spike shorter than it loads nothing. Default
   * zero: the latest recommendation.
   *
   * @throws IllegalArgumentException unless whole milliseconds in [0, {@link #MAX_WINDOW}], as
   *     in spec JSON
   */
  public ScalingPolicy upWindow(Duration upWindow) {
    return new ScalingPolicy(minReplicas, maxReplicas, target, value, window, upWindow);
  }

  public int minReplicas() {
    return minReplicas;
  }

  public int maxReplicas() {
    return maxReplicas;
  }

  public Target target() {
    return target;
  }

  /** Calls per copy for {@link Target#QUEUE_DEPTH}, microseconds for {@link Target#P99_LATENCY}. */
  public double value() {
    return value;
  }

  public Duration window() {
    return window;
  }

  public Duration upWindow() {
    return upWindow;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ScalingPolicy p && p.minReplicas == minReplicas
        && p.maxReplicas == maxReplicas && p.target == target && p.value == value
        && p.window.equals(window) && p.upWindow.equals(upWindow);
  }

  @Override
  public int hashCode() {
    return Objects.hash(minReplicas, maxReplicas, target, value, window, upWindow);
  }

  @Override
  public String toString() {
    return "ScalingPolicy{" + minReplicas + ".." + maxReplicas + ", " + target.label() + " "
        + value + ", window " + window + (upWindow.isZero() ? "" : ", upWindow " + upWindow)
        + "}";
  }
}
