package ai.nos.hub;

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
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds the hub's small JSON files, as bytes in every encoding Jackson detects (UTF-8, -16,
 * -32), seeded byte-level mutations: a catalog file (Catalog.fromFile), an artifact's lock file
 * (what Hub reads beside an unpinned artifact) and Whisper's generation_config.json. Each must
 * be read, or refused with an IllegalArgumentException (naming the file where the reader is
 * given one); never another exception, such as the UncheckedIOException a bad UTF-32 character
 * was. CatalogJsonFuzzTest mutates catalog text instead.
 */
final class HubFilesFuzzTest {
  private static final long SEED = ByteMutator.seed(0x4B1FL);
  private static final ByteMutator MUTATOR = new ByteMutator(64);

  @TempDir Path dir;

  @Test
  void catalogFile_byteMutations_catalogOrIllegalArgumentNamingTheFile() {
    Path file = dir.resolve("catalog.json");
    fuzz("catalog file", ByteMutator.rounds(1_500), encodings(CatalogJsonTest.FULL), bytes -> {
      write(file, bytes);
      try {
        assertTrue(Catalog.fromFile(file).size() >= 0);
      } catch (IllegalArgumentException e) {
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        throw e;
      }
    });
  }

  @Test
  void lockFile_byteMutations_pinOrIllegalArgument() {
    String lock = "{\"sha256\": \"" + "ab".repeat(32) + "\", \"size\": 123456}";
    fuzz("lock file", ByteMutator.rounds(3_000), encodings(lock), bytes -> {
      CatalogJson.Pin pin = CatalogJson.readLock(bytes);
      assertTrue(pin.size() > 0 && pin.sha256().matches("[0-9a-f]{64}"), pin::toString);
    });
  }

  @Test
  void generationConfig_byteMutations_configOrIllegalArgumentNamingTheFile() throws Exception {
    Path file = dir.resolve(GenerationConfigFile.FILE);
    String config = Files.readString(Path.of("../models/whisper-micro", GenerationConfigFile.FILE));
    fuzz("generation config", ByteMutator.rounds(2_000), encodings(config), bytes -> {
      write(file, bytes);
      try {
        GenerationConfigFile.read(file, 51_865);
      } catch (IllegalArgumentException e) {
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        throw e;
      }
    });
  }

  private static List<byte[]> encodings(String json) {
    List<byte[]> seeds = new ArrayList<>();
    for (Charset cs : List.of(StandardCharsets.UTF_8, StandardCharsets.UTF_16BE,
        StandardCharsets.UTF_16LE, Charset.forName("UTF-32BE"), Charset.forName("UTF-32LE"))) {
      seeds.add(json.getBytes(cs));
    }
    return seeds;
  }

  /** Runs {@code read} on mutations; it returns for a valid file or throws an IAE. */
  private static void fuzz(String what, int mutations, List<byte[]> seeds, Consumer<byte[]> read) {
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    assertTimeoutPreemptively(Duration.ofSeconds(Math.max(60, mutations / 50)), () -> {
      for (int i = 0; i < mutations; i++) {
        byte[] bytes = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
        try {
          read.accept(bytes);
          outcomes.merge("read", 1, Integer::sum);
        } catch (IllegalArgumentException e) {
          assertTrue(e.getMessage() != null, what);
          outcomes.merge("refused", 1, Integer::sum);
        } catch (Throwable t) {
          fail(what + ": threw " + t + " for " + ByteMutator.hex(bytes, 300), t);
        }
      }
    });
    System.out.println("HubFilesFuzzTest, " + what + ": " + mutations + " mutations: "
        + outcomes);
    assertTrue(outcomes.getOrDefault("read", 0) > 10
        && outcomes.getOrDefault("refused", 0) > mutations / 4, what + ": " + outcomes);
  }

  private static void write(Path file, byte[] bytes) {
    try {
      Files.write(file, bytes);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
