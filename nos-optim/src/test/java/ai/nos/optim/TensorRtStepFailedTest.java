package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The TensorRT step's memory of failed builds: bounded, so that a long-running application trying
 * many distinct failing builds does not grow it without end, while the most recent failures are
 * still answered at once. Runs without TensorRT: the memory is reached directly.
 */
final class TensorRtStepFailedTest {

  @Test
  void remember_manyDistinctKeys_staysBoundedAndKeepsTheMostRecent() {
    int n = TensorRtStep.MAX_REMEMBERED_FAILURES * 4;
    for (int i = 0; i < n; i++) {
      TensorRtStep.remember("failed-test-key-" + i, "reason " + i);
    }
    assertTrue(TensorRtStep.rememberedCount() <= TensorRtStep.MAX_REMEMBERED_FAILURES,
        "remembered " + TensorRtStep.rememberedCount() + " failures after " + n
            + " distinct keys, more than the bound of " + TensorRtStep.MAX_REMEMBERED_FAILURES);
    assertEquals("reason " + (n - 1), TensorRtStep.remembered("failed-test-key-" + (n - 1)));
    assertEquals("reason " + (n - TensorRtStep.MAX_REMEMBERED_FAILURES),
        TensorRtStep.remembered("failed-test-key-" + (n - TensorRtStep.MAX_REMEMBERED_FAILURES)),
        "the bound's worth of most recent keys are all kept");
    assertNull(TensorRtStep.remembered("failed-test-key-0"), "the eldest is forgotten");
  }

  @Test
  void remember_sameKeyAgain_replacesTheReasonWithoutGrowing() {
    TensorRtStep.remember("failed-test-again", "first");
    int size = TensorRtStep.rememberedCount();
    TensorRtStep.remember("failed-test-again", "second");
    assertEquals(size, TensorRtStep.rememberedCount());
    assertEquals("second", TensorRtStep.remembered("failed-test-again"));
  }

  @Test
  void remember_aLongReason_isKeptCutToTheBound() {
    // What TensorRT logged during a build is in its reason: up to 2 MB of messages.
    String reason = "x".repeat(2_000_000);
    TensorRtStep.remember("failed-test-long-reason", reason);
    String kept = TensorRtStep.remembered("failed-test-long-reason");
    assertEquals(reason.substring(0, TensorRtStep.MAX_REMEMBERED_REASON_CHARS)
        + "... (2000000 chars, cut)", kept);
    TensorRtStep.remember("failed-test-short-reason", "short");
    assertEquals("short", TensorRtStep.remembered("failed-test-short-reason"));
  }
}
