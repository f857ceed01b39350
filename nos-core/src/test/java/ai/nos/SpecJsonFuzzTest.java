package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * Feeds ModelSpec.fromJson mutations of a valid spec: each must give a valid spec or an
 * IllegalArgumentException with a message, never another exception, a hang or a stack overflow.
 */
final class SpecJsonFuzzTest {

  private static final int MUTATIONS = 2_000;
  private static final long SEED = 0x5EED_2025L;
  private static final JsonMutator MUTATOR = new JsonMutator(
      "{}[]\":,-+0123456789.eE \n\t\\/nultrefasxyz_:é\u0000",
      List.of("null", "-1", "0", "1e309", "-0.0", "99999999999999999999999", "\"\\u0000\"",
          "\"\"", "{}", "[]", "true", "\"cuda:99\"", "\"../x.pt\"", "\"file:x\"",
          "\"https://\"", "\"fp16\"", "\"int64\"", "[-1]", "\"\\ud800\""),
      List.of("\"id\": \"x\", ", "\"name\": \"x\", ", "\"shape\": [1], ",
          "\"precision\": \"bf16\", ", "\"batching\": {\"maxBatchSize\": 2}, ",
          "\"device\": \"cpu\", ", "\"sha256\": \"00\", ", "\"inputs\": [], ",
          "\"optimize\": [\"freeze\", \"channels_last\"], ", "\"optimize\": [], ",
          "\"imageInputs\": {\"image\": {\"size\": 4}}, ", "\"resize\": \"letterbox\", ",
          "\"mean\": [0.5, 0.5, 0.5], ", "\"crop\": 3, "));

  @Test
  void fromJson_mutations_validSpecOrIllegalArgument() {
    ModelSpec digits = ModelSpec.fromJson(SpecJsonTest.DIGITS);
    List<String> seeds = List.of(SpecJsonTest.DIGITS,
        digits.toBuilder().maxBatchSize(8).device("cuda:0").build().toJson(),
        digits.toBuilder().signature(Signature.builder()
            .input("image", DType.UINT8, -1, -1, -1, 3).output("logits", DType.FLOAT32, -1, 10)
            .build()).imageInput("image", ImageInput.resizeTo(10).crop(8)
            .normalize(new float[] {0.4f, 0.5f, 0.6f}, new float[] {0.2f, 0.25f, 0.3f})
            .build()).build().toJson());
    Random random = new Random(SEED);
    int[] outcomes = new int[2];
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        String json = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
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
      return fail("fromJson threw " + t + " for: " + JsonMutator.shorten(json, 500), t);
    }
    assertEquals(spec, ModelSpec.fromJson(spec.toJson()), json);
    return 0;
  }

}
