package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.ByteMutator;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds ModelSpec.fromJson(Path) byte-level mutations of valid spec files in every encoding
 * Jackson detects (UTF-8, UTF-16 and UTF-32, either byte order): each must give a valid spec or
 * an IllegalArgumentException naming the file, never another exception (a bad UTF-32 character
 * was an UncheckedIOException), a hang or an error. SpecJsonFuzzTest mutates the text instead.
 */
final class SpecJsonBytesFuzzTest {

  private static final int MUTATIONS = ByteMutator.rounds(3_000);
  private static final long SEED = ByteMutator.seed(0xB17E5L);
  private static final ByteMutator MUTATOR = new ByteMutator(64);

  @TempDir Path dir;

  @Test
  void fromJsonPath_byteMutations_validSpecOrIllegalArgumentNamingTheFile() {
    String digits = SpecJsonTest.DIGITS;
    String batched = ModelSpec.fromJson(digits).toBuilder().maxBatchSize(8).build().toJson();
    List<byte[]> seeds = new ArrayList<>();
    for (String json : List.of(digits, batched)) {
      for (Charset cs : List.of(StandardCharsets.UTF_8, StandardCharsets.UTF_16BE,
          StandardCharsets.UTF_16LE, Charset.forName("UTF-32BE"), Charset.forName("UTF-32LE"))) {
        seeds.add(json.getBytes(cs));
      }
    }
    Random random = new Random(SEED);
    int[] outcomes = new int[2];
    Path file = dir.resolve("spec.json");
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 3_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
        Files.write(file, bytes);
        outcomes[check(file, bytes)]++;
      }
    });
    assertTrue(outcomes[0] > 20 && outcomes[1] > 1000,
        "valid: " + outcomes[0] + ", rejected: " + outcomes[1]);
  }

  /** Returns 0 for a valid spec, 1 for a rejection; fails on anything else. */
  private static int check(Path file, byte[] bytes) {
    ModelSpec spec;
    try {
      spec = ModelSpec.fromJson(file);
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage() != null && e.getMessage().startsWith(file.toString()),
          () -> "the message should name the file: " + e.getMessage());
      return 1;
    } catch (Throwable t) {
      return fail("fromJson(Path) threw " + t + " for " + ByteMutator.hex(bytes, 400), t);
    }
    assertEquals(spec, ModelSpec.fromJson(spec.toJson()), () -> ByteMutator.hex(bytes, 400));
    return 0;
  }
}
