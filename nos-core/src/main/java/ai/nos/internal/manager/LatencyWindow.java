package ai.nos.internal.manager;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The latencies of the last N calls, for percentiles.
 *
 * <p>Thread-safe and lock-free: a record takes the next slot with one atomic increment and writes
 * it. Every call of a model records here, so a lock would make its callers queue for each other:
 * with 64 callers on 2 cores, one caller preempted while holding it stalled the rest (issue 20
 * item 5: it was the most contended monitor of NOS's own after JavaCPP's). A percentile read
 * while calls record sees some slots of this moment and some of a moment before: a window of
 * recent calls either way.
 */
final class LatencyWindow {
  private final AtomicLongArray ring;
  private final AtomicLong count = new AtomicLong();

  /** @throws IllegalArgumentException if {@code size} is below 1 */
  LatencyWindow(int size) {
    if (size < 1) {
      throw new IllegalArgumentException("a latency window needs >= 1 slot but got " + size);
    }
    ring = new AtomicLongArray(size);
  }

  void record(long nanos) {
    ring.set((int) (count.getAndIncrement() % ring.length()), nanos);
  }

  /** The q-quantile (0..1) of the window in microseconds; 0 when empty. */
  long quantileMicros(double q) {
    int n = (int) Math.min(count.get(), ring.length());
    if (n == 0) {
      return 0;
    }
    long[] copy = new long[n];
    for (int i = 0; i < n; i++) {
      copy[i] = ring.get(i);
    }
    Arrays.sort(copy);
    return copy[(int) Math.min(n - 1, Math.floor(q * n))] / 1000;
  }
}
