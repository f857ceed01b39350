package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.ScalingPolicy;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The scaling decision as a function of signals over ticks, without a manager. */
final class ScalerTest {
  static final long S = 1_000_000_000L;

  @Test
  void queueDepth_recommendsCeilOfOutstandingOverTarget() {
    ScalingPolicy p = ScalingPolicy.queueDepth(1, 8, 4);
    assertEquals(0, Scaler.recommend(p, 1, 0, 0, false));
    assertEquals(1, Scaler.recommend(p, 1, 4, 0, false));
    assertEquals(2, Scaler.recommend(p, 1, 5, 0, false));
    assertEquals(3, Scaler.recommend(p, 2, 12, 0, false));
  }

  @Test
  void p99_scalesCopiesByLatencyOverBound_quietTickWantsNone() {
    ScalingPolicy p = ScalingPolicy.p99Latency(1, 8, Duration.ofMillis(10));
    assertEquals(4, Scaler.recommend(p, 2, 0, 20_000, false), "2 copies at twice the bound");
    assertEquals(1, Scaler.recommend(p, 2, 0, 4_000, false));
    assertEquals(0, Scaler.recommend(p, 2, 0, 50_000, true));
  }

  @Test
  void stepUp_isImmediate_cappedAtMax_stepDownWaitsForTheWholeWindow() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 3, 4).window(Duration.ofSeconds(30)));
    assertEquals(1, s.tick(0, 1, 0, 0, 0).wanted());
    Scaler.Decision up = s.tick(S, 1, 40, 0, 0);
    assertEquals(3, up.wanted());
    assertTrue(up.changed());
    assertTrue(up.reason().contains("capped at maxReplicas 3"), up.reason());
    for (long t = 2; t <= 31; t++) {
      assertEquals(3, s.tick(t * S, 3, 0, 0, 0).wanted(), "the window still holds the step at "
          + t + " s");
    }
    Scaler.Decision down = s.tick(32 * S, 3, 0, 0, 0);
    assertEquals(1, down.wanted());
    assertTrue(down.reason().startsWith("at most 0 copies needed for 30000 ms"), down.reason());
  }

  @Test
  void stepDown_goesToTheLargestNeedOfTheWindow_notBelowMin() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(2, 6, 1).window(Duration.ofSeconds(10)));
    s.tick(0, 6, 6, 0, 0);
    s.tick(5 * S, 6, 4, 0, 0);
    assertEquals(6, s.tick(10 * S, 6, 0, 0, 0).wanted(), "6 was needed 10 s ago");
    assertEquals(6, s.tick(11 * S, 6, 0, 0, 0).wanted(), "the 6 of 0 s held until 5 s");
    assertEquals(4, s.tick(15 * S, 6, 0, 0, 0).wanted(), "4 was needed from 5 s to 10 s");
    assertEquals(4, s.tick(19 * S, 4, 0, 0, 0).wanted(), "4 was needed 9 s ago");
    assertEquals(2, s.tick(21 * S, 4, 0, 0, 0).wanted(), "never below minReplicas");
  }

  @Test
  void spikeShorterThanTheUpWindow_addsNothing_aSustainedStepDoes() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).upWindow(Duration.ofSeconds(5)));
    for (long t = 0; t <= 5; t++) {
      assertEquals(1, s.tick(t * S, 1, 0, 0, 0).wanted());
    }
    assertFalse(s.tick(6 * S, 1, 16, 0, 0).changed());
    assertFalse(s.tick(7 * S, 1, 16, 0, 0).changed());
    for (long t = 8; t <= 15; t++) {
      assertEquals(1, s.tick(t * S, 1, 0, 0, 0).wanted(), "spike over at " + t + " s");
    }
    for (long t = 16; t < 21; t++) {
      assertEquals(1, s.tick(t * S, 1, 16, 0, 0).wanted(), "step not yet 5 s old at " + t);
    }
    assertEquals(4, s.tick(21 * S, 1, 16, 0, 0).wanted());
  }

  @Test
  void outsideTheBounds_comesBackWithin() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(2, 3, 4));
    assertEquals(2, s.tick(0, 1, 0, 0, 0).wanted());
    assertEquals(3, s.tick(S, 5, 0, 0, 0).wanted());
  }

  /**
   * The 2026-12-03 GPU run: the loop ticked at 20 s with 16 calls outstanding on 4 copies, then
   * spent 20 s loading copies; its first tick after (4 calls outstanding) must not scale down at
   * once, as if the 5 s window had been quiet: the 20 s sample held until then.
   */
  @Test
  void gapBetweenTicks_isNotAQuietWindow_theLastSampleHoldsUntilTheNext() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(5)));
    s.tick(0, 4, 16, 0, 0);
    Scaler.Decision after = s.tick(20 * S, 4, 4, 0, 0);
    assertEquals(4, after.wanted(), after.reason());
    assertFalse(after.changed());
    assertEquals(4, s.tick(24 * S, 4, 4, 0, 0).wanted(), "the window has seen 4 s of the drop");
    assertEquals(1, s.tick(25 * S, 4, 4, 0, 0).wanted(), "5 s of the drop");
  }

  @Test
  void room_capsAScaleUp_oneAtATimeOnASharedDevice_noneWithoutRoom() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4));
    Scaler.Decision one = s.tick(signals(0, 1, 16, 0), null, 1);
    assertEquals(2, one.wanted());
    assertTrue(one.reason().contains("1 at a time: the next copy shares a device"), one.reason());
    Scaler.Decision none = s.tick(signals(S, 1, 16, 0), null, 0);
    assertEquals(1, none.wanted());
    assertFalse(none.changed());
    assertTrue(none.reason().contains("held at 1: every device it may use holds a copy"),
        none.reason());
    assertEquals(4, s.tick(signals(2 * S, 1, 16, 0), null, 3).wanted(), "3 free devices");
  }

  /** Ticks one second apart; {@code perSecond} calls complete in each. */
  static final class Traffic {
    final Scaler scaler;
    long t;
    long requests;

    Traffic(Scaler scaler) {
      this.scaler = scaler;
    }

    Scaler.Decision second(int current, long outstanding, long perSecond,
        Scaler.TrialCopy trial, int room) {
      t++;
      requests += perSecond;
      return scaler.tick(signals(t * S, current, outstanding, requests), trial, room);
    }
  }

  static Scaler.Signals signals(long now, int current, long outstanding, long requests) {
    return new Scaler.Signals(now, current, outstanding, 0, requests);
  }

  @Test
  void trial_flatThroughput_retiresTheCopy_andBacksTheDeviceOff() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(5)));
    Traffic traffic = new Traffic(s);
    for (int i = 0; i < 3; i++) {
      assertEquals(1, traffic.second(1, 2, 5000, null, 1).wanted(), "light traffic");
    }
    assertEquals(2, traffic.second(1, 16, 5000, null, 1).wanted(), "16 calls: one more copy");
    s.trialBooked(Device.cuda(0), 1);
    assertTrue(s.inTrial());
    Scaler.Decision loading = traffic.second(2, 16, 5000, Scaler.TrialCopy.LOADING, 1);
    assertEquals(2, loading.wanted());
    assertTrue(loading.reason().contains("trying another copy on cuda:0"), loading.reason());
    assertEquals(Scaler.Verdict.NONE,
        traffic.second(2, 16, 5000, Scaler.TrialCopy.SERVING, 1).verdict(),
        "ready: the calls since the last tick were served without it");
    for (int i = 0; i < 4; i++) {
      Scaler.Decision d = traffic.second(2, 16, 4400, Scaler.TrialCopy.SERVING, 1);
      assertEquals(2, d.wanted(), "measuring, second " + i);
      assertEquals(Scaler.Verdict.NONE, d.verdict());
    }
    Scaler.Decision verdict = traffic.second(2, 16, 4400, Scaler.TrialCopy.SERVING, 1);
    assertEquals(Scaler.Verdict.RETIRE, verdict.verdict());
    assertEquals(1, verdict.wanted());
    assertTrue(verdict.changed());
    assertTrue(verdict.reason().startsWith("another copy on cuda:0 did not help: 2 copies: 4400"
        + " calls/s, 3.64 ms each; 1 before: 5000 calls/s, 3.20 ms each (needs 10% more"
        + " calls/s or less time each); none tried there for 50000 ms or until 32.0 calls are"
        + " outstanding"), verdict.reason());
    assertFalse(s.inTrial());
    assertFalse(s.mayShare(Device.cuda(0), traffic.t * S, 16));
    assertTrue(s.mayShare(Device.cuda(1), traffic.t * S, 16), "only the device tried");
  }

  @Test
  void trial_throughputUp_keepsTheCopy_andTheNextMayBeTried() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(3)));
    Traffic traffic = new Traffic(s);
    traffic.second(1, 16, 1000, null, 1);
    assertEquals(2, traffic.second(1, 16, 1000, null, 1).wanted());
    s.trialBooked(Device.cpu(), 1);
    traffic.second(2, 16, 1000, Scaler.TrialCopy.SERVING, 1);
    for (int i = 0; i < 2; i++) {
      assertEquals(Scaler.Verdict.NONE,
          traffic.second(2, 16, 1150, Scaler.TrialCopy.SERVING, 1).verdict());
    }
    Scaler.Decision kept = traffic.second(2, 16, 1150, Scaler.TrialCopy.SERVING, 1);
    assertEquals(Scaler.Verdict.KEEP, kept.verdict());
    assertEquals(2, kept.wanted());
    assertTrue(kept.reason().startsWith("kept the copy on cpu, it helps: 2 copies: 1150 calls/s"),
        kept.reason());
    assertTrue(s.mayShare(Device.cpu(), traffic.t * S, 16));
    assertEquals(3, traffic.second(2, 16, 1150, null, 1).wanted(), "the next step");
  }

  @Test
  void trial_sameCallsShorterWaits_keepsTheCopy() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(2)));
    Traffic traffic = new Traffic(s);
    traffic.second(1, 12, 1000, null, 1);
    traffic.second(1, 12, 1000, null, 1);
    s.trialBooked(Device.cpu(), 1);
    traffic.second(2, 12, 1000, Scaler.TrialCopy.SERVING, 1);
    assertEquals(Scaler.Verdict.NONE,
        traffic.second(2, 6, 1000, Scaler.TrialCopy.SERVING, 1).verdict());
    Scaler.Decision kept = traffic.second(2, 6, 1000, Scaler.TrialCopy.SERVING, 1);
    assertEquals(Scaler.Verdict.KEEP, kept.verdict(), "half the wait at the same rate: "
        + kept.reason());
  }

  @Test
  void backoff_endsAfterItsWindows_orWhenTheLoadDoubles() {
    Scaler s = failedTrial();
    long failedAt = 7 * S;
    assertFalse(s.mayShare(Device.cpu(), failedAt + 49 * S, 31));
    assertTrue(s.mayShare(Device.cpu(), failedAt + 1, 32), "twice the 16 calls of the trial");
    Scaler t = failedTrial();
    assertFalse(t.mayShare(Device.cpu(), failedAt + 49 * S, 16));
    assertTrue(t.mayShare(Device.cpu(), failedAt + 50 * S, 16), "10 windows of 5 s");
  }

  /** A scaler whose trial on the CPU failed at 7 s with 16 calls outstanding. */
  static Scaler failedTrial() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(5)));
    Traffic traffic = new Traffic(s);
    traffic.second(1, 16, 100, null, 1);
    s.trialBooked(Device.cpu(), 1);
    Scaler.Decision d;
    do {
      d = traffic.second(2, 16, 100, Scaler.TrialCopy.SERVING, 1);
    } while (d.verdict() == Scaler.Verdict.NONE);
    assertEquals(Scaler.Verdict.RETIRE, d.verdict());
    assertEquals(7, traffic.t, "ready at 2 s, judged 5 s later");
    return s;
  }

  @Test
  void trial_copyGone_endsTheTrialWithoutAVerdict() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(5)));
    Traffic traffic = new Traffic(s);
    traffic.second(1, 16, 100, null, 1);
    s.trialBooked(Device.cpu(), 1);
    traffic.second(2, 16, 100, Scaler.TrialCopy.LOADING, 1);
    Scaler.Decision d = traffic.second(1, 16, 100, Scaler.TrialCopy.GONE, 1);
    assertEquals(Scaler.Verdict.NONE, d.verdict());
    assertFalse(s.inTrial());
    assertTrue(s.mayShare(Device.cpu(), traffic.t * S, 16), "no back-off without a verdict");
  }

  /** Traffic that fell during the trial is not the copy's harm: no tick to judge it by. */
  @Test
  void trial_loadFellBelowWhatAskedForIt_keepsTheCopyUntested_noBackoff() {
    Scaler s = new Scaler(ScalingPolicy.queueDepth(1, 4, 4).window(Duration.ofSeconds(2)));
    Traffic traffic = new Traffic(s);
    traffic.second(1, 16, 5000, null, 1);
    s.trialBooked(Device.cpu(), 1);
    traffic.second(2, 16, 5000, Scaler.TrialCopy.SERVING, 1);
    traffic.second(2, 4, 1200, Scaler.TrialCopy.SERVING, 1);
    Scaler.Decision d = traffic.second(2, 4, 1200, Scaler.TrialCopy.SERVING, 1);
    assertEquals(Scaler.Verdict.KEEP, d.verdict());
    assertTrue(d.reason().startsWith("kept the copy on cpu untested: no tick in the 2000 ms"
        + " after it asked for more than 1 copies"), d.reason());
    assertTrue(s.mayShare(Device.cpu(), traffic.t * S, 4));
  }
}
