package ai.nos;

/**
 * Conversions between {@code float} and the two 16-bit floating-point formats libtorch uses:
 * IEEE 754 binary16 ({@code float16}, 1 sign, 5 exponent, 10 mantissa bits) and bfloat16 (the
 * top half of a {@code float}: 1 sign, 8 exponent, 7 mantissa bits).
 *
 * <p>Narrowing rounds to nearest, ties to even, as a cast in PyTorch does; NaN stays NaN (keeping
 * the payload bits that fit, and a quiet bit when none do), infinities and signed zeros are kept,
 * and a float16 result too large to represent becomes infinity. Widening is exact.
 *
 * <p>Java 20 added {@code Float.floatToFloat16}; this class exists because the library targets 17.
 */
final class Half {

  private static final int FLOAT_EXP_MASK = 0x7f80_0000;
  private static final int FLOAT_ABS_MASK = 0x7fff_ffff;
  /** The smallest float that rounds to float16 infinity: 65520, halfway past 65504. */
  private static final int HALF_OVERFLOW = 0x477f_f000;
  /** 2^-14, the smallest normal float16. */
  private static final int HALF_MIN_NORMAL = 0x3880_0000;
  /** 2^-25, half the smallest float16 subnormal; it and everything below round to zero. */
  private static final int HALF_ZERO_LIMIT = 0x3300_0000;
  /** Float exponent bias 127 less float16 bias 15, placed in the float exponent field. */
  private static final int REBIAS = (127 - 15) << 23;

  private Half() {}

  /** Rounds {@code f} to the nearest float16, ties to even, and returns its bits. */
  static short floatToHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & FLOAT_ABS_MASK;
    if (abs >= FLOAT_EXP_MASK) {
      if (abs == FLOAT_EXP_MASK) {
        return (short) (sign | 0x7c00);
      }
      int payload = (abs >>> 13) & 0x3ff;
      return (short) (sign | 0x7c00 | (payload == 0 ? 0x200 : payload));
    }
    if (abs >= HALF_OVERFLOW) {
      return (short) (sign | 0x7c00);
    }
    if (abs >= HALF_MIN_NORMAL) {
      // Drop 13 mantissa bits; a carry out of the mantissa correctly bumps the exponent, and the
      // overflow check above keeps it from reaching the infinity pattern.
      return (short) (sign | roundShift(abs - REBIAS, 13));
    }
    if (abs < HALF_ZERO_LIMIT) {
      return (short) sign;
    }
    // Float16 subnormal: the value in units of 2^-24 is significand * 2^(exponent - 150 + 24).
    int exponent = abs >>> 23;
    int significand = (abs & 0x7f_ffff) | 0x80_0000;
    return (short) (sign | roundShift(significand, 126 - exponent));
  }

  /** The exact float value of the float16 with bits {@code h}. */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      return Float.intBitsToFloat(sign | FLOAT_EXP_MASK | (mantissa << 13));
    }
    if (exponent == 0) {
      // Zero or subnormal: mantissa * 2^-24, exact in a float.
      float magnitude = mantissa * 0x1p-24f;
      return sign == 0 ? magnitude : -magnitude;
    }
    return Float.intBitsToFloat(sign | (((bits & 0x7fff) << 13) + REBIAS));
  }

  /** Rounds {@code f} to the nearest bfloat16, ties to even, and returns its bits. */
  static short floatToBFloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & FLOAT_ABS_MASK) > FLOAT_EXP_MASK) {
      // Rounding could carry a NaN's payload into the sign, or truncation leave an infinity.
      int top = bits >>> 16;
      return (short) ((top & 0x7f) == 0 ? top | 0x40 : top);
    }
    // Finite values round into infinity exactly when IEEE says they should; carries into the
    // exponent are the normal renormalisation.
    return (short) roundShift(bits, 16);
  }

  /** The exact float value of the bfloat16 with bits {@code b}. */
  static float bfloat16ToFloat(short b) {
    return Float.intBitsToFloat((b & 0xffff) << 16);
  }

  /**
   * {@code value >>> shift}, rounded to nearest with ties to even. Unsigned, so it works on a raw
   * float pattern with its sign bit set (the sign simply rides along in the high bits).
   */
  private static int roundShift(int value, int shift) {
    int kept = value >>> shift;
    int dropped = value & ((1 << shift) - 1);
    int half = 1 << (shift - 1);
    if (dropped > half || (dropped == half && (kept & 1) != 0)) {
      kept++;
    }
    return kept;
  }
}
