package ai.nos.generate;

/**
 * Where a generator's time went: counts and wall times of its scheduler's steps since it was
 * built (with a manager, of the engines loaded now: a reload starts at 0). Take two snapshots
 * and {@link #minus} them to see one piece of work. Immutable; a snapshot is consistent (the
 * scheduler publishes a new one after each step).
 *
 * <p>How the times are taken (all on the scheduler thread, so prefills and decode steps add up
 * to its busy time; {@code launchNanos} is a part of the steps' time that, pipelined, overlaps
 * the step before):
 * <ul>
 *   <li>an admission's prefill ({@code prefillNanos}) runs from packing the admitted prompts to
 *       their first tokens on the host; for an encoder-decoder model it includes
 *       {@code encodeNanos}: the inputs' transfer, their features (PCM input), the encoder and
 *       the decoder's {@code cross_kv}; on a CUDA device the device's time from the transfer's
 *       start to {@code cross_kv}'s end (two CUDA events: the prefill's decoder step is queued
 *       behind the encoder, not after waiting for it), on the CPU their wall time;
 *   <li>a decode step ({@code decodeNanos}) runs from packing its rows to its ids on the host;
 *       {@code decodeWaitNanos} is the part spent waiting for those ids after everything was
 *       queued: the device's work the host did not overlap. A step whose wait is most of its
 *       time is bound by the device (its kernels); one whose wait is small is bound by the host
 *       (packing, copies, launches). {@code launchNanos} is the host's time queuing the steps
 *       (packing, uploads, the replay, the sampler's launches, the copy back); with pipelined
 *       steps ({@code aheadSteps}: launched before the step before them was read) that time
 *       runs while the device computes, so a step's wall time approaches the device's.
 * </ul>
 *
 * @param prefills admissions run (each a prefill of one or more requests)
 * @param prefillSequences requests admitted by them
 * @param encoderInputs encoder inputs (30 s windows) run by them; 0 for a decoder-only model
 * @param prefillNanos wall time of the prefills, encoding included
 * @param encodeNanos of which encoding (transfer, features, encoder, cross_kv)
 * @param decodeSteps decode steps run
 * @param graphSteps of which replayed a CUDA graph (the others ran eagerly)
 * @param decodeRows sequences served by the decode steps, summed over steps
 * @param paddingRows padding rows the steps ran to fill a bucket, summed over steps
 * @param maxRows the most sequences one decode step served
 * @param decodeNanos wall time of the decode steps
 * @param decodeWaitNanos of which waiting for the step's ids from the device
 * @param aheadSteps decode steps launched before the step before them was read (pipelined)
 * @param launchNanos host time queuing the decode steps (see above)
 */
public record GenerationStats(long prefills, long prefillSequences, long encoderInputs,
    long prefillNanos, long encodeNanos, long decodeSteps, long graphSteps, long decodeRows,
    long paddingRows, long maxRows, long decodeNanos, long decodeWaitNanos, long aheadSteps,
    long launchNanos) {

  /** Nothing run yet. */
  public static final GenerationStats NONE = new GenerationStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0);

  /**
   * What ran between {@code before} (an earlier snapshot of the same generator) and this one;
   * {@link #maxRows()} stays this snapshot's (a maximum does not subtract).
   */
  public GenerationStats minus(GenerationStats before) {
    return new GenerationStats(prefills - before.prefills,
        prefillSequences - before.prefillSequences, encoderInputs - before.encoderInputs,
        prefillNanos - before.prefillNanos, encodeNanos - before.encodeNanos,
        decodeSteps - before.decodeSteps, graphSteps - before.graphSteps,
        decodeRows - before.decodeRows, paddingRows - before.paddingRows, maxRows,
        decodeNanos - before.decodeNanos, decodeWaitNanos - before.decodeWaitNanos,
        aheadSteps - before.aheadSteps, launchNanos - before.launchNanos);
  }

  /** The sum of two generators' (or replicas') snapshots; the larger {@link #maxRows()}. */
  public GenerationStats plus(GenerationStats other) {
    return new GenerationStats(prefills + other.prefills,
        prefillSequences + other.prefillSequences, encoderInputs + other.encoderInputs,
        prefillNanos + other.prefillNanos, encodeNanos + other.encodeNanos,
        decodeSteps + other.decodeSteps, graphSteps + other.graphSteps,
        decodeRows + other.decodeRows, paddingRows + other.paddingRows,
        Math.max(maxRows, other.maxRows), decodeNanos + other.decodeNanos,
        decodeWaitNanos + other.decodeWaitNanos, aheadSteps + other.aheadSteps,
        launchNanos + other.launchNanos);
  }

  /** Milliseconds of wall time per decode step; 0 without steps. */
  public double msPerDecodeStep() {
    return decodeSteps == 0 ? 0 : decodeNanos / 1e6 / decodeSteps;
  }

  /** Sequences per decode step, on average; 0 without steps. */
  public double rowsPerDecodeStep() {
    return decodeSteps == 0 ? 0 : (double) decodeRows / decodeSteps;
  }

  /**
   * One line for logs and benchmarks: {@code prefills=.. windows=.. prefill_ms=.. encode_ms=..
   * decode_steps=.. graph_steps=.. eager_steps=.. rows_per_step=.. max_rows=.. padding_rows=..
   * decode_ms=.. ms_per_step=.. wait_ms_per_step=.. ahead_steps=.. launch_ms_per_step=..}.
   */
  public String summary() {
    return String.format(java.util.Locale.ROOT, "prefills=%d sequences=%d windows=%d"
        + " prefill_ms=%.1f encode_ms=%.1f decode_steps=%d graph_steps=%d eager_steps=%d"
        + " rows_per_step=%.1f max_rows=%d padding_rows=%d decode_ms=%.1f ms_per_step=%.3f"
        + " wait_ms_per_step=%.3f ahead_steps=%d launch_ms_per_step=%.3f", prefills,
        prefillSequences, encoderInputs,
        prefillNanos / 1e6, encodeNanos / 1e6, decodeSteps, graphSteps, decodeSteps - graphSteps,
        rowsPerDecodeStep(), maxRows, paddingRows, decodeNanos / 1e6, msPerDecodeStep(),
        decodeSteps == 0 ? 0 : decodeWaitNanos / 1e6 / decodeSteps, aheadSteps,
        decodeSteps == 0 ? 0 : launchNanos / 1e6 / decodeSteps);
  }
}
