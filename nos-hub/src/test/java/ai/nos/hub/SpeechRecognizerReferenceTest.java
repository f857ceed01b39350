package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * SpeechRecognizer against transformers' {@code generate} on models/whisper-micro, with the
 * export's generation_config.json applied as transformers applies it: the plain ids, the ids
 * with {@code return_timestamps=True} (as segments), and {@code detect_language}. The fields
 * come from scripts/models/make_whisper.py since #18's timestamp rules; an export from before
 * them skips, naming the command that writes them.
 */
final class SpeechRecognizerReferenceTest {
  static final String REEXPORT = "models/whisper-micro predates the generate references"
      + " (generate_ids, timestamp_generate_ids, detected_language_id, generation_config.json):"
      + " re-export it on the GPU machine with: python3 scripts/models/make_whisper.py --config"
      + " micro --out models/whisper-micro";
  static final int BEGIN = 50364;
  static final int EN = 50259;
  static final int EOS = 50257;
  static SpeechRecognizer asr;
  static List<JsonNode> cases = new ArrayList<>();
  static boolean current;

  @BeforeAll
  static void load() throws Exception {
    Path model = SpeechRecognizerTest.MODEL;
    JsonNode ref = new ObjectMapper().readTree(model.resolve("reference.json").toFile());
    ref.get("cases").forEach(cases::add);
    current = Files.isRegularFile(model.resolve(GenerationConfigFile.FILE))
        && cases.stream().allMatch(c -> c.has("timestamp_generate_ids")
            && c.has("generate_ids") && c.has("detected_language_id"));
    if (current) {
      asr = SpeechRecognizerTest.onCpu(model, 4);
    }
  }

  /** Per test, so that each shows as skipped with the command (not so from a class setup). */
  @BeforeEach
  void exportIsCurrent() {
    assumeTrue(current, REEXPORT);
  }

  @AfterAll
  static void close() {
    if (asr != null) {
      asr.close();
    }
  }

  private static int[] ints(JsonNode list) {
    int[] out = new int[list.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = list.get(i).asInt();
    }
    return out;
  }

  /**
   * {@code ids} without trailing end-of-text ids: transformers' versions differ in whether
   * generate's output keeps the end of text (and pads with the same id).
   */
  private static int[] open(int[] ids) {
    int n = ids.length;
    while (n > 0 && ids[n - 1] == EOS) {
      n--;
    }
    return Arrays.copyOf(ids, n);
  }

  private static Path wav(JsonNode c) {
    return SpeechRecognizerTest.CLIPS.resolve(c.get("clip").asText() + ".wav");
  }

  @Test
  void plainIds_areGenerates() {
    TranscribeOptions options = TranscribeOptions.builder().maxNewTokens(24).build();
    for (JsonNode c : cases) {
      assertArrayEquals(open(ints(c.get("generate_ids"))),
          open(asr.transcribe(wav(c), options).tokenIds()), c.get("clip").asText());
    }
  }

  @Test
  void timestampedSegments_areGeneratesClosedPairs() {
    TranscribeOptions options = TranscribeOptions.builder().timestamps(true).maxNewTokens(24)
        .build();
    for (JsonNode c : cases) {
      String clip = c.get("clip").asText();
      int[] ids = ints(c.get("timestamp_generate_ids"));
      Transcript t = asr.transcribe(wav(c), options);
      assertArrayEquals(open(Arrays.stream(ids).filter(id -> id < BEGIN).toArray()),
          open(t.tokenIds()), clip + ": text ids of " + Arrays.toString(ids) + " vs " + t);
      // Each closed pair's times, in order.
      List<Double> times = new ArrayList<>();
      int open = -1;
      for (int i = 0; i < ids.length; i++) {
        if (ids[i] >= BEGIN) {
          if (open >= 0 && i > open + 1) {
            times.add((ids[open] - BEGIN) * 0.02);
            times.add((ids[i] - BEGIN) * 0.02);
            open = -1;
          } else {
            open = i;
          }
        }
      }
      double end = ai.nos.hub.audio.Audio.read(wav(c)).seconds();
      for (int p = 0; p < times.size() / 2; p++) {
        Transcript.Segment s = t.segments().get(p);
        assertEquals(Math.min(end, times.get(2 * p)), s.start(), 1e-9, clip + " " + t);
        assertEquals(Math.min(end, times.get(2 * p + 1)), s.end(), 1e-9, clip + " " + t);
      }
    }
  }

  @Test
  void detectedLanguage_isDetectLanguages() {
    TranscribeOptions detect = TranscribeOptions.builder().detectLanguage().maxNewTokens(4)
        .build();
    for (JsonNode c : cases) {
      int id = c.get("detected_language_id").asInt();
      assertEquals(Optional.of(TranscribeOptions.LANGUAGES.get(id - EN)),
          asr.transcribe(wav(c), detect).language(), c.get("clip").asText());
    }
  }
}
