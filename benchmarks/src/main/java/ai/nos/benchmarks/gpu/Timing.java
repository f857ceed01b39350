package ai.nos.benchmarks.gpu;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Latency sampling and windowed throughput for the GPU benchmarks.
 *
 * <p>Throughput (issue 20 item 4) is work done over a measured window of wall time, not batch
 * divided by a per-call percentile: a window counts every call that started in it and ends when
 * the first call to finish past its length does, so the gaps between calls (the harness's own,
 * a GC pause, a slow call) are inside the figure. Each cell is measured in several windows back to
 * back, and the rows print their minimum and median, so one lucky or unlucky window shows.
 */
final class Timing {
  private Timing() {}

  /** Unmeasured calls before the first window: the first call of a bucket records or tunes. */
  static final int WARM_UP_CALLS = 10;

  /** One call of the thing measured. */
  interface Call {
    void run() throws Exception;
  }

  /**
   * The throughput of each window (items per second, in the order measured) and the sorted
   * nanoseconds of every measured call of all windows together.
   */
  record Windows(List<Double> perSecond, List<Long> sortedNanos) {
    Windows {
      perSecond = List.copyOf(perSecond);
      sortedNanos = List.copyOf(sortedNanos);
    }

    double median() {
      return median(perSecond);
    }

    double min() {
      return Collections.min(perSecond);
    }

    long p50Nanos() {
      return sortedNanos.get(sortedNanos.size() / 2);
    }

    private static double median(List<Double> values) {
      List<Double> sorted = new ArrayList<>(values);
      Collections.sort(sorted);
      int n = sorted.size();
      return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
  }

  /**
   * {@code repeats} windows of about {@code seconds} each, after {@link #WARM_UP_CALLS} unmeasured
   * calls; each call does {@code itemsPerCall} items (the batch).
   *
   * @throws IllegalArgumentException if seconds is not positive, repeats is below 1 or
   *     itemsPerCall below 1
   */
  static Windows windows(Call call, int itemsPerCall, double seconds, int repeats) throws Exception {
    return windows(call, itemsPerCall, seconds, repeats, System::nanoTime);
  }

  /** {@link #windows(Call, int, double, int)} on the given clock (tests run their own). */
  static Windows windows(Call call, int itemsPerCall, double seconds, int repeats, LongSupplier clock)
      throws Exception {
    if (!(seconds > 0) || repeats < 1 || itemsPerCall < 1) {
      throw new IllegalArgumentException("windows need seconds > 0, repeats >= 1 and items per call"
          + " >= 1; given seconds " + seconds + ", repeats " + repeats + ", items per call "
          + itemsPerCall);
    }
    for (int i = 0; i < WARM_UP_CALLS; i++) {
      call.run();
    }
    long length = (long) (seconds * 1e9);
    List<Double> perSecond = new ArrayList<>(repeats);
    List<Long> nanos = new ArrayList<>();
    for (int w = 0; w < repeats; w++) {
      long start = clock.getAsLong();
      long now = start;
      long calls = 0;
      while (now - start < length) {
        long t0 = now;
        call.run();
        now = clock.getAsLong();
        nanos.add(now - t0);
        calls++;
      }
      perSecond.add(calls * itemsPerCall / ((now - start) / 1e9));
    }
    Collections.sort(nanos);
    return new Windows(perSecond, nanos);
  }

  /**
   * The sorted nanoseconds of each call of {@code call} over about {@code seconds} (at least 10
   * calls), after 10 unmeasured warm-up calls.
   */
  static List<Long> sortedNanos(Call call, double seconds) throws Exception {
    for (int i = 0; i < WARM_UP_CALLS; i++) {
      call.run();
    }
    List<Long> times = new ArrayList<>();
    long end = System.nanoTime() + (long) (seconds * 1e9);
    while (System.nanoTime() < end || times.size() < 10) {
      long t0 = System.nanoTime();
      call.run();
      times.add(System.nanoTime() - t0);
    }
    Collections.sort(times);
    return times;
  }
}
