package ai.nos.internal.batch;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/** The live counters behind {@link BatcherStats}; updated from any thread without locking. */
final class Counters {
  final LongAdder submitted = new LongAdder();
  final LongAdder completed = new LongAdder();
  final LongAdder failed = new LongAdder();
  final LongAdder rejected = new LongAdder();
  final LongAdder expired = new LongAdder();
  final LongAdder cancelled = new LongAdder();
  final LongAdder batches = new LongAdder();
  final LongAdder rows = new LongAdder();
  final LongAdder retries = new LongAdder();
  private final AtomicLongArray histogram =
      new AtomicLongArray(BatcherStats.HISTOGRAM_BUCKETS);

  /** Counts a call of the runner on {@code size} rows. */
  void batch(int size) {
    batches.increment();
    rows.add(size);
    histogram.incrementAndGet(31 - Integer.numberOfLeadingZeros(size));
  }

  BatcherStats snapshot(int queued) {
    long[] buckets = new long[histogram.length()];
    for (int i = 0; i < buckets.length; i++) {
      buckets[i] = histogram.get(i);
    }
    long[] outcomes = new long[6];
    outcomes[1] = completed.sum();
    outcomes[2] = failed.sum();
    outcomes[3] = rejected.sum();
    outcomes[4] = expired.sum();
    outcomes[5] = cancelled.sum();
    // Read last, so that no outcome is counted for a request the snapshot did not see submitted.
    outcomes[0] = submitted.sum();
    return new BatcherStats(outcomes, batches.sum(), rows.sum(), retries.sum(), queued, buckets);
  }
}
