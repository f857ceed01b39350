package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.ByteMutator;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds ArtifactCache seeded byte mutations of a valid entry's sidecar (as written, and
 * re-encoded as UTF-16 and UTF-32, which Jackson detects): as documented, an entry whose sidecar
 * is damaged is invalid, deleted and reported absent (then built again), and one still valid is
 * served; get and getOrBuild throw nothing (a bad UTF-32 character in the sidecar was an
 * UncheckedIOException out of both).
 */
final class SidecarFuzzTest {
  private static final int MUTATIONS = ByteMutator.rounds(1_500);
  private static final long SEED = ByteMutator.seed(0x51DECA5L);
  private static final ByteMutator MUTATOR = new ByteMutator(96);
  private static final byte[] ARTIFACT = "an optimized model".getBytes(StandardCharsets.UTF_8);

  @TempDir Path dir;

  @Test
  void get_sidecarMutations_servedWhenValid_elseDeletedAndRebuilt() throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir.resolve("cache")).build();
    CacheKey key = CacheKeyTest.base().build();
    ArtifactBuilder builder = target -> Files.write(target, ARTIFACT);
    Path artifact = cache.getOrBuild(key, builder);
    Path sidecar = artifact.resolveSibling(ArtifactCache.SIDECAR_FILE);
    String valid = Files.readString(sidecar);
    List<byte[]> seeds = List.of(valid.getBytes(StandardCharsets.UTF_8),
        valid.getBytes(StandardCharsets.UTF_16LE), valid.getBytes(Charset.forName("UTF-32BE")));
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 1_500), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
        Files.write(sidecar, bytes);
        Optional<Path> hit;
        try {
          hit = cache.get(key);
        } catch (Throwable t) {
          fail("get threw " + t + " for a sidecar of " + ByteMutator.hex(bytes, 400), t);
          return;
        }
        if (hit.isPresent()) {
          assertArrayEquals(ARTIFACT, Files.readAllBytes(hit.get()));
          outcomes.merge("served", 1, Integer::sum);
          continue;
        }
        assertTrue(!Files.exists(sidecar), "an invalid entry should be deleted");
        outcomes.merge("invalid, rebuilt", 1, Integer::sum);
        try {
          assertArrayEquals(ARTIFACT, Files.readAllBytes(cache.getOrBuild(key, builder)));
        } catch (Throwable t) {
          fail("getOrBuild threw " + t + " after " + ByteMutator.hex(bytes, 400), t);
        }
      }
    });
    System.out.println("SidecarFuzzTest: " + MUTATIONS + " mutations: " + outcomes);
    assertTrue(outcomes.getOrDefault("served", 0) > 2
        && outcomes.getOrDefault("invalid, rebuilt", 0) > MUTATIONS / 2, outcomes.toString());
  }
}
