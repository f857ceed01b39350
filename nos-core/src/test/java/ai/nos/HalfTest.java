package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Checks {@link Half} against references computed independently: the value formulas of the two
 * formats, and exact (BigDecimal) distances for round-to-nearest-even.
 */
final class HalfTest {

  private static final int PATTERNS = 1 << 16;

  // ---- float16 ------------------------------------------------------------------------------

  @Test
  void halfToFloat_allPatterns_matchFormula() {
    for (int h = 0; h < PATTERNS; h++) {
      float actual = Half.halfToFloat((short) h);
      int sign = (h & 0x8000) != 0 ? -1 : 1;
      int e = (h >>> 10) & 0x1f;
      int m = h & 0x3ff;
      if (e == 0x1f) {
        assertTrue(m == 0 ? Float.isInfinite(actual) : Float.isNaN(actual), hex(h));
        if (m == 0) {
          assertEquals(sign, Math.signum(actual), hex(h));
        }
        continue;
      }
      double expected = e == 0
          ? sign * Math.pow(2, -14) * (m / 1024.0)
          : sign * Math.pow(2, e - 15) * (1 + m / 1024.0);
      assertEquals(Float.floatToIntBits((float) expected), Float.floatToIntBits(actual), hex(h));
    }
  }

  @Test
  void floatToHalf_allPatterns_roundTrip() {
    for (int h = 0; h < PATTERNS; h++) {
      short back = Half.floatToHalf(Half.halfToFloat((short) h));
      if (isHalfNaN(h)) {
        assertTrue(isHalfNaN(back & 0xffff), hex(h) + " -> " + hex(back));
        assertEquals(h & 0x8000, back & 0x8000, "sign of " + hex(h));
      } else {
        assertEquals(hex(h), hex(back));
      }
    }
  }

  @Test
  void floatToHalf_halfwayAndNeighbours_roundToNearestEven() {
    // Every pair of adjacent finite float16 values of either sign, including the pair that spans
    // the subnormal/normal boundary and the step from the largest finite value to infinity.
    for (int sign : new int[] {0, 0x8000}) {
      for (int h = 0; h < 0x7c00; h++) {
        float lo = Half.halfToFloat((short) (sign | h));
        float hi = h + 1 == 0x7c00
            ? (sign == 0 ? 65536f : -65536f) // where the next step would be without the limit
            : Half.halfToFloat((short) (sign | (h + 1)));
        float mid = (float) (((double) lo + hi) / 2); // 12 significant bits: exact in a float
        int even = (h & 1) == 0 ? h : h + 1;
        assertBits(sign | even, Half.floatToHalf(mid), () -> "midpoint " + mid);
        float towardHi = sign == 0 ? Math.nextUp(mid) : Math.nextDown(mid);
        float towardLo = sign == 0 ? Math.nextDown(mid) : Math.nextUp(mid);
        assertBits(sign | (h + 1), Half.floatToHalf(towardHi), () -> "above " + mid);
        assertBits(sign | h, Half.floatToHalf(towardLo), () -> "below " + mid);
      }
    }
  }

  @Test
  void floatToHalf_limits() {
    assertEquals(hex(0x7c00), hex(Half.floatToHalf(65520f)));
    assertEquals(hex(0x7bff), hex(Half.floatToHalf(65519f)));
    assertEquals(hex(0x7bff), hex(Half.floatToHalf(65504f)));
    assertEquals(hex(0xfc00), hex(Half.floatToHalf(-65520f)));
    assertEquals(hex(0x7c00), hex(Half.floatToHalf(Float.MAX_VALUE)));
    assertEquals(hex(0x7c00), hex(Half.floatToHalf(Float.POSITIVE_INFINITY)));
    assertEquals(hex(0xfc00), hex(Half.floatToHalf(Float.NEGATIVE_INFINITY)));
    assertEquals(hex(0x0000), hex(Half.floatToHalf(0f)));
    assertEquals(hex(0x8000), hex(Half.floatToHalf(-0f)));
    assertEquals(hex(0x0001), hex(Half.floatToHalf(0x1p-24f)));
    assertEquals(hex(0x0000), hex(Half.floatToHalf(0x1p-25f)));
    assertEquals(hex(0x0001), hex(Half.floatToHalf(Math.nextUp(0x1p-25f))));
    assertEquals(hex(0x0000), hex(Half.floatToHalf(Float.MIN_VALUE)));
    assertEquals(hex(0x8000), hex(Half.floatToHalf(-Float.MIN_VALUE)));
    assertEquals(hex(0x0400), hex(Half.floatToHalf(0x1p-14f)));
    assertEquals(hex(0x3c00), hex(Half.floatToHalf(1f)));
  }

  @Test
  void floatToHalf_nan_staysNaN() {
    for (int bits : new int[] {0x7fc00000, 0x7f800001, 0x7f801fff, 0x7fffffff, 0xff800001,
        0xffc00000}) {
      short h = Half.floatToHalf(Float.intBitsToFloat(bits));
      assertTrue(isHalfNaN(h & 0xffff), Integer.toHexString(bits) + " -> " + hex(h));
      assertEquals(bits >>> 31, (h & 0x8000) >>> 15, "sign of " + Integer.toHexString(bits));
    }
  }

  @Test
  void floatToHalf_randomFloats_areNearest() {
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < 200_000; i++) {
      // Magnitudes below 65520 so that the result is finite; exponents cover subnormals too.
      float f = Float.intBitsToFloat(random.nextInt(0x3000_0000, 0x477f_f000)
          | (random.nextBoolean() ? 0x8000_0000 : 0));
      int h = Half.floatToHalf(f) & 0xffff;
      assertNearestEven(f, h, Half.halfToFloat((short) (h - 1)),
          Half.halfToFloat((short) h), Half.halfToFloat((short) (h + 1)));
    }
  }

  // ---- bfloat16 -----------------------------------------------------------------------------

  @Test
  void bfloat16ToFloat_allPatterns_matchFormula() {
    for (int b = 0; b < PATTERNS; b++) {
      float actual = Half.bfloat16ToFloat((short) b);
      int sign = (b & 0x8000) != 0 ? -1 : 1;
      int e = (b >>> 7) & 0xff;
      int m = b & 0x7f;
      if (e == 0xff) {
        assertTrue(m == 0 ? Float.isInfinite(actual) : Float.isNaN(actual), hex(b));
        continue;
      }
      double expected = e == 0
          ? sign * Math.pow(2, -126) * (m / 128.0)
          : sign * Math.pow(2, e - 127) * (1 + m / 128.0);
      assertEquals(Float.floatToIntBits((float) expected), Float.floatToIntBits(actual), hex(b));
    }
  }

  @Test
  void floatToBFloat16_allPatterns_roundTrip() {
    for (int b = 0; b < PATTERNS; b++) {
      short back = Half.floatToBFloat16(Half.bfloat16ToFloat((short) b));
      if ((b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0) {
        assertTrue(Float.isNaN(Half.bfloat16ToFloat(back)), hex(b) + " -> " + hex(back));
        assertEquals(b & 0x8000, back & 0x8000, "sign of " + hex(b));
      } else {
        assertEquals(hex(b), hex(back));
      }
    }
  }

  @Test
  void floatToBFloat16_droppedBits_roundToNearestEven() {
    for (int sign : new int[] {0, 0x8000}) {
      for (int b = 0; b < 0x7f80; b++) {
        int bits = (sign | b) << 16;
        int even = (b & 1) == 0 ? b : b + 1;
        int at = b;
        assertBits(sign | even, Half.floatToBFloat16(f(bits | 0x8000)), () -> hex(at));
        assertBits(sign | b + 1, Half.floatToBFloat16(f(bits | 0x8001)), () -> hex(at));
        assertBits(sign | b + 1, Half.floatToBFloat16(f(bits | 0xffff)), () -> hex(at));
        assertBits(sign | b, Half.floatToBFloat16(f(bits | 0x7fff)), () -> hex(at));
        assertBits(sign | b, Half.floatToBFloat16(f(bits | 0x0001)), () -> hex(at));
      }
    }
  }

  @Test
  void floatToBFloat16_randomFloats_areNearest() {
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 200_000; i++) {
      float f = Float.intBitsToFloat(random.nextInt(0, 0x7f7f_8000)
          | (random.nextBoolean() ? 0x8000_0000 : 0));
      int b = Half.floatToBFloat16(f) & 0xffff;
      assertNearestEven(f, b, Half.bfloat16ToFloat((short) (b - 1)),
          Half.bfloat16ToFloat((short) b), Half.bfloat16ToFloat((short) (b + 1)));
    }
  }

  @Test
  void floatToBFloat16_limitsAndNaN() {
    assertEquals(hex(0x7f80), hex(Half.floatToBFloat16(Float.MAX_VALUE)));
    assertEquals(hex(0xff80), hex(Half.floatToBFloat16(-Float.MAX_VALUE)));
    assertEquals(hex(0x7f7f), hex(Half.floatToBFloat16(f(0x7f7f7fff))));
    assertEquals(hex(0x8000), hex(Half.floatToBFloat16(-0f)));
    assertEquals(hex(0x0000), hex(Half.floatToBFloat16(Float.MIN_VALUE)));
    assertEquals(hex(0x3f80), hex(Half.floatToBFloat16(1f)));
    assertEquals(hex(0x7f80), hex(Half.floatToBFloat16(Float.POSITIVE_INFINITY)));
    // Plain rounding would turn these into an infinity, or carry into the sign bit.
    for (int bits : new int[] {0x7f800001, 0x7f808000, 0x7f80ffff, 0x7fffffff, 0xff800001,
        0xffffffff, 0x7fc00000}) {
      short b = Half.floatToBFloat16(f(bits));
      assertTrue(Float.isNaN(Half.bfloat16ToFloat(b)), Integer.toHexString(bits) + " -> " + hex(b));
      assertEquals(bits >>> 31, (b & 0x8000) >>> 15, "sign of " + Integer.toHexString(bits));
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** {@code mid} is the chosen value; it must be at least as near as either neighbour. */
  private static void assertNearestEven(float f, int bits, float below, float mid, float above) {
    BigDecimal x = new BigDecimal(f);
    BigDecimal d = x.subtract(new BigDecimal(mid)).abs();
    for (float n : new float[] {below, above}) {
      if (Float.isNaN(n) || Float.isInfinite(n)) {
        continue;
      }
      int cmp = x.subtract(new BigDecimal(n)).abs().compareTo(d);
      // The message is built only on failure: 400,000 eager String.formats were most of the
      // random tests' time.
      assertTrue(cmp > 0 || (cmp == 0 && (bits & 1) == 0),
          () -> f + " rounded to " + mid + " (" + hex(bits) + ") but " + n + " is as near");
    }
  }

  /**
   * As assertEquals on the hex strings, formatting them only on a failure: the exhaustive loops
   * make hundreds of thousands of checks, and eager String.formats were most of their time.
   */
  private static void assertBits(int expected, short actual, Supplier<String> what) {
    if (expected != (actual & 0xffff)) {
      assertEquals(hex(expected), hex(actual), what.get());
    }
  }

  private static boolean isHalfNaN(int h) {
    return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
  }

  private static float f(int bits) {
    return Float.intBitsToFloat(bits);
  }

  private static String hex(int bits) {
    return String.format("0x%04x", bits & 0xffff);
  }
}
