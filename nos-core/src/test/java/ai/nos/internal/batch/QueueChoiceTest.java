package ai.nos.internal.batch;

import static ai.nos.internal.batch.QueueChoice.Mode.BATCH;
import static ai.nos.internal.batch.QueueChoice.Mode.CALLER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link QueueChoice}: epochs of measured time per call, a probe of the other mode after the first
 * calls of a change have passed uncounted, the faster kept. Every test uses epochs of 4 calls, so
 * a probe is 2 calls uncounted and 4 counted.
 */
final class QueueChoiceTest {
  /** The time the calls' outputs are ready at. */
  private long now = 1_000_000;

  /** A choice whose epochs are bounded by calls only. */
  private static QueueChoice choice(int epochCalls, int probeEvery) {
    return new QueueChoice(epochCalls, probeEvery, Long.MAX_VALUE);
  }

  /** Records {@code calls} calls of {@code mode}, one every {@code nanos}. */
  private void calls(QueueChoice c, QueueChoice.Mode mode, int calls, long nanos) {
    for (int i = 0; i < calls; i++) {
      now += nanos;
      c.record(mode, now);
    }
  }

  @Test
  void mode_startsBatching_probesCallerAfterOneEpoch_thenEveryProbeEvery() {
    QueueChoice c = choice(4, 3);
    assertEquals(BATCH, c.mode());
    calls(c, BATCH, 3, 1_000);
    assertEquals(BATCH, c.mode(), "the first epoch is not over");
    calls(c, BATCH, 1, 1_000);
    assertEquals(CALLER, c.mode(), "after the first epoch the other mode is probed at once");
    calls(c, CALLER, 6, 1_500);
    assertEquals(BATCH, c.mode(), "it lost");
    calls(c, BATCH, 2 + 8, 1_000); // the two uncounted after the change, two epochs
    assertEquals(BATCH, c.mode(), "two epochs of three: no probe yet");
    calls(c, BATCH, 4, 1_000);
    assertEquals(CALLER, c.mode(), "the third epoch ends: the other mode is probed");
  }

  @Test
  void probe_faster_isKept_andTheOtherProbedInTurn() {
    QueueChoice c = choice(4, 2);
    calls(c, BATCH, 4, 1_000);
    calls(c, CALLER, 6, 600);
    assertEquals(CALLER, c.mode(), "batching served a call every 1,000 ns, the callers 600: kept");
    assertEquals(1, c.switches());
    calls(c, CALLER, 8, 600);
    assertEquals(BATCH, c.mode(), "and batching is probed again in turn");
    calls(c, BATCH, 6, 300);
    assertEquals(BATCH, c.mode(), "the load changed and batching won back");
    assertEquals(2, c.switches());
  }

  @Test
  void probe_beatsTheMeanOfTheKeptEpochs_notJustTheLast() {
    QueueChoice c = choice(4, 3);
    calls(c, CALLER, 1, 0);
    calls(c, BATCH, 4, 1_000);
    calls(c, CALLER, 6, 2_000); // the first probe, lost
    assertEquals(BATCH, c.mode());
    calls(c, BATCH, 2, 1_000); // uncounted after the change
    calls(c, BATCH, 8, 1_000);
    calls(c, BATCH, 4, 400);
    assertEquals(CALLER, c.mode());
    calls(c, CALLER, 6, 700);
    assertEquals(CALLER, c.mode(), "700 ns a call beats the kept mode's 800 on average, though"
        + " its last epoch happened to run at 400");
  }

  /**
   * A heavy model: an epoch of 1,024 calls would last seconds. Past its time bound an epoch with
   * MIN_EPOCH_CALLS calls ends, and settling after a change ends at half the bound.
   */
  @Test
  void epoch_pastItsTimeBound_endsWithTheCallsItHas_andSettlingTooAtHalf() {
    long ms = 1_000_000;
    QueueChoice c = new QueueChoice(1024, 8, 250 * ms);
    calls(c, BATCH, QueueChoice.MIN_EPOCH_CALLS - 1, 50 * ms);
    assertEquals(BATCH, c.mode(), "past the bound but short of the fewest calls an epoch counts");
    calls(c, BATCH, 1, 50 * ms);
    assertEquals(CALLER, c.mode(), "16 calls over 800 ms: the epoch ends, the probe begins");
    // 512 calls would settle; 125 ms (half the bound) settle at most: the calls ending 50 and
    // 100 ms after the change pass uncounted, the one at 150 ms is counted
    calls(c, CALLER, 3, 50 * ms);
    calls(c, CALLER, QueueChoice.MIN_EPOCH_CALLS, 20 * ms);
    assertEquals(CALLER, c.mode(), "20 ms a call against 50: the callers are kept");
    assertEquals(1, c.switches());
  }

  @Test
  void epoch_withinItsTimeBound_countsAllItsCalls() {
    QueueChoice c = new QueueChoice(64, 1, 1_000_000);
    calls(c, BATCH, 63, 10_000); // 620 us after the first call: within the 1 ms bound
    assertEquals(BATCH, c.mode(), "63 of 64 calls within the bound: the epoch goes on");
    calls(c, BATCH, 1, 10_000);
    assertEquals(CALLER, c.mode(), "the 64th call ends it");
  }

  /** A probe far slower than the kept mode ends after a quarter epoch instead of a whole one. */
  @Test
  void probe_clearlyLosing_endsAfterAQuarterEpoch_aFarLoss() {
    QueueChoice c = choice(64, 1);
    calls(c, BATCH, 64, 1_000);
    assertEquals(CALLER, c.mode());
    calls(c, CALLER, 32, 2_000); // settling
    calls(c, CALLER, 15, 2_000);
    assertEquals(CALLER, c.mode(), "15 calls counted: not yet a quarter epoch");
    calls(c, CALLER, 1, 2_000);
    assertEquals(BATCH, c.mode(), "16 calls at twice the cost: the probe ends there");
    calls(c, BATCH, 32 + 64, 1_000);
    assertEquals(CALLER, c.mode());
    calls(c, CALLER, 32 + 16, 2_000);
    assertEquals(BATCH, c.mode());
    assertEquals(2 * 1, c.spacing(), "two far losses in a row space the probes");
  }

  @Test
  void probe_slowerButNotClearly_runsItsWholeEpoch() {
    QueueChoice c = choice(64, 1);
    calls(c, BATCH, 64, 1_000);
    calls(c, CALLER, 32 + 63, 1_300); // 30% slower: a far loss, but under ABORT
    assertEquals(CALLER, c.mode(), "the probe goes on to its epoch's end");
    calls(c, CALLER, 1, 1_300);
    assertEquals(BATCH, c.mode());
  }

  @Test
  void probe_slower_orWithinMargin_goesBack() {
    QueueChoice c = choice(4, 1);
    calls(c, BATCH, 4, 1_000);
    calls(c, CALLER, 6, 1_500);
    assertEquals(BATCH, c.mode(), "a slower probe is dropped");
    calls(c, BATCH, 6, 1_000);
    assertEquals(CALLER, c.mode());
    calls(c, CALLER, 6, 980);
    assertEquals(BATCH, c.mode(), "2% faster is within the margin: noise, not a reason to switch");
    assertEquals(0, c.switches());
  }

  @Test
  void probe_firstCallsAfterTheChange_areNotCounted() {
    QueueChoice c = choice(4, 1);
    calls(c, BATCH, 5, 1_000);
    assertEquals(CALLER, c.mode());
    // The old mode's calls still finishing make the new mode's first calls look quick.
    calls(c, CALLER, 2, 1);
    calls(c, CALLER, 4, 1_000);
    assertEquals(BATCH, c.mode(), "counted, the two quick calls would have won the probe");
    assertEquals(0, c.switches());
  }

  @Test
  void record_ofAModeLeft_isNotCounted() {
    QueueChoice c = choice(4, 1);
    calls(c, BATCH, 5, 1_000);
    assertEquals(CALLER, c.mode());
    // Queued calls that arrived before the probe finish during it, quickly: not the probe's.
    calls(c, BATCH, 6, 1);
    calls(c, CALLER, 6, 2_000);
    assertEquals(BATCH, c.mode(), "the probe ran a call every 2,000 ns and lost");
    assertEquals(0, c.switches());
  }

  /** Keeps CALLER at 500 ns a call: a batching epoch at 1,000, then a caller probe at 500. */
  private QueueChoice callerKept() {
    QueueChoice c = choice(4, 1);
    calls(c, BATCH, 4, 1_000);
    calls(c, CALLER, 6, 500);
    assertEquals(CALLER, c.mode());
    assertEquals(1, c.switches());
    return c;
  }

  /** Runs CALLER epochs at 500 ns until batching is probed; returns how many epochs that took. */
  private int epochsToProbe(QueueChoice c) {
    calls(c, CALLER, 2, 500); // the calls after a probe's end are not counted
    for (int epochs = 1; epochs <= 64; epochs++) {
      calls(c, CALLER, 4, 500);
      if (c.mode() == BATCH) {
        return epochs;
      }
    }
    throw new AssertionError("no probe in 64 epochs: " + c);
  }

  @Test
  void probes_lostFarTwiceRunning_comeLessOften_upToMaxSpacing() {
    QueueChoice c = callerKept();
    calls(c, CALLER, 4, 500);
    assertEquals(BATCH, c.mode(), "the fixed cadence: a probe after one epoch");
    // 40 far losses: past the 31 after which an uncapped shift would turn the spacing negative
    int[] expected = new int[40];
    java.util.Arrays.fill(expected, 4);
    expected[0] = 1;
    expected[1] = 2;
    for (int i = 0; i < expected.length; i++) {
      calls(c, BATCH, 6, 1_000); // twice the kept mode's cost: a far loss
      assertEquals(CALLER, c.mode());
      assertEquals(expected[i], epochsToProbe(c), "epochs before the probe after " + (i + 1)
          + " far losses in a row: " + c);
    }
    assertEquals(QueueChoice.MAX_SPACING, c.spacing());
    calls(c, BATCH, 6, 550); // 10% slower: a loss, not a far one
    assertEquals(CALLER, c.mode());
    assertEquals(1, c.spacing(), "a near loss goes back to the fixed cadence");
    assertEquals(1, epochsToProbe(c));
    assertEquals(1, c.switches(), "no probe won");
  }

  @Test
  void probes_aFarLossAlone_orAWin_keepTheCadence() {
    QueueChoice c = callerKept();
    calls(c, CALLER, 4, 500);
    calls(c, BATCH, 6, 1_000); // far loss, one
    assertEquals(1, epochsToProbe(c), "one far loss (a cold path) does not space the probes");
    calls(c, BATCH, 6, 1_000); // two: spaced
    assertEquals(2, epochsToProbe(c));
    calls(c, BATCH, 6, 200); // batching wins
    assertEquals(BATCH, c.mode());
    assertEquals(2, c.switches());
    assertEquals(1, c.spacing(), "a won probe goes back to the fixed cadence");
  }

  @Test
  void new_badSettings_throwNamingThem() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> choice(0, 8));
    assertTrue(e.getMessage().contains("epochCalls=0"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> choice(8, 0));
    assertTrue(e.getMessage().contains("probeEvery=0"), e.getMessage());
  }
}
