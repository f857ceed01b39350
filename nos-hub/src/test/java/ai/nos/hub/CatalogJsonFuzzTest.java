package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.JsonMutator;
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
  private static final JsonMutator MUTATOR = new JsonMutator(
      "{}[]\":,-+0123456789.eE \n\t\\/nultrefasxyz_{}é\u0000",
      List.of("null", "-1", "0", "1e309", "-0.0", "0.5",
          "99999999999999999999999", "\"\\u0000\"", "\"\"", "{}", "[]", "true", "\"{baseUri}/a\"",
          "\"{baseUri}/../a\"", "\"file:x\"", "\"https://\"", "\"fp16\"", "\"int64\"", "[-1]",
          "\"\\ud800\"", "\"model\"", "\"labels\"", "\"letterbox\"", "\"mean\"", "[1, 2, 3]",
          "\"" + CatalogJsonTest.SHA + "\"", "\"image_embedding\"", "\"text_embedding\""),
      List.of("\"id\": \"x\", ", "\"name\": \"labels\", ",
          "\"shape\": [1], ", "\"crop\": 10, ", "\"labels\": [\"a\"], ", "\"size\": 3, ",
          "\"sha256\": \"00\", ", "\"task\": \"object_detection\", ", "\"padValue\": 1, ",
          "\"text\": {}, ", "\"image\": {\"resize\": 1}, ", "\"normalize\": false, "));

  @Test
  void fromJson_mutations_catalogOrIllegalArgument() throws Exception {
    List<String> seeds = List.of(CatalogJsonTest.FULL, BuiltinCatalogTest.resourceText());
    Random random = new Random(SEED);
    int[] outcomes = new int[2];
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        String json = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
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
      return fail("fromJson threw " + t + " for: " + JsonMutator.shorten(json, 400), t);
    }
  }

}
