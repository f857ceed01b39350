package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.ScalingPolicy;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The scaling decision of one model: observed signals in, wanted copies out. Pure but for the
 * samples and trials it remembers, and driven by the caller's clock, so that tests step it
 * through traffic patterns tick by tick.
 *
 * <h2>Windows</h2>
 * Each tick turns the signal into a recommendation ({@link #recommend}); the wanted count goes up
 * to the smallest recommendation of the last {@code upWindow} and down to the largest of the last
 * {@code window}, each only once the scaler has watched for that long, and always stays within
 * {@code [minReplicas, maxReplicas]}. A recommendation holds until the next tick: the sample taken
 * before a window's start still speaks for its first moments. So a gap between ticks (the loop
 * was busy loading copies for seconds) is not a quiet window: the 2026-12-03 GPU run scaled 4 -> 1
 * on the first tick after 20 s of loads, a single sample of the lower load, because the samples
 * of the high load had all aged out unseen.
 *
 * <h2>Copies that share a device are trials</h2>
 * A second copy on a device that already holds one adds no hardware: it helps only if the first
 * left the device idle part of the time (small models, launch-bound ones); on a busy GPU the two
 * copies contend for the same cores and throughput falls (the same run: one ResNet-50 copy 5,000
 * calls/s, four 2,300). So the caller grows a model by at most one such copy at a time ({@code
 * room} is 1 then), tells the scaler when it booked one ({@link #trialBooked}), and the scaler
 * holds the wanted count while it measures:
 * <ul>
 *   <li><b>before</b>: completed calls per second over the ticks, in the last {@code window}
 *       before the copy served, whose recommendation asked for more copies than the model then
 *       had: the load that asked for the copy, served by the copies without it (its load time
 *       included: the old copies serve alone meanwhile);
 *   <li><b>after</b>: the same over the {@code window} after the copy served, counting the
 *       ticks that still asked for more copies than the model had before it: the same load, not
 *       a lighter one that came meanwhile (no such tick: the copy stays untested, and the
 *       windows decide as for any copy).
 * </ul>
 * The copy helps if calls per second rose by at least {@link #TRIAL_MARGIN}, or the mean time a
 * call is outstanding (Little's law: mean calls outstanding over calls per second) fell by that
 * margin while calls per second did not fall by it (traffic that arrives at a fixed rate shows a
 * copy's help as shorter waits, not more calls). A copy that helps stays and the next may be
 * tried; one that does not is retired (idle first: see the Autoscaler) and its device is backed
 * off for that model: no further copy there for {@link #BACKOFF_WINDOWS} windows, or until the
 * calls outstanding reach {@link #BACKOFF_LOAD_FACTOR} times those of the failed trial, whichever
 * comes first. A copy on a device the model is not on adds hardware and is not a trial. More
 * traffic during a trial reads as help, and less traffic that still presses the model as harm;
 * the back-off makes a wrong "no" cost at most the windows above.
 *
 * <p>Not thread-safe: the manager calls it under its lock.
 */
final class Scaler {
  /** The least relative gain (calls per second, or time outstanding) that keeps a trial copy. */
  static final double TRIAL_MARGIN = 0.10;
  /** How many windows a device whose trial copy did not help gets no further copy. */
  static final int BACKOFF_WINDOWS = 10;
  /** How much more traffic (calls outstanding) than the failed trial saw lifts the back-off. */
  static final double BACKOFF_LOAD_FACTOR = 2;

  /** What became of a trial copy at this tick. */
  enum Verdict { NONE, KEEP, RETIRE }

  /** The wanted count and why; {@code changed} when it differs from the count before. */
  record Decision(int wanted, boolean changed, String reason, Verdict verdict) {
    Decision(int wanted, boolean changed, String reason) {
      this(wanted, changed, reason, Verdict.NONE);
    }
  }

  /**
   * One tick's measurements.
   *
   * @param current copies loading or serving now, those being retired not counted
   * @param outstanding calls queued or running over all copies
   * @param p99Micros the 99th percentile latency of recent calls
   * @param requests calls completed ever
   */
  record Signals(long now, int current, long outstanding, long p99Micros, long requests) {}

  /** The copy on trial as the caller sees it at a tick. */
  enum TrialCopy { LOADING, SERVING, GONE }

  /** A tick: its time, recommendation, calls completed ever and calls outstanding. */
  private record Sample(long time, long rec, long requests, long outstanding) {}

  /** Calls per second and mean calls outstanding over some ticks. */
  private record Measure(double perSecond, double outstanding) {
    /** Mean time a call is outstanding, in ms (Little's law); infinite with no call done. */
    double millis() {
      return perSecond > 0 ? 1000 * outstanding / perSecond : Double.POSITIVE_INFINITY;
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "%.0f calls/s, %.2f ms each", perSecond, millis());
    }
  }

  private static final class Trial {
    final Device device;
    final int copiesBefore;
    long ready = -1;
    Measure before;

    Trial(Device device, int copiesBefore) {
      this.device = device;
      this.copiesBefore = copiesBefore;
    }
  }

  private record Backoff(long until, double outstanding) {}

  private final ScalingPolicy policy;
  private final Deque<Sample> history = new ArrayDeque<>();
  private long since = Long.MIN_VALUE;
  /** Calls completed at the previous tick, so P99_LATENCY can tell a quiet tick. */
  private long requestsBefore = -1;
  private Trial trial;
  /** Devices where another copy of the model did not help, in the order their trials failed. */
  private final Map<Device, Backoff> backoffs = new LinkedHashMap<>();

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
   * Starts a trial: the caller booked a copy on {@code device}, which already held one of the
   * model's {@code copiesBefore} copies. The wanted count holds until the trial's verdict.
   */
  void trialBooked(Device device, int copiesBefore) {
    trial = new Trial(device, copiesBefore);
  }

  /** Whether a trial is under way (booked and not judged). */
  boolean inTrial() {
    return trial != null;
  }

  /**
   * Whether another copy may be tried on a device: false while it is backed off (see "Copies
   * that share a device are trials"); a back-off that expired or was lifted by traffic is
   * forgotten here.
   */
  boolean mayShare(Device device, long now, long outstanding) {
    Backoff b = backoffs.get(device);
    if (b == null) {
      return true;
    }
    if (now >= b.until || outstanding >= BACKOFF_LOAD_FACTOR * b.outstanding) {
      backoffs.remove(device);
      return true;
    }
    return false;
  }

  /** A tick without a trial copy to report; see {@link #tick(Signals, TrialCopy, int)}. */
  Decision tick(long now, int current, long outstanding, long p99Micros, long requests) {
    return tick(new Signals(now, current, outstanding, p99Micros, requests), null,
        Integer.MAX_VALUE);
  }

  /**
   * One tick: records the recommendation for the signals and returns the count wanted now.
   *
   * @param trialCopy the state of the copy booked by {@link #trialBooked}; null if none
   * @param room how many more copies the model may get now: one per device it is not on, else
   *     one on a device it shares (if any is not backed off), else none
   */
  Decision tick(Signals s, TrialCopy trialCopy, int room) {
    long now = s.now();
    int current = s.current();
    boolean quiet = requestsBefore >= 0 && s.requests() == requestsBefore;
    requestsBefore = s.requests();
    int rec = recommend(policy, current, s.outstanding(), s.p99Micros(), quiet);
    if (since == Long.MIN_VALUE) {
      since = now;
    }
    history.addLast(new Sample(now, rec, s.requests(), s.outstanding()));
    long keep = Math.max(window(), policy.upWindow().toNanos());
    // Keeps the newest sample at or before the oldest window's start: it holds there.
    while (history.size() > 1 && second().time() <= now - keep) {
      history.removeFirst();
    }
    String signal = signal(s.outstanding(), s.p99Micros(), current, quiet);
    int min = policy.minReplicas();
    int max = policy.maxReplicas();
    if (current < min) {
      return new Decision(min, true, "below minReplicas " + min);
    }
    if (current > max) {
      return new Decision(max, true, "above maxReplicas " + max);
    }
    if (trial != null) {
      Decision judged = judge(s, trialCopy == null ? TrialCopy.GONE : trialCopy, signal);
      if (judged != null) {
        return judged;
      }
    }
    long up = lowest(now - policy.upWindow().toNanos());
    boolean watchedUp = now - since >= policy.upWindow().toNanos();
    if (up > current && current < max && watchedUp) {
      long asked = Math.min(max, up);
      if (room <= 0) {
        return new Decision(current, false, signal + "; held at " + current + ": " + full());
      }
      int wanted = (int) Math.min(asked, (long) current + room);
      return new Decision(wanted, true, signal
          + (policy.upWindow().isZero() ? "" : " for " + ms(policy.upWindow().toNanos()) + " ms")
          + (up > max ? "; capped at maxReplicas " + max : "")
          + (wanted < asked ? "; " + (wanted - current) + " at a time: " + (backoffs.isEmpty()
              ? "the next copy shares a device and is tried alone" : full()) : ""));
    }
    long down = highest(now - window());
    boolean watchedDown = now - since >= window();
    if (down < current && current > min && watchedDown) {
      int wanted = (int) Math.max(min, down);
      return new Decision(wanted, true, "at most " + down + " copies needed for "
          + ms(window()) + " ms (" + signal + " now)");
    }
    return new Decision(current, false, signal);
  }

  /** The trial's decision this tick, or null once it is gone (the tick decides as usual). */
  private Decision judge(Signals s, TrialCopy copy, String signal) {
    long now = s.now();
    int current = s.current();
    if (copy == TrialCopy.GONE) {
      trial = null;
      return null;
    }
    String hold = signal + "; trying another copy on " + trial.device;
    if (copy == TrialCopy.LOADING) {
      return new Decision(current, false, hold);
    }
    int before = trial.copiesBefore;
    Predicate<Sample> pressed = h -> h.rec() > before;
    if (trial.ready < 0) {
      trial.ready = now;
      trial.before = measure(now - window(), now, pressed);
    }
    if (now - trial.ready < window()) {
      return new Decision(current, false, hold);
    }
    Measure after = measure(trial.ready, now, pressed);
    if (after == null && now == trial.ready) {
      // A zero window: the first tick after this one measures.
      return new Decision(current, false, hold);
    }
    Trial t = trial;
    trial = null;
    String copies = (t.copiesBefore + 1) + " copies";
    if (after == null) {
      return new Decision(current, false, "kept the copy on " + t.device + " untested: no tick"
          + " in the " + ms(window()) + " ms after it asked for more than " + t.copiesBefore
          + " copies", Verdict.KEEP);
    }
    if (t.before == null) {
      return new Decision(current, false, "kept the copy on " + t.device + " untested: no calls"
          + " were measured before it (" + copies + ": " + after + ")", Verdict.KEEP);
    }
    double m = TRIAL_MARGIN;
    // No call done after it is no help, even against none done before it.
    boolean served = after.perSecond() > 0;
    boolean faster = served && after.perSecond() >= t.before.perSecond() * (1 + m);
    boolean shorter = served && after.millis() <= t.before.millis() * (1 - m)
        && after.perSecond() >= t.before.perSecond() * (1 - m);
    String numbers = copies + ": " + after + "; " + t.copiesBefore + " before: " + t.before
        + " (needs " + Math.round(100 * m) + "% more calls/s or less time each)";
    if (faster || shorter) {
      return new Decision(current, false, "kept the copy on " + t.device + ", it helps: "
          + numbers, Verdict.KEEP);
    }
    long until = now + BACKOFF_WINDOWS * window();
    backoffs.put(t.device, new Backoff(until, after.outstanding()));
    return new Decision(current - 1, true, "another copy on " + t.device + " did not help: "
        + numbers + "; none tried there for " + ms(until - now) + " ms or until "
        + String.format(Locale.ROOT, "%.1f", BACKOFF_LOAD_FACTOR * after.outstanding())
        + " calls are outstanding",
        Verdict.RETIRE);
  }

  /**
   * Calls per second and mean calls outstanding over the ticks in {@code (from, to]} that
   * {@code counted} accepts, each tick weighing the time since the one before; null if none.
   */
  private Measure measure(long from, long to, Predicate<Sample> counted) {
    Sample prev = null;
    long nanos = 0;
    long calls = 0;
    double outstanding = 0;
    for (Sample h : history) {
      if (prev != null && h.time() > from && h.time() <= to && h.time() > prev.time()
          && counted.test(h)) {
        long dt = h.time() - prev.time();
        nanos += dt;
        calls += h.requests() - prev.requests();
        outstanding += (double) h.outstanding() * dt;
      }
      prev = h;
    }
    if (nanos == 0) {
      return null;
    }
    return new Measure(calls * 1e9 / nanos, outstanding / nanos);
  }

  /** Why no copy may be added: the backed-off devices, or every device holds one. */
  private String full() {
    return backoffs.isEmpty() ? "every device it may use holds a copy"
        : "another copy did not help on " + backoffs.keySet();
  }

  /** The scale-down window; trials measure over it too. */
  private long window() {
    return policy.window().toNanos();
  }

  private Sample second() {
    var it = history.iterator();
    it.next();
    return it.next();
  }

  /** The smallest recommendation in force since {@code from}. */
  private long lowest(long from) {
    long out = Long.MAX_VALUE;
    for (Sample h : inForce(from)) {
      out = Math.min(out, h.rec());
    }
    return out;
  }

  /** The largest recommendation in force since {@code from}. */
  private long highest(long from) {
    long out = Long.MIN_VALUE;
    for (Sample h : inForce(from)) {
      out = Math.max(out, h.rec());
    }
    return out;
  }

  /** The samples taken since {@code from}, and the one before them, which held at {@code from}. */
  private Iterable<Sample> inForce(long from) {
    Deque<Sample> out = new ArrayDeque<>();
    for (var it = history.descendingIterator(); it.hasNext(); ) {
      Sample h = it.next();
      out.addFirst(h);
      if (h.time() <= from) {
        break;
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
