package ai.nos.testing;

import java.util.Arrays;
import java.util.Random;

/**
 * Seeded mutations of binary files (and of text files as bytes) for the parser fuzz tests: bit
 * flips, random bytes, truncations, duplicated, deleted and moved chunks, and 16- and 32-bit
 * fields (little- or big-endian, at any offset) set to 0, 1, -1, the signed and unsigned maxima,
 * or a huge size. Mutations can be aimed at the start and the end of a file, where the headers
 * and their length fields are (a zip archive's directory is at its end): half of them land in
 * the first {@code headerBytes} or the last {@code trailerBytes} bytes. Shipped in nos-core's
 * test jar.
 */
public final class ByteMutator {
  private static final long[] INTERESTING = {0, 1, 2, 7, 8, 16, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000,
      0xFFFF, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL, 0xFFFF_FFFEL, 0x1000_0000L, 0x4000_0000L};

  private static final long[] INTERESTING_LONGS = {Long.MAX_VALUE, Long.MAX_VALUE - 7,
      Long.MAX_VALUE - 0xFFF, 0x7FFF_FFFF_FFFF_F000L, Long.MIN_VALUE, -1L, -4096L, 1L << 62,
      1L << 32, 0x1_0000_0038L};

  private final int headerBytes;
  private final int trailerBytes;
  private final boolean longFields;

  /** @param headerBytes how many leading bytes hold the headers that mutations favour */
  public ByteMutator(int headerBytes) {
    this(headerBytes, 0);
  }

  /**
   * @param headerBytes how many leading bytes hold headers that mutations favour
   * @param trailerBytes how many trailing bytes do
   */
  public ByteMutator(int headerBytes, int trailerBytes) {
    this(headerBytes, trailerBytes, false);
  }

  private ByteMutator(int headerBytes, int trailerBytes, boolean longFields) {
    this.headerBytes = headerBytes;
    this.trailerBytes = trailerBytes;
    this.longFields = longFields;
  }

  /**
   * This mutator that also sets 64-bit fields (a third of the field mutations) to values whose
   * sums overflow a long: Long.MAX_VALUE and just below, Long.MIN_VALUE, -1, 2^62, for formats
   * with 64-bit offsets and sizes (ELF).
   */
  public ByteMutator withLongFields() {
    return new ByteMutator(headerBytes, trailerBytes, true);
  }

  /** Applies one to four mutations to a copy of {@code bytes}. */
  public byte[] mutate(Random random, byte[] bytes) {
    byte[] b = bytes.clone();
    for (int n = 1 + random.nextInt(4); n > 0; n--) {
      b = once(random, b);
    }
    return b;
  }

  private int offset(Random random, byte[] b) {
    if (b.length == 0) {
      return 0;
    }
    if (random.nextBoolean()) {
      return random.nextInt(b.length);
    }
    if (trailerBytes > 0 && (headerBytes == 0 || random.nextBoolean())) {
      return b.length - 1 - random.nextInt(Math.min(b.length, trailerBytes));
    }
    return random.nextInt(Math.min(b.length, Math.max(1, headerBytes)));
  }

  private byte[] once(Random random, byte[] b) {
    if (b.length == 0) {
      return new byte[] {(byte) random.nextInt(256)};
    }
    int at = offset(random, b);
    switch (random.nextInt(10)) {
      case 0: { // a bit flip
        b[at] ^= (byte) (1 << random.nextInt(8));
        return b;
      }
      case 1: { // a random byte
        b[at] = (byte) random.nextInt(256);
        return b;
      }
      case 2: // truncation
        return Arrays.copyOf(b, random.nextInt(b.length));
      case 3: { // a chunk duplicated in place
        int len = Math.min(b.length - at, 1 + random.nextInt(64));
        byte[] out = new byte[b.length + len];
        System.arraycopy(b, 0, out, 0, at + len);
        System.arraycopy(b, at, out, at + len, b.length - at);
        return out;
      }
      case 4: { // a chunk deleted
        int len = Math.min(b.length - at, 1 + random.nextInt(64));
        byte[] out = new byte[b.length - len];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(b, at + len, out, at, b.length - at - len);
        return out;
      }
      case 5: { // a chunk copied over another place
        int from = random.nextInt(b.length);
        int len = Math.min(Math.min(b.length - from, b.length - at), 1 + random.nextInt(32));
        System.arraycopy(b, from, b, at, len);
        return b;
      }
      case 6: { // random bytes inserted
        int len = 1 + random.nextInt(16);
        byte[] out = new byte[b.length + len];
        System.arraycopy(b, 0, out, 0, at);
        for (int i = 0; i < len; i++) {
          out[at + i] = (byte) random.nextInt(256);
        }
        System.arraycopy(b, at, out, at + len, b.length - at);
        return out;
      }
      default: { // a 16-, 32- or 64-bit field set to a value that tests bounds
        if (longFields && random.nextInt(3) == 0) {
          long v = INTERESTING_LONGS[random.nextInt(INTERESTING_LONGS.length)];
          for (int i = 0; i < 8 && at + i < b.length; i++) {
            b[at + i] = (byte) (v >>> (8 * i)); // little-endian, as ELF on x86-64 and arm64
          }
          return b;
        }
        long v = INTERESTING[random.nextInt(INTERESTING.length)];
        if (random.nextInt(4) == 0) {
          v = -v;
        }
        int width = random.nextBoolean() ? 4 : 2;
        boolean little = random.nextBoolean();
        for (int i = 0; i < width && at + i < b.length; i++) {
          int shift = 8 * (little ? i : width - 1 - i);
          b[at + i] = (byte) (v >>> shift);
        }
        return b;
      }
    }
  }

  /**
   * {@code n} times the environment variable {@code NOS_FUZZ_SCALE} (1 when unset): a fuzz test's
   * mutation count, which a local run can raise to search further than CI's time allows.
   */
  public static int rounds(int n) {
    String scale = System.getenv("NOS_FUZZ_SCALE");
    return scale == null ? n : Math.multiplyExact(n, Integer.parseInt(scale));
  }

  /**
   * {@code seed}, or the environment variable {@code NOS_FUZZ_SEED} when set: CI runs the fixed
   * seeds; a local run can search other inputs.
   */
  public static long seed(long seed) {
    String other = System.getenv("NOS_FUZZ_SEED");
    return other == null ? seed : Long.parseLong(other);
  }

  /** The first bytes of {@code b} as hex, for failure messages that let a case be replayed. */
  public static String hex(byte[] b, int max) {
    StringBuilder s = new StringBuilder();
    for (int i = 0; i < Math.min(b.length, max); i++) {
      s.append(String.format("%02x", b[i] & 0xFF));
    }
    return s + (b.length > max ? "... (" + b.length + " bytes)" : " (" + b.length + " bytes)");
  }
}
