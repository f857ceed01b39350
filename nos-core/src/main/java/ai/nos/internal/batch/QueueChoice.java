package ai.nos.internal.batch;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a batcher's synchronous callers queue for batches or run their calls on their own
 * threads, chosen by measuring what each costs them (see the batcher's "Skipping the queue").
 *
 * <p>{@link Mode#BATCH} is the batcher as designed: a call runs on its caller only when it would
 * wait alone with a worker slot free, otherwise it queues. {@link Mode#CALLER} runs every
 * synchronous call on its caller, as a copy without batching does. Which is faster depends on the
 * model (how much cheaper a row is in a batch), the machine (what two thread wake-ups per queued
 * call cost) and the load, none of which the batcher knows, so it measures the time between
 * calls' outputs (the inverse of the throughput) over epochs of {@code epochCalls} calls. Not the
 * calls' latency: a queued call's latency as the batcher sees it ends when a worker completes it,
 * before its caller's thread wakes, so it leaves out the very hand-off that batching costs on the
 * CPU; the throughput pays for it, since a closed-loop caller calls again only once awake (the
 * digit CNN at 8 callers: latency said batching paid, throughput that it did not). The choice
 * runs its mode, and after every {@code probeEvery} epochs runs one epoch of the other mode, a
 * probe, and keeps it if it was faster than the kept mode's epochs since the last probe (by
 * {@link #MARGIN}, so noise does not flip it back and forth). After each change of mode the first
 * {@code epochCalls / 2} calls of the new mode are not counted: right after a change the calls
 * the old mode still holds finish alongside the new mode's, which would be measured with a load
 * it does not carry. Open-loop callers below capacity get the same throughput either way: the
 * probe does not win by the margin and the kept mode stays. A probe of the worse mode costs at
 * most 1.5 epochs in {@code probeEvery + 1.5}: 2.5-3.8% of the throughput of the digit CNN at 8
 * and 64 callers on the 2-core VM, the larger part of batching's loss to plain calls at 8.
 * Backing off (each lost probe doubling the wait for the next, up to 8 times) cut that to
 * 0.1-1.8% but made a wrong early choice stick: at 64 callers a probe of batching run while its
 * path was still cold lost, and CALLER stayed for whole forks (eleventh session,
 * benchmarks/logs/2026-12-03/eleventh/cpu/batch8). Yet where the other mode is far slower a
 * fixed cadence costs more: with libtorch's 2 intra-op threads at 8 callers (nineteenth session,
 * the same VM) CALLER ran a call every 48-68 us and every batching probe 91-120 us, so 1.5 epochs
 * in 9.5 ran at about twice the cost, some 10% of the throughput (batching 0.77x plain calls in
 * the eighteenth session's table). So probes are spaced, but only after
 * {@link #FAR_LOSSES_TO_SPACE} probes in a row lost by more than {@link #FAR} (a cold path loses
 * once, not twice running: each probe warms it further), doubling per further far loss up to
 * {@link #MAX_SPACING} times the cadence (32 epochs of 1024 calls, 1-2 s at those rates, so a
 * wrong choice is revisited within seconds); a probe that wins, or loses by less, goes back to
 * the fixed cadence.
 *
 * <p>The first minute. The choice starts in BATCH and probes CALLER after its first epoch, not
 * after {@code probeEvery}: before, a batcher whose callers were faster on their own threads ran
 * 8 epochs of batching first (about a second for the digit CNN at 8 callers with 2 intra-op
 * threads, where batching costs twice as much), which a JMH fork with one warm-up second still
 * measured (batching 0.64x plain calls in the twentieth session's table). And an epoch counts
 * calls, so for a heavy model (tens of milliseconds a call on the CPU) 1,024 calls were tens of
 * seconds in a mode that may be the slow one: an epoch also ends after {@code epochNanos} once it
 * has {@link #MIN_EPOCH_CALLS} calls, and settling after a change after half of that, so the
 * choice settles within about a second whatever a call costs. A probe more than {@link #ABORT}
 * slower than the kept mode after a quarter of its epoch ends there, a far loss: the path not
 * taken is cold (its JIT work undone, its threads parked), so a probe of it often runs at 2-4x
 * the kept mode's cost at first (the digit CNN at 8 callers with 2 intra-op threads: 173-213 us a
 * call batched against 45 on the callers), and before the probes are spaced out each such probe
 * cost a quarter of the time between probes.
 *
 * <p>Thread-safe: {@link #mode} is a volatile read on every call; {@link #record} is synchronized
 * (one short critical section per call). A call measured in a mode the choice has left since it
 * started is not counted, so an epoch averages only calls of its own mode.
 */
final class QueueChoice {
  private static final Logger LOG = LoggerFactory.getLogger(QueueChoice.class);
  /** How much faster a probe must be to be kept. */
  static final double MARGIN = 0.05;
  /** How much slower than the kept mode a probe must be to count as a far loss. */
  static final double FAR = 0.25;
  /** How much slower than the kept mode a probe cut short after a quarter epoch must be. */
  static final double ABORT = 0.5;
  /** Far losses in a row before probes are spaced out. */
  static final int FAR_LOSSES_TO_SPACE = 2;
  /** The most the probes' spacing multiplies {@code probeEvery} by. */
  static final int MAX_SPACING = 4;
  /** The fewest calls an epoch cut short by its time bound counts. */
  static final int MIN_EPOCH_CALLS = 16;

  enum Mode {
    BATCH, CALLER
  }

  private final int epochCalls;
  private final int probeEvery;
  private final long epochNanos;
  /** The mode calls get now: the chosen one, or the other during a probe. */
  private volatile Mode current = Mode.BATCH;
  /** The mode kept between probes. */
  private Mode chosen = Mode.BATCH;
  private boolean probing;
  /** The chosen mode's epochs since the last probe. */
  private int epochs;
  /**
   * The nanoseconds per call in the chosen mode over its epochs since the last probe (their
   * mean: one epoch alone swings by half on a shared machine), for the probe to beat.
   */
  private double chosenMean = Double.NaN;
  private double chosenSum;
  /** When the epoch began, and the calls counted in it. */
  private long start;
  private int calls;
  /** When the latest call recorded, of either mode, ended; none before the first. */
  private long last;
  private boolean seen;
  /** Calls of the current mode still to let pass uncounted after a change of mode. */
  private int settling;
  /** When the mode last changed (settling ends epochNanos / 2 after it at the latest). */
  private long changed;
  /** Whether a probe has ended: the first comes after one epoch, the next every probeEvery. */
  private boolean probed;
  private long switches;
  /** Probes lost by more than FAR in a row (see the class notes). */
  private int farLosses;

  /**
   * @param epochCalls the calls an epoch counts
   * @param probeEvery the kept mode's epochs between two probes (the first probe comes after
   *     one)
   * @param epochNanos how long an epoch lasts at most once it has counted
   *     {@link #MIN_EPOCH_CALLS} calls (or {@code epochCalls}, if fewer), though it counted fewer
   *     than {@code epochCalls}; settling after a change lasts at most half of it
   * @throws IllegalArgumentException if {@code epochCalls}, {@code probeEvery} or
   *     {@code epochNanos} is below 1
   */
  QueueChoice(int epochCalls, int probeEvery, long epochNanos) {
    if (epochCalls < 1 || probeEvery < 1 || epochNanos < 1) {
      throw new IllegalArgumentException("an epoch needs >= 1 call and >= 1 ns and probes come"
          + " every >= 1 epoch but got epochCalls=" + epochCalls + ", probeEvery=" + probeEvery
          + ", epochNanos=" + epochNanos);
    }
    this.epochCalls = epochCalls;
    this.probeEvery = probeEvery;
    this.epochNanos = epochNanos;
  }

  /** The mode a call arriving now gets. */
  Mode mode() {
    return current;
  }

  /**
   * Counts a call that arrived in {@code mode} and whose outputs were ready at {@code nowNanos},
   * on a clock that never goes backwards.
   */
  synchronized void record(Mode mode, long nowNanos) {
    long previous = seen ? last : nowNanos;
    seen = true;
    last = nowNanos;
    if (mode != current) {
      return;
    }
    if (settling > 0 && nowNanos - changed < epochNanos / 2) {
      settling--;
      return;
    }
    settling = 0;
    if (calls == 0) {
      // The epoch begins where the last call before it ended.
      start = previous;
    }
    if (++calls < epochCalls
        && (calls < Math.min(MIN_EPOCH_CALLS, epochCalls) || nowNanos - start < epochNanos)
        && !(probing && clearlyLosing(nowNanos))) {
      return;
    }
    double mean = (double) Math.max(0, nowNanos - start) / calls;
    calls = 0;
    LOG.trace("epoch of {}{}: {} ns a call", current, probing ? " (probe)" : "", (long) mean);
    if (probing) {
      probing = false;
      probed = true;
      LOG.debug("probe of {}: {} ns a call against {}'s {} ns", current, (long) mean, chosen,
          (long) chosenMean);
      if (mean < chosenMean * (1 - MARGIN)) {
        chosen = current;
        switches++;
        farLosses = 0;
      } else if (mean > chosenMean * (1 + FAR)) {
        farLosses++;
      } else {
        farLosses = 0;
      }
      chosenMean = chosen == current ? mean : chosenMean;
      chosenSum = 0;
      epochs = 0;
      settling = chosen == current ? 0 : epochCalls / 2;
      changed = nowNanos;
      current = chosen;
      return;
    }
    chosenSum += mean;
    chosenMean = chosenSum / ++epochs;
    if (epochs >= (probed ? (long) probeEvery * spacing() : 1)) {
      probing = true;
      settling = epochCalls / 2;
      changed = nowNanos;
      current = chosen == Mode.BATCH ? Mode.CALLER : Mode.BATCH;
    }
  }

  /**
   * Whether the probe under way has counted a quarter epoch (at least MIN_EPOCH_CALLS) at more
   * than {@link #ABORT} slower than the kept mode: it ends there, a far loss, instead of running
   * the rest of its epoch at that cost.
   */
  private boolean clearlyLosing(long nowNanos) {
    return calls >= Math.min(epochCalls, Math.max(MIN_EPOCH_CALLS, epochCalls / 4))
        && (double) (nowNanos - start) / calls > chosenMean * (1 + ABORT);
  }

  /** What probeEvery is multiplied by now: 1 until far losses in a row space the probes. */
  synchronized int spacing() {
    // the shift capped: a run of far losses hours long must not overflow it to a negative spacing
    return farLosses < FAR_LOSSES_TO_SPACE ? 1
        : Math.min(MAX_SPACING, 1 << Math.min(farLosses - FAR_LOSSES_TO_SPACE + 1, 30));
  }

  /** How many probes won (the times the kept mode changed). */
  synchronized long switches() {
    return switches;
  }

  @Override
  public synchronized String toString() {
    return "QueueChoice{" + chosen + (probing ? ", probing " + current : "") + ", last mean "
        + (long) chosenMean + " ns, probes every " + probeEvery * spacing() + " epochs}";
  }
}
