package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.ModelLoadException;
import ai.nos.testing.ByteMutator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds AotiPackage.isPackage and extract seeded byte-level mutations of small packages (stored
 * and deflated entries, one library or batch buckets): the local headers at the start and the
 * central directory at the end get half of the mutations, with sizes, offsets and name lengths
 * set to 0, -1 and the maxima; the entries have comments, which ZipFile decodes only when an
 * entry is reached (bad UTF-8 there was an IllegalArgumentException). Each must be a package
 * extracted whole, or a ModelLoadException
 * naming the model and the package; isPackage answers, never throws. AotiPackageTest's 200
 * mutants go through Nos.load; these through the extraction alone, many more.
 */
final class AotiPackageFuzzTest {

  private static final int MUTATIONS = ByteMutator.rounds(2_000);
  private static final long SEED = ByteMutator.seed(0xA071L);
  private static final ByteMutator MUTATOR = new ByteMutator(128, 256);

  @TempDir Path dir;

  @Test
  void extract_byteMutations_extractWholeOrModelLoadException() throws IOException {
    byte[][] seeds = {
        zip(Map.of("p/data/aotinductor/model/abc.so", bytes(3_000, 1),
            "p/data/aotinductor/model/k.cubin", bytes(500, 2), "p/data/constants/c.bin",
            new byte[2_000]), true),
        zip(Map.of("p/data/aotinductor/model/abc.so", bytes(3_000, 3),
            "p/data/aotinductor/model/k.cubin", bytes(500, 4)), false),
        zip(Map.of("p/data/aotinductor/batch_1/a.so", bytes(1_000, 5),
            "p/data/aotinductor/batch_8/b.so", bytes(1_000, 6)), true)};
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    Path root = dir.resolve("extracted");
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 2_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = MUTATOR.mutate(random, seeds[random.nextInt(seeds.length)]);
        Path file = Files.write(dir.resolve("m.pt2"), bytes);
        outcomes.merge(check(file, root, "sha-" + i, bytes), 1, Integer::sum);
      }
    });
    System.out.println("AotiPackageFuzzTest: " + MUTATIONS + " mutations: " + outcomes);
    assertTrue(outcomes.getOrDefault("extracted", 0) > 50
        && outcomes.getOrDefault("refused", 0) > 50
        && outcomes.getOrDefault("refused, not a package", 0) > 50, outcomes.toString());
  }

  private static String check(Path file, Path root, String sha, byte[] bytes) {
    String replay = ByteMutator.hex(bytes, 300);
    boolean isPackage;
    try {
      isPackage = AotiPackage.isPackage(file);
    } catch (Throwable t) {
      return fail("isPackage threw " + t + " for " + replay, t);
    }
    SortedMap<Integer, Path> libraries;
    try {
      libraries = AotiPackage.extract("fuzzed", file, sha, root);
    } catch (ModelLoadException e) {
      assertTrue(e.getMessage().contains("'fuzzed'") && e.getMessage().contains(file.toString()),
          () -> "the message should name the model and the package: " + e.getMessage());
      return isPackage ? "refused" : "refused, not a package";
    } catch (Throwable t) {
      return fail("extract threw " + t + " for " + replay, t);
    }
    // isPackage may still say no: it wants "PK" first, and ZipFile reads from the end.
    assertTrue(!libraries.isEmpty(), replay);
    for (Path so : libraries.values()) {
      assertTrue(Files.isRegularFile(so) && so.startsWith(root.resolve(sha)), so::toString);
    }
    return isPackage ? "extracted" : "extracted, not a package";
  }

  private static byte[] zip(Map<String, byte[]> entries, boolean deflate) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (ZipOutputStream zip = new ZipOutputStream(out)) {
      for (var e : new TreeMap<>(entries).entrySet()) {
        ZipEntry entry = new ZipEntry(e.getKey());
        entry.setComment("é " + e.getKey().length()); // comments are decoded late, as UTF-8
        if (!deflate) {
          CRC32 crc = new CRC32();
          crc.update(e.getValue());
          entry.setMethod(ZipEntry.STORED);
          entry.setSize(e.getValue().length);
          entry.setCrc(crc.getValue());
        }
        zip.putNextEntry(entry);
        zip.write(e.getValue());
        zip.closeEntry();
      }
    }
    return out.toByteArray();
  }

  private static byte[] bytes(int n, int seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  @Test
  void seeds_extract() throws IOException {
    Path file = Files.write(dir.resolve("s.pt2"), zip(Map.of("p/data/aotinductor/m/a.so",
        bytes(10, 1)), false));
    assertEquals(1, AotiPackage.extract("s", file, "s", dir.resolve("r")).size());
  }
}
