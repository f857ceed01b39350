package ai.nos.hub;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Base64;
import java.util.Deque;

/*
 * A Precompiled normalizer's charsmap (SentencePiece's normalization rules: T5, ALBERT, XLNet,
 * mBART) checked as the native tokenizers library (0.21, spm_precompiled 0.1.4) will read it.
 *
 * The format: base64 of [u32 trie size in bytes, little-endian][the trie: u32 units][normalized
 * strings, UTF-8, each ended by a NUL]. The trie is darts-clone's double array: from a node at
 * position s, byte c leads to unit s ^ c, a child if that unit's label is c; the child's own
 * position is (s ^ c) ^ offset(unit), where a leaf unit (label 0) holds the index of a
 * replacement in the normalized strings.
 *
 * What the library does not survive: a charsmap that is not canonical base64, shorter than its
 * size field, or whose strings are not UTF-8 panics as the file loads (the normalizer's
 * deserializer unwraps the parse); a trie whose units lead outside it (an empty trie, an offset
 * past its end) or a leaf whose index lies past the strings or inside a character panics at the
 * first text normalized. So every node reachable from the root is followed: its 255 possible
 * children (any byte but NUL, which ends a search) must be inside the trie, and each leaf's
 * index a character boundary of the strings. Tries that SentencePiece writes pass: darts-clone
 * grows its array in blocks of 256 units, and the 256 positions s ^ c share the block of s.
 * Each position is followed once: the work is at most 255 steps a unit (a T5 charsmap's ~40,000
 * units: a few milliseconds).
 */
final class PrecompiledCharsmap {

  private PrecompiledCharsmap() {}

  /** What would make the library abort on {@code base64}, or null if nothing. */
  static String problem(String base64) {
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(base64);
    } catch (IllegalArgumentException e) {
      return "is not base64 (" + e.getMessage() + ")";
    }
    if (!Base64.getEncoder().encodeToString(bytes).equals(base64)) {
      return "is not canonical base64 (padded, no stray bits), which the library requires";
    }
    ByteBuffer in = ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    if (bytes.length < 4) {
      return "holds " + bytes.length + " bytes, too few for its trie's size";
    }
    long units = Integer.toUnsignedLong(in.getInt(0)) / 4;
    if (4 + units * 4 > bytes.length) {
      return "claims a trie of " + units + " units but holds " + (bytes.length - 4) / 4;
    }
    int n = (int) units;
    int[] trie = new int[n];
    for (int i = 0; i < n; i++) {
      trie[i] = in.getInt(4 + 4 * i);
    }
    int stringsAt = 4 + 4 * n;
    byte[] strings = java.util.Arrays.copyOfRange(bytes, stringsAt, bytes.length);
    try {
      StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(strings));
    } catch (CharacterCodingException e) {
      return "has normalized strings that are not UTF-8";
    }
    if (n == 0) {
      return "has an empty trie";
    }
    boolean[] seen = new boolean[n];
    Deque<Long> nodes = new ArrayDeque<>();
    nodes.push(offset(trie[0]));
    while (!nodes.isEmpty()) {
      long s = nodes.pop();
      if ((s | 0xFF) >= n) {
        return "has a trie node whose children (from unit " + s + ") lie past its " + n
            + " units";
      }
      if (seen[(int) s]) {
        continue;
      }
      seen[(int) s] = true;
      for (int c = 1; c < 256; c++) {
        int unit = trie[(int) (s ^ c)];
        if ((unit & 0x800000FF) != c) { // label(): the byte, or bit 31 for a leaf
          continue;
        }
        long child = (s ^ c) ^ offset(unit);
        if ((unit >>> 8 & 1) == 1) { // has_leaf: the leaf is at the child's position
          if (child >= n) {
            return "has a leaf at unit " + child + ", past its " + n + " units";
          }
          int value = trie[(int) child] & 0x7FFFFFFF;
          boolean inside = value < strings.length && (strings[value] & 0xC0) == 0x80;
          if (value > strings.length || inside) {
            return "has a leaf pointing to byte " + value + " of its " + strings.length
                + " bytes of strings, " + (value > strings.length ? "past their end"
                : "inside a character");
          }
        }
        nodes.push(child);
      }
    }
    return null;
  }

  /** darts-clone's offset(): bits 10.. shifted left by 8 when bit 9 is set. */
  private static long offset(int unit) {
    long u = Integer.toUnsignedLong(unit);
    return (u >>> 10) << ((u & (1 << 9)) >>> 6);
  }
}
