package ai.nos.internal.manager;

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
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds FootprintCatalog seeded byte mutations of a valid catalog file (UTF-8, -16 and -32):
 * as documented, a file it cannot read is ignored, never fatal, so the constructor must not
 * throw (an Error included), and what it did read holds positive byte counts only.
 */
final class FootprintCatalogFuzzTest {
  private static final int MUTATIONS = ByteMutator.rounds(3_000);
  private static final long SEED = ByteMutator.seed(0xF007L);
  private static final ByteMutator MUTATOR = new ByteMutator(48);
  private static final List<String> KEYS = List.of("a1b2|fp32|cpu", "c3d4|fp16|cuda:sm90",
      "e5|int8|cuda:sm80");

  @TempDir Path dir;

  @Test
  void constructor_byteMutations_neverThrow_andKeepPositiveBytesOnly() throws Exception {
    Path file = dir.resolve(FootprintCatalog.FILE_NAME);
    FootprintCatalog written = new FootprintCatalog(file);
    written.put(KEYS.get(0), 123_456_789L);
    written.put(KEYS.get(1), 1L);
    written.put(KEYS.get(2), Long.MAX_VALUE);
    String json = Files.readString(file);
    List<byte[]> seeds = List.of(json.getBytes(StandardCharsets.UTF_8),
        json.getBytes(StandardCharsets.UTF_16LE), json.getBytes(Charset.forName("UTF-32BE")));
    assertEquals(OptionalLong.of(1L), new FootprintCatalog(file).get(KEYS.get(1)));
    Random random = new Random(SEED);
    int[] read = new int[1];
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 3_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
        Files.write(file, bytes);
        FootprintCatalog catalog;
        try {
          catalog = new FootprintCatalog(file);
        } catch (Throwable t) {
          fail("FootprintCatalog threw " + t + " for " + ByteMutator.hex(bytes, 300), t);
          return;
        }
        for (String key : KEYS) {
          OptionalLong b = catalog.get(key);
          assertTrue(b.isEmpty() || b.getAsLong() > 0, key + " " + b);
          read[0] += b.isPresent() ? 1 : 0;
        }
      }
    });
    assertTrue(read[0] > 100, "mutations kept so few entries readable: " + read[0]);
  }
}
