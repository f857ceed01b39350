package ai.nos.benchmarks.gpu;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
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
  static Windows windows(Call call, int itemsPerCall, double seconds, int repeats)
      throws Exception {
    return windows(call, itemsPerCall, seconds, repeats, System::nanoTime);
  }

  /** {@link #windows(Call, int, double, int)} on the given clock (tests run their own). */
  static Windows windows(Call call, int itemsPerCall, double seconds, int repeats,
      LongSupplier clock) throws Exception {
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
   * Throughput with one thread per element of {@code calls}, each running its call in a loop (the
   * way concurrent callers use a model: a caller's next call is made when its last one returns).
   * After every thread's {@link #WARM_UP_CALLS}, {@code repeats} windows of about
   * {@code seconds}: a window starts at one call's return and ends at the first return past its
   * length, and counts the calls that returned in between (of any thread). The threads stop
   * after the last window; a call's exception ends the measurement and is thrown here.
   *
   * @throws IllegalArgumentException if calls is empty, seconds is not positive, repeats is
   *     below 1 or itemsPerCall below 1
   */
  static Windows callers(List<Call> calls, int itemsPerCall, double seconds, int repeats)
      throws Exception {
    if (calls.isEmpty() || !(seconds > 0) || repeats < 1 || itemsPerCall < 1) {
      throw new IllegalArgumentException("windows need at least one caller, seconds > 0, repeats"
          + " >= 1 and items per call >= 1; given " + calls.size() + " callers, seconds "
          + seconds + ", repeats " + repeats + ", items per call " + itemsPerCall);
    }
    AtomicLong returned = new AtomicLong();
    AtomicLong lastReturn = new AtomicLong();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Exception> failure = new AtomicReference<>();
    CountDownLatch warm = new CountDownLatch(calls.size());
    List<List<Long>> nanos = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < calls.size(); i++) {
      Call call = calls.get(i);
      List<Long> mine = new ArrayList<>();
      nanos.add(mine);
      Thread t = new Thread(() -> {
        try {
          for (int w = 0; w < WARM_UP_CALLS; w++) {
            call.run();
          }
          warm.countDown();
          while (!stop.get()) {
            long t0 = System.nanoTime();
            call.run();
            long t1 = System.nanoTime();
            mine.add(t1 - t0);
            synchronized (returned) {
              lastReturn.set(t1);
              returned.incrementAndGet();
            }
          }
        } catch (Exception e) {
          failure.compareAndSet(null, e);
          warm.countDown();
          stop.set(true);
        }
      }, "timing-caller-" + i);
      threads.add(t);
      t.start();
    }
    List<Double> perSecond = new ArrayList<>(repeats);
    try {
      warm.await();
      long length = (long) (seconds * 1e9);
      for (int w = 0; w < repeats && failure.get() == null; w++) {
        long[] start = nextReturn(returned, lastReturn, -1, failure);
        long[] end = start;
        while (failure.get() == null && end[1] - start[1] < length) {
          end = nextReturn(returned, lastReturn, end[0], failure);
        }
        perSecond.add((end[0] - start[0]) * itemsPerCall / ((end[1] - start[1]) / 1e9));
      }
    } finally {
      stop.set(true);
      for (Thread t : threads) {
        t.join();
      }
    }
    if (failure.get() != null) {
      throw failure.get();
    }
    List<Long> all = new ArrayList<>();
    nanos.forEach(all::addAll);
    Collections.sort(all);
    return new Windows(perSecond, all);
  }

  /** {count, time} of the first return after the count {@code after} (-1: any later one). */
  private static long[] nextReturn(AtomicLong returned, AtomicLong lastReturn, long after,
      AtomicReference<Exception> failure) throws InterruptedException {
    long seen = after < 0 ? returned.get() : after;
    while (failure.get() == null) {
      synchronized (returned) {
        if (returned.get() > seen) {
          return new long[] {returned.get(), lastReturn.get()};
        }
      }
      Thread.sleep(0, 100_000);
    }
    return new long[] {seen, 0};
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
