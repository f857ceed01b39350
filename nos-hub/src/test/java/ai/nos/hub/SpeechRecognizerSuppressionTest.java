package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy of models/whisper-micro with a generation_config.json (HF's format) beside it: its
 * suppressed ids, taken from the reference's unsuppressed greedy ids so that they would be
 * generated, are not; options replace them.
 */
final class SpeechRecognizerSuppressionTest {
  static final Path CLIPS = SpeechRecognizerTest.CLIPS;
  /** The model's lists (this copy's generation_config.json). */
  static final TranscribeOptions TWENTY_FOUR = TranscribeOptions.builder().maxNewTokens(24)
      .build();

  @TempDir
  static Path dir;
  static SpeechRecognizer asr;
  static Path wav;
  /** The reference's greedy ids of {@link #wav} (no suppression). */
  static int[] free;
  static int suppressed;
  static int first;

  @BeforeAll
  static void load() throws Exception {
    JsonNode c = new ObjectMapper().readTree(SpeechRecognizerTest.MODEL.resolve(
        "reference.json").toFile()).get("cases").get(0);
    wav = CLIPS.resolve(c.get("clip").asText() + ".wav");
    free = new int[c.get("greedy_ids").size()];
    for (int i = 0; i < free.length; i++) {
      free[i] = c.get("greedy_ids").get(i).asInt();
    }
    first = free[0];
    suppressed = free[free.length - 1];
    assertNotEquals(first, suppressed, Arrays.toString(free));
    Path model = copy(dir.resolve("whisper-gc"));
    Files.writeString(model.resolve("generation_config.json"), "{\"decoder_start_token_id\":"
        + " 50258, \"suppress_tokens\": [1, " + suppressed + ", 50362],"
        + " \"begin_suppress_tokens\": [220, " + first + "], \"max_length\": 448}");
    asr = SpeechRecognizer.builder(model).device(Device.cpu()).maxSequences(4).build();
  }

  @AfterAll
  static void close() {
    if (asr != null) {
      asr.close();
    }
  }

  static Path copy(Path to) throws Exception {
    Files.createDirectories(to);
    for (String f : new String[] {"encoder.pt", "decoder.pt"}) {
      Files.copy(SpeechRecognizerTest.MODEL.resolve(f), to.resolve(f));
    }
    return to;
  }

  private static long count(int[] ids, int id) {
    return Arrays.stream(ids).filter(t -> t == id).count();
  }

  @Test
  void generationConfig_suppressedIdsAreNotGenerated() {
    assertTrue(count(free, suppressed) > 0);
    int[] ids = asr.transcribe(wav, TWENTY_FOUR).tokenIds();
    assertEquals(24, ids.length, Arrays.toString(ids));
    assertEquals(0, count(ids, suppressed), Arrays.toString(ids));
    assertNotEquals(first, ids[0], Arrays.toString(ids));
  }

  @Test
  void options_replaceTheModelsLists() {
    TranscribeOptions none = TranscribeOptions.builder().maxNewTokens(24).suppressTokens()
        .beginSuppressTokens().build();
    assertArrayEquals(free, asr.transcribe(wav, none).tokenIds());
    // Only the begin list replaced (by none): the first token is the free one again, and the
    // file's suppress_tokens still hold.
    TranscribeOptions noBegin = TranscribeOptions.builder().maxNewTokens(24)
        .beginSuppressTokens().build();
    int[] ids = asr.transcribe(wav, noBegin).tokenIds();
    assertEquals(first, ids[0], Arrays.toString(ids));
    assertEquals(0, count(ids, suppressed), Arrays.toString(ids));
    assertTrue(noBegin.suppressTokens().isEmpty());
    assertArrayEquals(new int[0], noBegin.beginSuppressTokens().orElseThrow());
  }

  @Test
  void options_idOutsideTheVocabulary_refusedNamingIt() {
    TranscribeOptions bad = TranscribeOptions.builder().suppressTokens(51865).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> asr.transcribe(wav, bad));
    assertTrue(e.getMessage().contains("suppressTokens[0] is token id 51865")
        && e.getMessage().contains("vocabulary of 51865"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> TranscribeOptions.builder().beginSuppressTokens(3, -1));
    assertTrue(e.getMessage().contains("beginSuppressTokens[1] was -1"), e.getMessage());
    assertThrows(NullPointerException.class,
        () -> TranscribeOptions.builder().suppressTokens((int[]) null));
  }

  @Test
  void badGenerationConfig_refusedAtLoad_namingTheFileAndTheValue(@TempDir Path tmp)
      throws Exception {
    String[][] cases = {
        {"{\"suppress_tokens\": [1, 51865]}", "suppress_tokens[1] is 51865"},
        {"{\"begin_suppress_tokens\": [220, -3]}", "begin_suppress_tokens[1] is -3"},
        {"{\"suppress_tokens\": [\"a\"]}", "suppress_tokens[0] is \"a\""},
        {"{\"suppress_tokens\": 7}", "suppress_tokens must be a list"},
        {"{\"suppress_tokens\": [1.5]}", "suppress_tokens[0] is 1.5"},
        {"[1, 2]", "must hold a JSON object"},
        {"{\"suppress_tokens\": [1,", "is not valid JSON"}};
    Path model = copy(tmp.resolve("whisper-bad"));
    for (String[] c : cases) {
      Files.writeString(model.resolve("generation_config.json"), c[0]);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> SpeechRecognizer.builder(model).device(Device.cpu()).maxSequences(1).build(),
          c[0]);
      assertTrue(e.getMessage().contains(c[1]) && e.getMessage().contains(
          "generation_config.json"), c[0] + " -> " + e.getMessage());
    }
    // Null or absent lists are none.
    Files.writeString(model.resolve("generation_config.json"),
        "{\"suppress_tokens\": null}");
    try (SpeechRecognizer plain = SpeechRecognizer.builder(model).device(Device.cpu())
        .maxSequences(1).build()) {
      assertArrayEquals(free, plain.transcribe(wav, TWENTY_FOUR).tokenIds());
    }
  }
}
