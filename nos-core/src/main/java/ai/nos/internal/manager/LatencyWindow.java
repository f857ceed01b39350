package ai.nos.internal.manager;

import java.util.Arrays;

/** The latencies of the last N calls, for percentiles. Thread-safe; one short lock per record. */
final class LatencyWindow {
  private final long[] ring;
  private long count;

  LatencyWindow(int size) {
    ring = new long[size];
  }

  synchronized void record(long nanos) {
    ring[(int) (count++ % ring.length)] = nanos;
  }

  /** The q-quantile (0..1) of the window in microseconds; 0 when empty. */
  long quantileMicros(double q) {
    long[] copy;
    synchronized (this) {
      copy = Arrays.copyOf(ring, (int) Math.min(count, ring.length));
    }
    if (copy.length == 0) {
      return 0;
    }
    Arrays.sort(copy);
    return copy[(int) Math.min(copy.length - 1, Math.floor(q * copy.length))] / 1000;
  }
}
