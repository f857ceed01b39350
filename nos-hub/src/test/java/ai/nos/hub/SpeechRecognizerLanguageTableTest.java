package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The language ids SpeechRecognizer takes without a lang_to_id: Whisper's codes from
 * {@code <|en|>} up to {@code <|translate|>}, with the special ids make_whisper.py reads from
 * the checkpoint (tiny to large-v2: translate 50358, vocabulary 51,865; large-v3: 50359, 51,866).
 */
final class SpeechRecognizerLanguageTableTest {
  private static final int EN = 50259;

  @Test
  void languages_largeV3Vocabulary_hasYueAfterSu() {
    Map<String, Integer> v3 = SpeechRecognizer.languages(Map.of(), EN, 50359, 51866);
    assertEquals(100, v3.size());
    assertEquals(50357, v3.get("su"));
    assertEquals(50358, v3.get("yue"));
  }

  @Test
  void languages_largeV2Vocabulary_stopsBeforeTranslate() {
    Map<String, Integer> v2 = SpeechRecognizer.languages(Map.of(), EN, 50358, 51865);
    assertEquals(99, v2.size());
    assertEquals(50357, v2.get("su"));
    assertFalse(v2.containsKey("yue"), v2.toString());
  }

  @Test
  void languages_langToIdGiven_isTakenAsItIs() {
    Map<String, Integer> given = Map.of("en", EN, "yue", 50358);
    assertEquals(given, SpeechRecognizer.languages(given, EN, 50359, 51866));
  }
}
