package ai.nos.internal.batch;

/**
 * A snapshot of a {@link DynamicBatcher}'s counters since it started. Every submitted request
 * ends under exactly one outcome, so once the queue is empty and no batch is running,
 * {@code submitted == completed + failed + rejected + expired + cancelled}. The counters are read
 * one after another, not atomically together, so a snapshot taken under traffic may be off by the
 * requests that moved meanwhile.
 *
 * <p>Immutable and thread-safe.
 */
public final class BatcherStats {

  /** Buckets of {@link #batchSizeHistogram()}: sizes 1, 2-3, 4-7, ..., 2^30 and up. */
  public static final int HISTOGRAM_BUCKETS = 31;

  private final long submitted;
  private final long completed;
  private final long failed;
  private final long rejected;
  private final long expired;
  private final long cancelled;
  private final long batches;
  private final long rows;
  private final long retries;
  private final int queued;
  private final long[] histogram;

  BatcherStats(long[] outcomes, long batches, long rows, long retries, int queued,
      long[] histogram) {
    this.submitted = outcomes[0];
    this.completed = outcomes[1];
    this.failed = outcomes[2];
    this.rejected = outcomes[3];
    this.expired = outcomes[4];
    this.cancelled = outcomes[5];
    this.batches = batches;
    this.rows = rows;
    this.retries = retries;
    this.queued = queued;
    this.histogram = histogram.clone();
  }

  /** Requests submitted, including those then rejected or expired at once. */
  public long submitted() {
    return submitted;
  }

  /** Requests whose future the batcher completed with outputs. */
  public long completed() {
    return completed;
  }

  /** Requests that failed: the model failed on them, or the batcher closed before they ran. */
  public long failed() {
    return failed;
  }

  /** Requests refused because the queue was full. */
  public long rejected() {
    return rejected;
  }

  /** Requests dropped because their deadline passed before they ran. */
  public long expired() {
    return expired;
  }

  /** Requests whose caller cancelled (or itself completed) the future first. */
  public long cancelled() {
    return cancelled;
  }

  /** Calls of the runner, each on one batch, including the retries. */
  public long batches() {
    return batches;
  }

  /** Rows of all the batches run, the requests' own (not the padding rows up to a bucket). */
  public long rows() {
    return rows;
  }

  /** Calls of the runner on one request alone, after a batch holding it failed. */
  public long retries() {
    return retries;
  }

  /** Requests waiting in the queue when the snapshot was taken. */
  public int queued() {
    return queued;
  }

  /** Rows per batch on average; 0 before the first batch. */
  public double meanBatchSize() {
    return batches == 0 ? 0 : (double) rows / batches;
  }

  /**
   * Batches run by size: element {@code i} counts batches of {@code 2^i} to {@code 2^(i+1) - 1}
   * rows. A copy, {@value #HISTOGRAM_BUCKETS} long.
   */
  public long[] batchSizeHistogram() {
    return histogram.clone();
  }

  @Override
  public String toString() {
    return "BatcherStats{submitted=" + submitted + ", completed=" + completed + ", failed="
        + failed + ", rejected=" + rejected + ", expired=" + expired + ", cancelled=" + cancelled
        + ", batches=" + batches + ", rows=" + rows + ", retries=" + retries + ", queued="
        + queued + "}";
  }
}
