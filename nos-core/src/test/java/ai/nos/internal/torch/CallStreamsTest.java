package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * Which of a device's streams a call takes ({@link CallStreams#choose}): the least busy, and
 * between equals the one the thread used last, so concurrent calls spread over the streams and a
 * thread keeps to one while it can. The streams themselves are CallStreamsGpuTest's.
 */
final class CallStreamsTest {
  @Test
  void aThreadAlone_keepsItsStream() {
    assertEquals(0, CallStreams.choose(new int[] {0, 0}, -1), "first call: the first stream");
    assertEquals(1, CallStreams.choose(new int[] {0, 0}, 1), "its last stream, when all idle");
    assertEquals(0, CallStreams.choose(new int[] {0, 0}, 0));
  }

  @Test
  void aSecondCall_takesTheIdleStream() {
    assertEquals(1, CallStreams.choose(new int[] {1, 0}, 0), "not behind the running call");
    assertEquals(0, CallStreams.choose(new int[] {0, 1}, 1));
    assertEquals(1, CallStreams.choose(new int[] {1, 0}, -1));
  }

  @Test
  void whenAllAreBusy_theLeastBusy_thenTheThreadsOwn() {
    assertEquals(1, CallStreams.choose(new int[] {2, 1}, 0));
    assertEquals(0, CallStreams.choose(new int[] {1, 1}, 0));
    assertEquals(1, CallStreams.choose(new int[] {1, 1}, 1));
    assertEquals(0, CallStreams.choose(new int[] {1, 1}, 7), "an unknown last: the first");
  }
}
