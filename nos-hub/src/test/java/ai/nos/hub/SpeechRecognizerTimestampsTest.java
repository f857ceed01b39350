package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.generate.GenerationConfig;
import ai.nos.hub.audio.Audio;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Timestamps on models/whisper-micro (CPU): decoding follows Whisper's timestamp rules and the
 * segments follow the closed pairs of the ids the generator gives with those rules.
 */
final class SpeechRecognizerTimestampsTest {
  static final int BEGIN = 50364;
  static final int EOS = 50257;
  static final Path WAV = SpeechRecognizerTest.CLIPS.resolve("speechlike.wav");
  /** The rules alone: none of the model's suppressed ids (as {@link #ruled} runs). */
  static final TranscribeOptions FORTY = TranscribeOptions.builder().timestamps(true)
      .maxNewTokens(40).suppressTokens().beginSuppressTokens().build();
  static SpeechRecognizer asr;

  @BeforeAll
  static void load() {
    asr = SpeechRecognizerTest.onCpu(SpeechRecognizerTest.MODEL, 2);
  }

  @AfterAll
  static void close() {
    asr.close();
  }

  /** The ids of the clip with the rules, through the generator: the expectation's source. */
  private static int[] ruled(SpeechRecognizer r, int maxInitial) {
    float[] mel = SpeechRecognizerTest.encoderInput(r, WAV);
    return r.generator().generate(r.prompt(FORTY), mel, GenerationConfig.builder()
        .maxNewTokens(40).timestampRules(BEGIN, BEGIN - 1, EOS, maxInitial).build()).join()
        .tokens();
  }

  /** Closed pairs [t0, t1] with the text between, as the class notes of Transcript say. */
  private static List<double[]> pairs(int[] ids, double end) {
    List<double[]> out = new ArrayList<>();
    int open = -1;
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] >= BEGIN) {
        if (open >= 0 && i > open + 1) {
          out.add(new double[] {time(ids[open], end), time(ids[i], end), open + 1, i});
          open = -1;
        } else {
          open = i;
        }
      }
    }
    return out;
  }

  private static double time(int id, double end) {
    return Math.min(end, (id - BEGIN) * 0.02);
  }

  @Test
  void timestamps_segmentsAreTheClosedPairsOfTheRuledIds() {
    int[] ids = ruled(asr, 50);
    double end = Audio.read(WAV).seconds();
    List<double[]> pairs = pairs(ids, end);
    assertTrue(pairs.size() >= 2, Arrays.toString(ids));
    Transcript t = asr.transcribe(WAV, FORTY);
    List<Transcript.Segment> segments = t.segments();
    for (int p = 0; p < pairs.size(); p++) {
      double[] pair = pairs.get(p);
      Transcript.Segment s = segments.get(p);
      assertEquals(pair[0], s.start(), 1e-9, "segment " + p + " of " + t);
      assertEquals(pair[1], s.end(), 1e-9, "segment " + p + " of " + t);
      assertArrayEquals(Arrays.copyOfRange(ids, (int) pair[2], (int) pair[3]), s.tokenIds(),
          "segment " + p);
    }
    // The text after the last pair (cut by maxNewTokens) runs to the window's end.
    assertEquals(pairs.size() + 1, segments.size(), t.toString());
    assertEquals(end, segments.get(segments.size() - 1).end(), 1e-9);
    assertTrue(segments.get(0).start() <= 1.0, t.toString());
  }

  @Test
  void generationConfigsMaxInitialTimestampIndex_boundsTheFirstTimestamp(@TempDir Path dir)
      throws Exception {
    int[] free = ruled(asr, 50);
    assertTrue(free[0] > BEGIN, "the first timestamp is 0 already: " + Arrays.toString(free));
    Path model = SpeechRecognizerSuppressionTest.copy(dir.resolve("whisper-max0"));
    Files.writeString(model.resolve("generation_config.json"),
        "{\"max_initial_timestamp_index\": 0}");
    try (SpeechRecognizer zero = SpeechRecognizerTest.onCpu(model, 1)) {
      Transcript t = zero.transcribe(WAV, FORTY);
      assertEquals(0.0, t.segments().get(0).start(), t.toString());
      Files.writeString(model.resolve("generation_config.json"),
          "{\"max_initial_timestamp_index\": -1}");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> SpeechRecognizerTest.onCpu(model, 1));
      assertTrue(e.getMessage().contains("max_initial_timestamp_index must be a whole number of"
          + " 0 or more, but is -1"), e.getMessage());
    }
  }

  @Test
  void segments_endOfTextAfterTheLastPair_joinsIt_textAfterIt_runsToTheEnd() {
    List<Transcript.Segment> out = new ArrayList<>();
    asr.segments(new int[] {BEGIN, 10, 11, BEGIN + 50, BEGIN + 50, 12, BEGIN + 100, EOS},
        0, 30, true, out);
    assertEquals(2, out.size(), out.toString());
    assertSegment(0, 1, new int[] {10, 11}, out.get(0));
    assertSegment(1, 2, new int[] {12, EOS}, out.get(1));
    out.clear();
    asr.segments(new int[] {BEGIN + 5, 10, BEGIN + 50, BEGIN + 60, 12, 13}, 30, 40, true, out);
    assertEquals(2, out.size(), out.toString());
    assertSegment(30.1, 31, new int[] {10}, out.get(0));
    assertSegment(31.2, 40, new int[] {12, 13}, out.get(1));
  }

  private static void assertSegment(double start, double end, int[] ids, Transcript.Segment s) {
    assertEquals(start, s.start(), 1e-9, s.toString());
    assertEquals(end, s.end(), 1e-9, s.toString());
    assertArrayEquals(ids, s.tokenIds(), s.toString());
  }
}
