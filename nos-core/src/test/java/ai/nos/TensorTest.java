package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

final class TensorTest {

  private static final ByteOrder FOREIGN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN
      ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;

  private final List<Tensor> made = new ArrayList<>();

  /** Invariants every tensor must keep, checked on each one a test made. */
  @AfterEach
  void checkInvariants() {
    for (Tensor t : made) {
      long numel = 1;
      for (long d : t.shape()) {
        numel *= d;
      }
      assertEquals(numel, t.numel(), t::toString);
      assertEquals(numel * t.dtype().byteSize(), t.byteSize(), t::toString);
      ByteBuffer b = t.buffer();
      assertTrue(b.isDirect() && b.isReadOnly(), t::toString);
      assertEquals(ByteOrder.nativeOrder(), b.order(), t::toString);
      assertEquals(0, b.position(), t::toString);
      assertEquals(t.byteSize(), b.limit(), t::toString);
    }
  }

  private Tensor track(Tensor t) {
    made.add(t);
    return t;
  }

  // ---- factories round trip -----------------------------------------------------------------

  @ParameterizedTest
  @EnumSource(DType.class)
  void arrayFactory_roundTrips(DType dtype) {
    Tensor t = track(sample(dtype, 2, 3));
    assertEquals(dtype, t.dtype());
    assertArrayEquals(new long[] {2, 3}, t.shape());
    assertEquals(2, t.rank());
    assertEquals(6, t.numel());
    switch (dtype) {
      case FLOAT32:
      case FLOAT16:
      case BFLOAT16:
        assertArrayEquals(new float[] {0f, -1.5f, 2f, 61440f, 0.25f, -0f}, t.toFloatArray());
        break;
      case INT64:
        assertArrayEquals(new long[] {0, -1, 2, Long.MAX_VALUE, Long.MIN_VALUE, 5},
            t.toLongArray());
        break;
      case INT32:
        assertArrayEquals(new int[] {0, -1, 2, Integer.MAX_VALUE, Integer.MIN_VALUE, 5},
            t.toIntArray());
        break;
      case UINT8:
        assertArrayEquals(new int[] {0, 255, 2, 127, 128, 5}, t.toIntArray());
        assertArrayEquals(new long[] {0, 255, 2, 127, 128, 5}, t.toLongArray());
        break;
      default:
        assertArrayEquals(new boolean[] {true, false, false, true, true, false},
            t.toBooleanArray());
    }
  }

  @ParameterizedTest
  @EnumSource(DType.class)
  void fromBuffer_copiesBytesAsIs(DType dtype) {
    Tensor original = sample(dtype, 3, 2);
    ByteBuffer heap = ByteBuffer.allocate((int) original.byteSize() + 5).order(FOREIGN);
    heap.position(5);
    heap.put(original.toByteArray()).position(5);
    Tensor copy = track(Tensor.fromBuffer(dtype, heap, 3, 2));
    assertEquals(original, copy);
    assertEquals(5, heap.position(), "source position unchanged");
    heap.put(5, (byte) 42);
    assertEquals(original, copy, "a copy, not a view");
  }

  @ParameterizedTest
  @EnumSource(DType.class)
  void wrap_sharesTheBuffer(DType dtype) {
    Tensor original = sample(dtype, 6);
    ByteBuffer direct = ByteBuffer.allocateDirect((int) original.byteSize() + 3)
        .order(ByteOrder.nativeOrder());
    direct.position(3);
    direct.put(original.toByteArray()).position(3);
    Tensor wrapped = track(Tensor.wrap(dtype, direct, 6));
    assertEquals(original, wrapped);
    assertEquals(3, direct.position());
    direct.put(3, (byte) 1);
    assertEquals(1, wrapped.toByteArray()[0], "zero-copy");
  }

  @ParameterizedTest
  @EnumSource(DType.class)
  void zeros_areZero(DType dtype) {
    Tensor t = track(Tensor.zeros(dtype, 4, 1, 2));
    assertArrayEquals(new byte[8 * dtype.byteSize()], t.toByteArray());
    assertArrayEquals(new long[] {4, 1, 2}, t.shape());
  }

  @Test
  void of_withoutShape_isOneDimensional() {
    assertArrayEquals(new long[] {3}, track(Tensor.of(new float[3])).shape());
    assertArrayEquals(new long[] {0}, track(Tensor.of(new long[0])).shape());
    assertArrayEquals(new long[] {2}, track(Tensor.ofBFloat16(new float[2])).shape());
  }

  @Test
  void of_copiesDataAndShape() {
    float[] data = {1, 2, 3, 4};
    long[] shape = {2, 2};
    Tensor t = track(Tensor.of(data, shape));
    data[0] = 9;
    shape[0] = 4;
    t.shape()[1] = 7;
    assertArrayEquals(new float[] {1, 2, 3, 4}, t.toFloatArray());
    assertArrayEquals(new long[] {2, 2}, t.shape());
  }

  @Test
  void ofFloat16_rounds() {
    Tensor t = track(Tensor.ofFloat16(new float[] {1f / 3, 65519f, 65520f, Float.NaN, 1e-8f}));
    float[] back = t.toFloatArray();
    assertEquals(0.333251953125f, back[0]);
    assertEquals(65504f, back[1]);
    assertEquals(Float.POSITIVE_INFINITY, back[2]);
    assertTrue(Float.isNaN(back[3]));
    assertEquals(0f, back[4]);
  }

  @Test
  void ofBFloat16_rounds() {
    Tensor t = track(Tensor.ofBFloat16(new float[] {1f / 3, Float.MAX_VALUE, Float.NaN}));
    float[] back = t.toFloatArray();
    assertEquals(0.333984375f, back[0]);
    assertEquals(Float.POSITIVE_INFINITY, back[1]);
    assertTrue(Float.isNaN(back[2]));
  }

  // ---- shapes -------------------------------------------------------------------------------

  @Test
  void of_lengthMismatch_namesBoth() {
    var e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
    assertEquals("data has 5 elements but shape [2, 3] needs 6", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new boolean[1], 0));
    assertEquals("data has 1 elements but shape [0] needs 0", e.getMessage());
  }

  @Test
  void shape_negativeDim_isRejected() {
    var e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new int[6], 2, -3));
    assertEquals("shape[1] must be >= 0 but was -3", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.INT64, -1));
    assertEquals("shape[0] must be >= 0 but was -1 (-1 is not inferred: give every dimension)",
        e.getMessage());
  }

  @Test
  void shape_tooManyBytes_isRejected() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.zeros(DType.FLOAT32, 100000, 100000, 100000));
    assertEquals("shape [100000, 100000, 100000] holds 1000000000000000 elements; a Tensor holds "
        + "at most 2147483647 bytes (float32: 536870911 elements)", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.zeros(DType.INT64, Long.MAX_VALUE, 4));
    assertEquals("shape [9223372036854775807, 4] holds 36893488147419103228 elements; a Tensor "
        + "holds at most 2147483647 bytes (int64: 268435455 elements)", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.of(new float[1], 536870912));
    assertTrue(e.getMessage().startsWith("shape [536870912] holds 536870912 elements"));
  }

  @Test
  void shape_rank_isAtMostEight() {
    assertEquals(8, track(Tensor.zeros(DType.UINT8, 1, 1, 1, 1, 1, 1, 1, 1)).rank());
    var e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.zeros(DType.UINT8, 1, 1, 1, 1, 1, 1, 1, 1, 1));
    assertEquals("shape [1, 1, 1, 1, 1, 1, 1, 1, 1] has rank 9 but a Tensor has rank at most 8",
        e.getMessage());
  }

  @Test
  void scalar_hasRankZero() {
    Tensor zero = track(Tensor.zeros(DType.FLOAT32));
    assertEquals(0, zero.rank());
    assertEquals(1, zero.numel());
    assertEquals(4, zero.byteSize());
    Tensor three = track(Tensor.of(new float[] {3f}).reshape());
    assertEquals(3f, three.getFloat());
    assertEquals("Tensor(float32[], [3.0])", three.toString());
    ByteBuffer bytes = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(0, 7);
    assertEquals(7, track(Tensor.fromBuffer(DType.INT64, bytes)).getLong());
  }

  @Test
  void zeroSizeDim_isAllowed() {
    Tensor t = track(Tensor.of(new float[0], 0, 3));
    assertEquals(0, t.numel());
    assertEquals(0, t.byteSize());
    assertEquals(0, t.toFloatArray().length);
    assertEquals("Tensor(float32[0, 3], [])", t.toString());
    assertEquals(0, track(Tensor.zeros(DType.INT64, 0, 100000, 100000)).numel());
  }

  @Test
  void dim_outOfRange_namesIndexAndRank() {
    Tensor t = track(Tensor.zeros(DType.INT32, 2, 5));
    assertEquals(5, t.dim(1));
    var e = assertThrows(IndexOutOfBoundsException.class, () -> t.dim(2));
    assertEquals("dim 2 is out of range for a rank-2 tensor", e.getMessage());
    assertThrows(IndexOutOfBoundsException.class, () -> t.dim(-1));
  }

  // ---- buffers ------------------------------------------------------------------------------

  @Test
  void fromBuffer_wrongSize_isRejected() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.fromBuffer(DType.FLOAT32, ByteBuffer.allocate(10), 2, 3));
    assertEquals("data has 10 bytes remaining but float32 shape [2, 3] needs 24", e.getMessage());
  }

  @Test
  void wrap_heapBuffer_isRejected() {
    ByteBuffer heap = ByteBuffer.allocate(24).order(ByteOrder.nativeOrder());
    var e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.wrap(DType.FLOAT32, heap, 2, 3));
    assertEquals("wrap needs a direct ByteBuffer but this one is on the heap; use fromBuffer to "
        + "copy it", e.getMessage());
  }

  @Test
  void wrap_foreignOrder_isRejected() {
    ByteBuffer direct = ByteBuffer.allocateDirect(24).order(FOREIGN);
    var e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.wrap(DType.FLOAT32, direct, 2, 3));
    assertEquals("wrap needs a buffer in native byte order (" + ByteOrder.nativeOrder()
        + ") but this one is " + FOREIGN + "; set it with order(ByteOrder.nativeOrder()) once "
        + "its bytes are in that order", e.getMessage());
  }

  @Test
  void wrap_wrongSize_isRejected() {
    ByteBuffer direct = ByteBuffer.allocateDirect(24).order(ByteOrder.nativeOrder());
    var e = assertThrows(IllegalArgumentException.class,
        () -> Tensor.wrap(DType.INT64, direct, 2, 3));
    assertEquals("data has 24 bytes remaining but int64 shape [2, 3] needs 48", e.getMessage());
  }

  @Test
  void buffer_isReadOnlyAndIndependent() {
    Tensor t = track(Tensor.of(new int[] {1, 2, 3}));
    ByteBuffer first = t.buffer();
    assertThrows(ReadOnlyBufferException.class, () -> first.put(0, (byte) 9));
    assertEquals(1, first.getInt());
    assertEquals(4, first.position());
    ByteBuffer second = t.buffer();
    assertEquals(0, second.position());
    assertEquals(3, second.asIntBuffer().get(2));
  }

  // ---- copy-out and element access ----------------------------------------------------------

  @Test
  void copyOut_wrongDType_isIllegalState() {
    Tensor ints = track(Tensor.of(new long[] {1}));
    var e = assertThrows(IllegalStateException.class, ints::toFloatArray);
    assertEquals("toFloatArray needs a floating-point tensor but this tensor is int64",
        e.getMessage());
    assertThrows(IllegalStateException.class, ints::toIntArray);
    assertThrows(IllegalStateException.class, ints::toBooleanArray);
    assertThrows(IllegalStateException.class, () -> ints.getFloat(0));
    Tensor bools = track(Tensor.of(new boolean[] {true}));
    e = assertThrows(IllegalStateException.class, bools::toLongArray);
    assertEquals("toLongArray needs an int64, int32 or uint8 tensor but this tensor is bool",
        e.getMessage());
    Tensor floats = track(Tensor.of(new float[] {1}));
    assertThrows(IllegalStateException.class, () -> floats.getLong(0));
    assertArrayEquals(new byte[4], track(Tensor.zeros(DType.FLOAT32, 1)).toByteArray());
  }

  @Test
  void getFloat_readsRowMajor() {
    Tensor t = track(Tensor.ofFloat16(new float[] {0, 1, 2, 3, 4, 5}, 2, 3));
    assertEquals(5f, t.getFloat(1, 2));
    assertEquals(3f, t.getFloat(1, 0));
    assertEquals(2f, t.getFloat(0, 2));
    assertEquals(1L, track(Tensor.of(new boolean[] {false, true})).getLong(1));
    assertEquals(200L, track(Tensor.of(new byte[] {(byte) 200})).getLong(0));
  }

  @Test
  void getFloat_badIndex_isRejected() {
    Tensor t = track(Tensor.of(new float[6], 2, 3));
    var e = assertThrows(IllegalArgumentException.class, () -> t.getFloat(1));
    assertEquals("index has 1 coordinates but shape [2, 3] has rank 2", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> t.getFloat(1, 3));
    assertEquals("index[1] is 3 but dimension 1 of shape [2, 3] has size 3", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> t.getFloat(-1, 0));
    assertEquals("index[0] is -1 but dimension 0 of shape [2, 3] has size 2", e.getMessage());
  }

  @Test
  void reshape_sharesDataWithNewShape() {
    ByteBuffer direct = ByteBuffer.allocateDirect(24).order(ByteOrder.nativeOrder());
    Tensor t = track(Tensor.wrap(DType.FLOAT32, direct, 2, 3));
    Tensor r = track(t.reshape(3, 1, 2));
    assertArrayEquals(new long[] {3, 1, 2}, r.shape());
    direct.putFloat(20, 7f);
    assertEquals(7f, r.getFloat(2, 0, 1));
    assertEquals(t.reshape(6), r.reshape(6));
    var e = assertThrows(IllegalArgumentException.class, () -> t.reshape(4, 2));
    assertEquals("cannot reshape [2, 3] (6 elements) to [4, 2] (8 elements)", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> t.reshape(-1, 3));
  }

  // ---- Object -------------------------------------------------------------------------------

  @Test
  void equals_comparesDTypeShapeAndBytes() {
    Tensor a = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
    Tensor b = Tensor.fromBuffer(DType.FLOAT32, a.buffer(), 2, 2);
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, a.reshape(4));
    assertNotEquals(a, Tensor.of(new float[] {1, 2, 3, 5}, 2, 2));
    assertNotEquals(Tensor.of(new float[] {0}), Tensor.of(new int[] {0}));
    assertNotEquals(Tensor.of(new float[] {0f}), Tensor.of(new float[] {-0f}));
    assertEquals(Tensor.of(new float[] {Float.NaN}), Tensor.of(new float[] {Float.NaN}));
    assertFalse(a.equals(null));
    assertFalse(a.equals("Tensor"));
  }

  @Test
  void toString_showsDTypeShapeAndFirstValues() {
    assertEquals("Tensor(float32[2, 3], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])",
        Tensor.of(new float[] {0, 1, 2, 3, 4, 5}, 2, 3).toString());
    assertEquals("Tensor(int64[7], [0, 1, 2, 3, 4, 5, ...])",
        Tensor.of(new long[] {0, 1, 2, 3, 4, 5, 6}).toString());
    assertEquals("Tensor(uint8[2], [255, 1])", Tensor.of(new byte[] {-1, 1}).toString());
    assertEquals("Tensor(bool[1, 2], [true, false])",
        Tensor.of(new boolean[] {true, false}, 1, 2).toString());
    assertEquals("Tensor(bfloat16[1], [1.5])", Tensor.ofBFloat16(new float[] {1.5f}).toString());
  }

  @Test
  void sharedTensor_readConcurrently_isConsistent() throws Exception {
    float[] data = new float[4096];
    for (int i = 0; i < data.length; i++) {
      data[i] = i;
    }
    Tensor t = track(Tensor.of(data, 64, 64));
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int w = 0; w < 8; w++) {
        futures.add(pool.submit(() -> {
          for (int i = 0; i < 200; i++) {
            assertArrayEquals(data, t.toFloatArray());
            assertEquals(4095f, t.getFloat(63, 63));
            assertEquals(4095f, t.buffer().position(16380).asFloatBuffer().get(0));
          }
          return null;
        }));
      }
      for (Future<?> f : futures) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Six values of {@code dtype} exercising its extremes, from its array factory. */
  private static Tensor sample(DType dtype, long... shape) {
    float[] floats = {0f, -1.5f, 2f, 61440f, 0.25f, -0f};
    switch (dtype) {
      case FLOAT32:
        return Tensor.of(floats, shape);
      case FLOAT16:
        return Tensor.ofFloat16(floats, shape);
      case BFLOAT16:
        return Tensor.ofBFloat16(floats, shape);
      case INT64:
        return Tensor.of(new long[] {0, -1, 2, Long.MAX_VALUE, Long.MIN_VALUE, 5}, shape);
      case INT32:
        return Tensor.of(new int[] {0, -1, 2, Integer.MAX_VALUE, Integer.MIN_VALUE, 5}, shape);
      case UINT8:
        return Tensor.of(new byte[] {0, -1, 2, 127, -128, 5}, shape);
      default:
        return Tensor.of(new boolean[] {true, false, false, true, true, false}, shape);
    }
  }
}
