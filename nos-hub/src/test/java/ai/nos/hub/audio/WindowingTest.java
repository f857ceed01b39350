package ai.nos.hub.audio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The cutting and stitching arithmetic of long audio: Chunking and SeekCursor. */
final class WindowingTest {

  static final int S = 16_000;

  /**
   * transformers' chunk_iter on 70 s: starts 0, 20, 40 s (the chunk at 40 s reaches the end, so
   * it is the last and keeps its right edge); no left stride on the first chunk.
   */
  @Test
  void whisperChunks_of70s_areTransformersChunks() {
    List<AudioWindow> w = Chunking.whisper(70L * S);
    assertEquals(3, w.size());
    long[][] expected = {{0, 30, 0, 25}, {20, 30, 25, 45}, {40, 30, 45, 70}};
    for (int i = 0; i < 3; i++) {
      AudioWindow c = w.get(i);
      assertEquals(i, c.index());
      assertEquals(expected[i][0] * S, c.start(), "start of " + i);
      assertEquals(expected[i][1] * S, c.length(), "length of " + i);
      assertEquals(expected[i][2] * S, c.keepFrom(), "keepFrom of " + i);
      assertEquals(expected[i][3] * S, c.keepTo(), "keepTo of " + i);
    }
  }

  /** Kept ranges tile [0, total): each sample kept by exactly one chunk, whatever the length. */
  @ParameterizedTest
  @ValueSource(longs = {1, 159, 16_000, 479_999, 480_000, 480_001, 560_000, 640_000, 640_001,
      1_120_123, 57_600_000})
  void chunks_tileTheRecording(long total) {
    List<AudioWindow> w = Chunking.whisper(total);
    long next = 0;
    for (AudioWindow c : w) {
      assertEquals(next, c.keepFrom(), "gap or overlap before chunk " + c);
      assertTrue(c.keepTo() > c.keepFrom(), "empty kept range " + c);
      assertTrue(c.start() + c.length() <= total && c.length() <= 30 * S, c.toString());
      next = c.keepTo();
    }
    assertEquals(total, next);
  }

  /**
   * A segment in an overlap is kept by exactly one chunk, at its absolute time: a word at
   * 27-28 s is seen by chunk 0 (at 27 s) and chunk 1 (at 7 s); only chunk 1 keeps it (midpoint
   * 27.5 s is past chunk 0's 25 s).
   */
  @Test
  void stitching_keepsEachSegmentOnce_atItsAbsoluteTime() {
    List<AudioWindow> w = Chunking.whisper(70L * S);
    List<Double> kept = new ArrayList<>();
    double[][] word = {{27.0, 28.0}, {7.0, 8.0}}; // the same word in chunks 0 and 1
    for (int i = 0; i < 2; i++) {
      if (w.get(i).keeps(word[i][0], word[i][1])) {
        kept.add(w.get(i).absoluteSeconds(word[i][0]));
      }
    }
    assertEquals(List.of(27.0), kept);
    assertFalse(w.get(0).keeps(24.9, 25.3)); // midpoint 25.1: chunk 1's
    assertTrue(w.get(1).keeps(4.9, 5.3));
  }

  @Test
  void chunking_badArguments_areRefused() {
    assertThrows(IllegalArgumentException.class, () -> Chunking.whisper(0));
    String m = assertThrows(IllegalArgumentException.class,
        () -> Chunking.plan(100, 10, 5, 5)).getMessage();
    assertTrue(m.contains("longer than its strides (left 5, right 5)"), m);
  }

  /** openai-whisper's seek: whole windows, or to the last closed timestamp. */
  @Test
  void seekCursor_followsTheDecodersTimestamps() {
    SeekCursor c = new SeekCursor(75L * S + 80); // 75.005 s: 7500 content frames
    AudioWindow first = c.window();
    assertEquals(0, first.start());
    assertEquals(30 * S, first.length());
    c.advanceTo(27.34); // the decoder closed a segment at 27.34 s: resume there
    assertEquals(2734, c.seekFrames());
    AudioWindow second = c.window();
    assertEquals(1, second.index());
    assertEquals(2734L * 160, second.start());
    assertEquals(27.34 + 1.5, second.absoluteSeconds(1.5), 1e-9);
    c.advanceWhole(); // speech ran past the window
    assertEquals(5734, c.seekFrames());
    AudioWindow last = c.window();
    assertEquals(75L * S + 80 - 5734L * 160, last.length()); // the tail, under 30 s
    assertEquals(1766, c.windowFrames());
    c.advanceTo(17.66); // a timestamp at the very end consumes the window
    assertFalse(c.hasNext());
    assertThrows(IllegalStateException.class, c::window);
  }

  /** A decoder that closes nothing (timestamp 0) or one past the window cannot stall the loop. */
  @Test
  void seekCursor_alwaysMakesProgress() {
    SeekCursor c = new SeekCursor(100L * S);
    int windows = 0;
    while (c.hasNext()) {
      long before = c.seekFrames();
      c.advanceTo(windows % 2 == 0 ? 0.0 : 45.0);
      assertTrue(c.seekFrames() > before);
      windows++;
    }
    assertEquals(4, windows); // 30 + 30 + 30 + 10 s
    assertThrows(IllegalArgumentException.class, () -> new SeekCursor(0));
    assertThrows(IllegalArgumentException.class, () -> new SeekCursor(10).advanceTo(Double.NaN));
  }
}
