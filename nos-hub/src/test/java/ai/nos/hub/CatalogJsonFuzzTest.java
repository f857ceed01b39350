package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Feeds Catalog.fromJson seeded mutations of valid catalogs: each must give a catalog or an
 * IllegalArgumentException with a message, never another exception, a hang or a stack overflow.
 */
final class CatalogJsonFuzzTest {

  private static final int MUTATIONS = 2_000;
  private static final long SEED = 0xCA7A_1095L;
  private static final String ALPHABET = "{}[]\":,-+0123456789.eE \n\t\\/nultrefasxyz_{}é\u0000";
  private static final List<String> TOKENS = List.of("null", "-1", "0", "1e309", "-0.0", "0.5",
      "99999999999999999999999", "\"\\u0000\"", "\"\"", "{}", "[]", "true", "\"{baseUri}/a\"",
      "\"{baseUri}/../a\"", "\"file:x\"", "\"https://\"", "\"fp16\"", "\"int64\"", "[-1]",
      "\"\\ud800\"", "\"model\"", "\"labels\"", "\"letterbox\"", "\"mean\"", "[1, 2, 3]",
      "\"" + CatalogJsonTest.SHA + "\"", "\"image_embedding\"", "\"text_embedding\"");
  private static final List<String> FIELDS = List.of("\"id\": \"x\", ", "\"name\": \"labels\", ",
      "\"shape\": [1], ", "\"crop\": 10, ", "\"labels\": [\"a\"], ", "\"size\": 3, ",
      "\"sha256\": \"00\", ", "\"task\": \"object_detection\", ", "\"padValue\": 1, ",
      "\"text\": {}, ", "\"image\": {\"resize\": 1}, ", "\"normalize\": false, ");

  @Test
  void fromJson_mutations_catalogOrIllegalArgument() throws Exception {
    List<String> seeds = List.of(CatalogJsonTest.FULL, BuiltinCatalogTest.resourceText());
    Random random = new Random(SEED);
    int[] outcomes = new int[2];
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        String json = seeds.get(random.nextInt(seeds.size()));
        for (int n = 1 + random.nextInt(3); n > 0; n--) {
          json = mutate(random, json);
        }
        outcomes[check(json)]++;
      }
    });
    assertTrue(outcomes[0] > 20 && outcomes[1] > 20,
        "valid: " + outcomes[0] + ", rejected: " + outcomes[1]);
  }

  /** Returns 0 for a valid catalog, 1 for a rejection; fails on anything else. */
  private static int check(String json) {
    try {
      Catalog catalog = Catalog.fromJson(json);
      assertNotNull(catalog.ids());
      return 0;
    } catch (IllegalArgumentException e) {
      assertNotNull(e.getMessage(), json);
      return 1;
    } catch (Throwable t) {
      return fail("fromJson threw " + t + " for: " + shorten(json), t);
    }
  }

  private static String mutate(Random random, String json) {
    int at = json.isEmpty() ? 0 : random.nextInt(json.length());
    switch (random.nextInt(8)) {
      case 0:
        return json.substring(0, at)
            + json.substring(Math.min(json.length(), at + 1 + random.nextInt(5)));
      case 1:
        return json.substring(0, at) + ALPHABET.charAt(random.nextInt(ALPHABET.length()))
            + json.substring(at);
      case 2:
        return json.isEmpty() ? json : json.substring(0, at)
            + ALPHABET.charAt(random.nextInt(ALPHABET.length())) + json.substring(at + 1);
      case 3:
        return json.substring(0, at);
      case 4:
        int brace = json.indexOf('{', at);
        return brace < 0 ? json : json.substring(0, brace + 1)
            + FIELDS.get(random.nextInt(FIELDS.size())) + json.substring(brace + 1);
      default:
        return replaceValue(random, json, at);
    }
  }

  /** Replaces the JSON value after the next ':' or ',' or '[' with a token. */
  private static String replaceValue(Random random, String json, int at) {
    int start = -1;
    for (int i = at; i < json.length(); i++) {
      char c = json.charAt(i);
      if (c == ':' || c == '[' || c == ',') {
        start = i + 1;
        break;
      }
    }
    if (start < 0) {
      return json;
    }
    int end = start;
    while (end < json.length() && ",}]".indexOf(json.charAt(end)) < 0) {
      end++;
    }
    return json.substring(0, start) + " " + TOKENS.get(random.nextInt(TOKENS.size()))
        + json.substring(end);
  }

  private static String shorten(String s) {
    return s.length() <= 400 ? s : s.substring(0, 400) + "...";
  }
}
