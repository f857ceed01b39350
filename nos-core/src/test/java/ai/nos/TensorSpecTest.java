package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

final class TensorSpecTest {

  @Test
  void of_valid() {
    TensorSpec t = TensorSpec.of("image", DType.FLOAT32, -1, 1, 8, 8);
    assertEquals("image", t.name());
    assertEquals(DType.FLOAT32, t.dtype());
    assertArrayEquals(new long[] {-1, 1, 8, 8}, t.shape());
    assertEquals(4, t.rank());
    assertEquals(8, t.dim(3));
    assertTrue(t.isDynamic(0));
    assertFalse(t.isDynamic(1));
    assertEquals("image: float32[-1, 1, 8, 8]", t.toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {"x", "_", "input_ids", "encoder.hidden_0", "A1"})
  void of_validNames(String name) {
    assertEquals(name, TensorSpec.of(name, DType.INT64, 3).name());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "1x", "with space", "a-b", ".a", "é", "a/b"})
  void of_invalidName(String name) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of(name, DType.FLOAT32, 1));
    assertEquals("name must match [A-Za-z_][A-Za-z0-9_.]* (1-64 characters) but was '" + name
        + "' (" + name.length() + " characters)", e.getMessage());
  }

  @Test
  void of_nameTooLong() {
    String name = "a".repeat(65);
    assertEquals(64, TensorSpec.of("a".repeat(64), DType.FLOAT32, 1).name().length());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of(name, DType.FLOAT32, 1));
    assertTrue(e.getMessage().startsWith("name must match"), e.getMessage());
    assertTrue(e.getMessage().endsWith("(65 characters)"), e.getMessage());
  }

  @Test
  void of_nullName() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of(null, DType.FLOAT32, 1));
    assertEquals("name must not be null", e.getMessage());
  }

  @Test
  void of_nullDtype() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", null, 1));
    assertEquals("dtype must not be null in tensor 'x'", e.getMessage());
  }

  @Test
  void of_nullShape() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", DType.FLOAT32, (long[]) null));
    assertEquals("shape must not be null in tensor 'x'", e.getMessage());
  }

  @Test
  void of_rankZero() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", DType.FLOAT32));
    assertEquals("shape must have rank >= 1 but was [] (rank 0) in tensor 'x'", e.getMessage());
  }

  @Test
  void of_rankAboveATensors_isRefused() {
    // No Tensor has rank 9, so a model declaring one loaded and then could never be called.
    assertEquals(Tensor.MAX_RANK, TensorSpec.of("x", DType.FLOAT32, -1, 1, 1, 1, 1, 1, 1, 1)
        .rank());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", DType.FLOAT32, -1, 1, 1, 1, 1, 1, 1, 1, 1));
    assertEquals("shape must have rank <= 8 (a Tensor's most) but was rank 9 in tensor 'x'",
        e.getMessage());
  }

  @Test
  void of_rowOverATensorsBytes_isRefused() {
    // 2^15 x 2^14 float32 elements are 2^31 bytes, one past a Tensor's most: no call could carry
    // one row, so a model declaring it loaded and then refused every call as too big.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", DType.FLOAT32, -1, 32768, 16384));
    assertEquals("shape [-1, 32768, 16384] of float32 takes at least 2147483648 bytes (1 row,"
        + " a dynamic dimension counted as 1) but a Tensor holds at most 2147483647 bytes in"
        + " tensor 'x'", e.getMessage());
    // Dynamic dimensions count as 1 and the dtype's size counts: these fit.
    TensorSpec.of("x", DType.FLOAT32, -1, 32767, -1, 16384);
    TensorSpec.of("x", DType.UINT8, -1, 32768, 65535);
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", DType.UINT8, -1, 32768, 65536)).getMessage()
        .startsWith("shape [-1, 32768, 65536] of uint8 takes at least 2147483648 bytes (1 row,"));
  }

  @Test
  void of_fixedBatchOverATensorsBytes_isRefused() {
    // A fixed first dimension is what every call sends: 4 rows of 1 GB cannot be one Tensor.
    TensorSpec.of("x", DType.INT64, -1, 1 << 27);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", DType.INT64, 4, 1 << 27));
    assertEquals("shape [4, 134217728] of int64 takes at least 4294967296 bytes (4 rows, a"
        + " dynamic dimension counted as 1) but a Tensor holds at most 2147483647 bytes in tensor"
        + " 'x'", e.getMessage());
  }

  @Test
  void of_rowBytesBeyondALong_isRefusedWithTheExactCount() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("x", DType.FLOAT32, -1, Long.MAX_VALUE, Long.MAX_VALUE));
    assertTrue(e.getMessage().startsWith("shape [-1, " + Long.MAX_VALUE + ", " + Long.MAX_VALUE
        + "] of float32 takes at least "
        + java.math.BigInteger.valueOf(Long.MAX_VALUE).pow(2).shiftLeft(2) + " bytes"),
        e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(longs = {0, -2, Long.MIN_VALUE})
  void of_badDim(long dim) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorSpec.of("image", DType.FLOAT32, -1, 1, dim, 8));
    assertEquals("shape[2] must be -1 (dynamic) or >= 1 but was " + dim + " in tensor 'image'",
        e.getMessage());
  }

  @Test
  void shape_defensiveCopies() {
    long[] shape = {-1, 10};
    TensorSpec t = TensorSpec.of("logits", DType.FLOAT32, shape);
    shape[1] = 99;
    t.shape()[1] = 77;
    assertArrayEquals(new long[] {-1, 10}, t.shape());
  }

  @Test
  void dim_outOfRange() {
    TensorSpec t = TensorSpec.of("x", DType.FLOAT32, -1, 4);
    IndexOutOfBoundsException e =
        assertThrows(IndexOutOfBoundsException.class, () -> t.dim(2));
    assertEquals("dimension 2 is out of range for rank 2 in tensor 'x'", e.getMessage());
    assertThrows(IndexOutOfBoundsException.class, () -> t.isDynamic(-1));
  }

  @Test
  void equals_byValue() {
    TensorSpec a = TensorSpec.of("x", DType.FLOAT32, -1, 4);
    assertEquals(a, TensorSpec.of("x", DType.FLOAT32, -1, 4));
    assertEquals(a.hashCode(), TensorSpec.of("x", DType.FLOAT32, -1, 4).hashCode());
    assertNotEquals(a, TensorSpec.of("y", DType.FLOAT32, -1, 4));
    assertNotEquals(a, TensorSpec.of("x", DType.FLOAT16, -1, 4));
    assertNotEquals(a, TensorSpec.of("x", DType.FLOAT32, 1, 4));
  }
}
