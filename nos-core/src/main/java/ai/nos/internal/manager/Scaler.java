package ai.nos.internal.manager;

import ai.nos.ScalingPolicy;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.TimeUnit;

/**
 * The scaling decision of one model: observed signals in, wanted copies out. Pure but for the
 * recommendations it remembers over its windows, and driven by the caller's clock, so that
 * tests step it through traffic patterns tick by tick.
 *
 * <p>Each tick turns the signal into a recommendation ({@link #recommend}); the wanted count
 * goes up to the smallest recommendation of the last {@code upWindow} and down to the largest of
 * the last {@code window}, each only once the scaler has watched for that long, and always stays
 * within {@code [minReplicas, maxReplicas]}. Not thread-safe: the manager calls it under its
 * lock.
 */
final class Scaler {
  /** The wanted count and why; {@code changed} when it differs from the count before. */
  record Decision(int wanted, boolean changed, String reason) {}

  private final ScalingPolicy policy;
  /** Recommendations of the ticks in the longer window: {time, recommendation}. */
  private final Deque<long[]> history = new ArrayDeque<>();
  private long since = Long.MIN_VALUE;
  /** Calls completed at the previous tick, so P99_LATENCY can tell a quiet tick. */
  private long requestsBefore = -1;

  Scaler(ScalingPolicy policy) {
    this.policy = policy;
  }

  ScalingPolicy policy() {
    return policy;
  }

  /**
   * The copies the signal asks for, before the windows and bounds: {@code ceil(outstanding /
   * value)} for QUEUE_DEPTH, {@code ceil(current * p99 / bound)} for P99_LATENCY (0 when no call
   * completed since the last tick).
   */
  static int recommend(ScalingPolicy policy, int current, long outstanding, long p99Micros,
      boolean quiet) {
    double want;
    if (policy.target() == ScalingPolicy.Target.QUEUE_DEPTH) {
      want = outstanding / policy.value();
    } else {
      want = quiet ? 0 : Math.max(1, current) * (p99Micros / policy.value());
    }
    return (int) Math.min(Integer.MAX_VALUE, Math.ceil(want - 1e-9));
  }

  /**
   * One tick: records the recommendation for the signals and returns the count wanted now.
   *
   * @param current copies serving or loading now
   * @param outstanding calls queued or running over all copies
   * @param p99Micros the 99th percentile latency of recent calls
   * @param requests calls completed ever
   */
  Decision tick(long now, int current, long outstanding, long p99Micros, long requests) {
    boolean quiet = requestsBefore >= 0 && requests == requestsBefore;
    requestsBefore = requests;
    int rec = recommend(policy, current, outstanding, p99Micros, quiet);
    if (since == Long.MIN_VALUE) {
      since = now;
    }
    history.addLast(new long[] {now, rec});
    long keep = Math.max(policy.window().toNanos(), policy.upWindow().toNanos());
    while (history.size() > 1 && history.peekFirst()[0] < now - keep) {
      history.removeFirst();
    }
    int min = policy.minReplicas();
    int max = policy.maxReplicas();
    if (current < min) {
      return new Decision(min, true, "below minReplicas " + min);
    }
    if (current > max) {
      return new Decision(max, true, "above maxReplicas " + max);
    }
    long up = lowest(now - policy.upWindow().toNanos());
    boolean watchedUp = now - since >= policy.upWindow().toNanos();
    if (up > current && current < max && watchedUp) {
      int wanted = (int) Math.min(max, up);
      return new Decision(wanted, true, signal(outstanding, p99Micros, current, quiet)
          + (policy.upWindow().isZero() ? "" : " for " + ms(policy.upWindow().toNanos()) + " ms")
          + (up > max ? "; capped at maxReplicas " + max : ""));
    }
    long down = highest(now - policy.window().toNanos());
    boolean watchedDown = now - since >= policy.window().toNanos();
    if (down < current && current > min && watchedDown) {
      int wanted = (int) Math.max(min, down);
      return new Decision(wanted, true, "at most " + down + " copies needed for "
          + ms(policy.window().toNanos()) + " ms (" + signal(outstanding, p99Micros, current,
              quiet) + " now)");
    }
    return new Decision(current, false, signal(outstanding, p99Micros, current, quiet));
  }

  private long lowest(long from) {
    long out = Long.MAX_VALUE;
    for (long[] h : history) {
      if (h[0] >= from) {
        out = Math.min(out, h[1]);
      }
    }
    return out;
  }

  private long highest(long from) {
    long out = Long.MIN_VALUE;
    for (long[] h : history) {
      if (h[0] >= from) {
        out = Math.max(out, h[1]);
      }
    }
    return out;
  }

  private String signal(long outstanding, long p99Micros, int current, boolean quiet) {
    if (policy.target() == ScalingPolicy.Target.QUEUE_DEPTH) {
      return outstanding + " calls outstanding on " + current + " copies (target "
          + fmt(policy.value()) + " per copy)";
    }
    return quiet ? "no calls since the last tick" : "p99 " + p99Micros + " us on " + current
        + " copies (bound " + fmt(policy.value()) + " us)";
  }

  private static long ms(long nanos) {
    return TimeUnit.NANOSECONDS.toMillis(nanos);
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
  }
}
