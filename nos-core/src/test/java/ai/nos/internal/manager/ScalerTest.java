package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
    assertEquals(4, s.tick(11 * S, 6, 0, 0, 0).wanted(), "4 was needed 6 s ago");
    assertEquals(2, s.tick(16 * S, 4, 0, 0, 0).wanted(), "never below minReplicas");
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
}
