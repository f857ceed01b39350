package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.generate.GenerationConfig;
import ai.nos.hub.audio.Audio;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Language detection on models/whisper-micro (CPU): the language is the most likely language
 * token after {@code <|startoftranscript|>} (nos-core's LanguageStepTest holds that one step to
 * the decoder's own logits), computed here through the generator with only the language tokens
 * allowed at the first token, and the transcript is decoded in it and names it.
 */
final class SpeechRecognizerLanguageTest {
  static final int SOT = 50258;
  static final int EN = 50259;
  static final Path WAV = SpeechRecognizerTest.CLIPS.resolve("speechlike.wav");
  static final TranscribeOptions DETECT = TranscribeOptions.builder().detectLanguage()
      .maxNewTokens(8).build();
  static SpeechRecognizer asr;

  @BeforeAll
  static void load() {
    asr = SpeechRecognizerTest.onCpu(SpeechRecognizerTest.MODEL, 2);
  }

  @AfterAll
  static void close() {
    asr.close();
  }

  /** The argmax over {@code ids} of the first step, through the generator. */
  private static int argmax(SpeechRecognizer r, int[] ids) {
    java.util.Set<Integer> allowed = new java.util.HashSet<>();
    for (int id : ids) {
      allowed.add(id);
    }
    int[] others = IntStream.range(0, 51865).filter(i -> !allowed.contains(i)).toArray();
    float[] mel = SpeechRecognizerTest.encoderInput(r, WAV);
    return r.generator().generate(new int[] {SOT}, mel, GenerationConfig.builder()
        .maxNewTokens(1).beginSuppressTokens(others).build()).join().tokens()[0];
  }

  /**
   * Writes a model copy's {@value GenerationConfigFile#FILE} with only {@code lang_to_id}, the
   * JSON object {@code langToId}; returns the copy.
   */
  private static Path withLangToId(Path model, String langToId) throws java.io.IOException {
    Files.writeString(model.resolve(GenerationConfigFile.FILE),
        "{\"lang_to_id\": " + langToId + "}");
    return model;
  }

  @Test
  void detectLanguage_isTheArgmaxOfTheLanguageTokens_andTheTranscriptIsInIt() {
    int expected = argmax(asr, IntStream.range(EN, EN + 99).toArray());
    String code = TranscribeOptions.LANGUAGES.get(expected - EN);
    assertNotEquals("en", code, "the default language: the test would not see detection");
    Transcript t = asr.transcribe(WAV, DETECT);
    assertEquals(Optional.of(code), t.language());
    TranscribeOptions given = TranscribeOptions.builder().language(code).maxNewTokens(8).build();
    assertArrayEquals(asr.transcribe(WAV, given).tokenIds(), t.tokenIds());
    assertEquals(Optional.of("en"), asr.transcribe(WAV, TranscribeOptions.builder()
        .maxNewTokens(8).build()).language());
    assertEquals(Optional.of("fa"), asr.transcribe(WAV, TranscribeOptions.builder()
        .languageTokenId(EN + 41).maxNewTokens(8).build()).language());
  }

  @Test
  void generationConfigsLangToId_namesTheCandidates(@TempDir Path dir) throws Exception {
    Path model = withLangToId(SpeechRecognizerSuppressionTest.copy(dir.resolve("whisper-langs")),
        "{\"<|en|>\": 50259, \"<|de|>\": 50261}");
    try (SpeechRecognizer two = SpeechRecognizerTest.onCpu(model, 1)) {
      int expected = argmax(two, new int[] {EN, EN + 2});
      Transcript t = two.transcribe(WAV, DETECT);
      assertEquals(Optional.of(expected == EN ? "en" : "de"), t.language(), t.toString());
    }
    withLangToId(model, "{\"en\": 50259}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SpeechRecognizerTest.onCpu(model, 1));
    assertTrue(e.getMessage().contains("lang_to_id key 'en' is not a language token"),
        e.getMessage());
  }

  @Test
  void language_yue_isRefusedByNameForAVocabularyWithoutIt() {
    TranscribeOptions yue = TranscribeOptions.builder().language("yue").maxNewTokens(8).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> asr.transcribeAsync(Audio.read(WAV), yue));
    assertTrue(e.getMessage().contains("language 'yue' is not in the vocabulary of speech"
        + " recognizer") && e.getMessage().contains("(51865 ids)")
        && e.getMessage().contains("its 99 languages [af, am,")
        && e.getMessage().contains("large-v3's (a vocabulary of 51,866)"), e.getMessage());
  }

  @Test
  void language_yue_takesTheIdTheModelsLangToIdGivesIt(@TempDir Path dir) throws Exception {
    // large-v3's ids: <|yue|> after <|su|> (50357), where the others have <|translate|>.
    Path model = withLangToId(SpeechRecognizerSuppressionTest.copy(dir.resolve("whisper-yue")),
        "{\"<|en|>\": 50259, \"<|su|>\": 50357, \"<|yue|>\": 50358}");
    try (SpeechRecognizer v3 = SpeechRecognizerTest.onCpu(model, 1)) {
      Transcript t = v3.transcribe(WAV, TranscribeOptions.builder().language("yue")
          .maxNewTokens(8).build());
      assertEquals(Optional.of("yue"), t.language(), t.toString());
      assertArrayEquals(new int[] {SOT, 50358, 50359, 50363}, v3.prompt(TranscribeOptions
          .builder().language("yue").build()));
    }
  }

  @Test
  void options_detectReplacesTheLanguage_andTheLanguageReplacesDetection() {
    assertTrue(DETECT.detectLanguage());
    assertNull(DETECT.language());
    assertEquals(-1, DETECT.languageTokenId());
    TranscribeOptions de = TranscribeOptions.builder().detectLanguage().language("de").build();
    assertEquals("de", de.language());
    assertTrue(!de.detectLanguage());
    assertTrue(DETECT.toString().contains("language=detect"), DETECT.toString());
    // The options' suppressed ids are checked before the detection step runs.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> asr.transcribeAsync(Audio.read(WAV), TranscribeOptions.builder().detectLanguage()
            .suppressTokens(51865).build()));
    assertTrue(e.getMessage().contains("suppressTokens[0] is token id 51865"), e.getMessage());
  }
}
