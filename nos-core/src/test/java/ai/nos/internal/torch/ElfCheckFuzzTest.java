package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.ByteMutator;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds ElfCheck, the guard that keeps a library whose segments reach past its end away from
 * dlopen (which dies of SIGBUS on one), seeded mutations of a real shared library (the JDK's
 * libzip): the ELF and program headers get half of them, 64-bit offsets and sizes set to values
 * whose sums overflow a long. Whatever ElfCheck passes must, by exact arithmetic, have its
 * program headers and every loadable or dynamic segment inside the file; anything else must be
 * a problem string, never an exception.
 */
final class ElfCheckFuzzTest {
  private static final int MUTATIONS = ByteMutator.rounds(3_000);
  private static final long SEED = ByteMutator.seed(0xE1FL);

  @TempDir Path dir;

  @Test
  void problem_mutations_passOnlyWhatLiesInsideTheFile() throws IOException {
    Path libzip = Path.of(System.getProperty("java.home"), "lib", "libzip.so");
    byte[] whole = Files.readAllBytes(libzip);
    assertNull(ElfCheck.problem(new RandomAccessFile(libzip.toFile(), "r")));
    int headers = 64 + 56 * Short.toUnsignedInt(le(whole).getShort(56));
    ByteMutator mutator = new ByteMutator(headers).withLongFields();
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    Path file = dir.resolve("lib.so");
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 3_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = mutator.mutate(random, whole);
        Files.write(file, bytes);
        String problem;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
          problem = ElfCheck.problem(f);
        } catch (Throwable t) {
          fail("ElfCheck threw " + t + " for " + ByteMutator.hex(bytes, headers), t);
          return;
        }
        if (problem == null) {
          String outside = outside(bytes);
          assertNull(outside, () -> "ElfCheck passed a library with " + outside + ": "
              + ByteMutator.hex(bytes, headers));
        }
        outcomes.merge(problem == null ? "passed" : "refused", 1, Integer::sum);
      }
    });
    System.out.println("ElfCheckFuzzTest: " + MUTATIONS + " mutations: " + outcomes);
    assertTrue(outcomes.getOrDefault("passed", 0) > 100
        && outcomes.getOrDefault("refused", 0) > 300, outcomes.toString());
  }

  /**
   * A loadable segment starting near Long.MAX_VALUE: its offset plus its size overflowed to a
   * negative end, which the "offset + filesz > size" check passed (dlopen then refused it, "failed
   * to map segment", but the guard's contract is to refuse what reaches past the file).
   */
  @Test
  void problem_segmentOffsetWhoseEndOverflows_isRefused() throws IOException {
    byte[] b = Files.readAllBytes(Path.of(System.getProperty("java.home"), "lib", "libzip.so"));
    int phoff = (int) le(b).getLong(32);
    assertTrue(le(b).getInt(phoff) == 1, "libzip's first program header is PT_LOAD");
    le(b).putLong(phoff + 8, 0x7FFF_FFFF_FFFF_F000L);
    Path file = Files.write(dir.resolve("overflow.so"), b);
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      String problem = ElfCheck.problem(f);
      assertTrue(problem != null && problem.startsWith("segment 0 ends at byte "
          + new BigInteger("9223372036854771712").add(unsigned(le(b).getLong(phoff + 32)))),
          String.valueOf(problem));
    }
  }

  /** What of a (passed) library lies outside the file, by exact arithmetic; null if nothing. */
  private static String outside(byte[] b) {
    if (b.length < 64) {
      return "fewer bytes than an ELF header";
    }
    ByteBuffer h = le(b);
    BigInteger size = BigInteger.valueOf(b.length);
    BigInteger phoff = unsigned(h.getLong(32));
    int phentsize = Short.toUnsignedInt(h.getShort(54));
    int phnum = Short.toUnsignedInt(h.getShort(56));
    BigInteger phend = phoff.add(BigInteger.valueOf((long) phnum * phentsize));
    if (phend.compareTo(size) > 0) {
      return "program headers ending at " + phend;
    }
    for (int i = 0; i < phnum; i++) {
      int at = phoff.intValueExact() + i * phentsize;
      int type = h.getInt(at);
      BigInteger end = unsigned(h.getLong(at + 8)).add(unsigned(h.getLong(at + 32)));
      if ((type == 1 || type == 2) && end.compareTo(size) > 0) {
        return "segment " + i + " (type " + type + ") ending at " + end;
      }
    }
    return null;
  }

  private static BigInteger unsigned(long v) {
    return new BigInteger(Long.toUnsignedString(v));
  }

  private static ByteBuffer le(byte[] b) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
  }
}
