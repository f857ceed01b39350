package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Feeds ModelSpec.fromJson mutations of a valid spec: each must give a valid spec or an
 * IllegalArgumentException with a message, never another exception, a hang or a stack overflow.
 */
final class SpecJsonFuzzTest {

  private static final int MUTATIONS = 2_000;
  private static final long SEED = 0x5EED_2025L;
  private static final String ALPHABET = "{}[]\":,-+0123456789.eE \n\t\\/nultrefasxyz_:é\u0000";
  private static final List<String> TOKENS = List.of("null", "-1", "0", "1e309", "-0.0",
      "99999999999999999999999", "\"\\u0000\"", "\"\"", "{}", "[]", "true", "\"cuda:99\"",
      "\"../x.pt\"", "\"file:x\"", "\"https://\"", "\"fp16\"", "\"int64\"", "[-1]", "\"\\ud800\"");
  private static final List<String> FIELDS = List.of("\"id\": \"x\", ", "\"name\": \"x\", ",
      "\"shape\": [1], ", "\"precision\": \"bf16\", ", "\"batching\": {\"maxBatchSize\": 2}, ",
      "\"device\": \"cpu\", ", "\"sha256\": \"00\", ", "\"inputs\": [], ");

  @Test
  void fromJson_mutations_validSpecOrIllegalArgument() {
    List<String> seeds = List.of(SpecJsonTest.DIGITS, ModelSpec.fromJson(SpecJsonTest.DIGITS)
        .toBuilder().maxBatchSize(8).device("cuda:0").build().toJson());
    Random random = new Random(SEED);
    int[] outcomes = new int[2];
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        String json = seeds.get(random.nextInt(seeds.size()));
        for (int n = 1 + random.nextInt(3); n > 0; n--) {
          json = mutate(random, json);
        }
        outcomes[check(json)]++;
      }
    });
    assertTrue(outcomes[0] > 0 && outcomes[1] > 0,
        "valid: " + outcomes[0] + ", rejected: " + outcomes[1]);
  }

  /** Returns 0 for a valid spec, 1 for a rejection; fails on anything else. */
  private static int check(String json) {
    ModelSpec spec;
    try {
      spec = ModelSpec.fromJson(json);
    } catch (IllegalArgumentException e) {
      assertNotNull(e.getMessage(), json);
      return 1;
    } catch (Throwable t) {
      return fail("fromJson threw " + t + " for: " + shorten(json), t);
    }
    assertEquals(spec, ModelSpec.fromJson(spec.toJson()), json);
    return 0;
  }

  private static String mutate(Random random, String json) {
    int at = json.isEmpty() ? 0 : random.nextInt(json.length());
    switch (random.nextInt(8)) {
      case 0:
        return json.substring(0, at) + json.substring(Math.min(json.length(), at + 1
            + random.nextInt(5)));
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
      case 5:
        int depth = List.of(10, 63, 64, 65, 10_000).get(random.nextInt(5));
        boolean close = random.nextBoolean();
        return json.substring(0, at) + "[".repeat(depth) + (close ? "]".repeat(depth) : "")
            + json.substring(at);
      case 6:
        return json.substring(0, at) + TOKENS.get(random.nextInt(TOKENS.size()))
            + json.substring(at);
      default:
        int other = json.isEmpty() ? 0 : random.nextInt(json.length());
        if (json.length() < 2 || at == other) {
          return json;
        }
        char[] chars = json.toCharArray();
        char c = chars[at];
        chars[at] = chars[other];
        chars[other] = c;
        return new String(chars);
    }
  }

  private static String shorten(String s) {
    return s.length() <= 500 ? s : s.substring(0, 500) + "...";
  }
}
