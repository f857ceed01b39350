package ai.nos;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A dense, immutable n-dimensional array of one {@link DType}: what a model takes and returns.
 *
 * <p>A tensor is a shape of rank 0 (a scalar) to {@value #MAX_RANK} and a contiguous row-major
 * block of {@code numel() * dtype().byteSize()} bytes in the platform's native byte order, the
 * layout libtorch uses on the CPU. Create one from a Java array ({@link #of(float[], long...)} and
 * its siblings), from bytes ({@link #fromBuffer}, {@link #wrap}) or as {@link #zeros}; read it back
 * with {@code toFloatArray()} and its siblings, {@link #getFloat} or {@link #buffer()}. The array
 * factories make a 1-D tensor when no shape is given; for a scalar, give the buffer factories or
 * {@link #zeros} no shape, or {@link #reshape} a one-element tensor to no shape.
 *
 * <p><b>Thread-safety.</b> Instances are immutable and safe to share between threads without
 * synchronization. The exceptions are a tensor made by {@link #wrap}, which shares the caller's
 * buffer (the caller promises not to change it), and one from a {@link PinnedBuffer}, which
 * reads what the buffer holds when a call runs.
 *
 * <p><b>Memory.</b> The bytes live outside the Java heap, in JVM direct memory
 * ({@link ByteBuffer#allocateDirect}, bounded by {@code -XX:MaxDirectMemorySize}), or, for a
 * tensor of at least 1 MiB made while a model runs on a CUDA device, in pinned host memory from
 * PyTorch's caching host allocator, so that a call moves it to the GPU with one DMA copy and no
 * staging copy (at most 2 GiB held by live tensors at once, then direct memory again; system
 * property {@code nos.pinnedTensorBytes} sets the bound, 0 turns it off). Either way they are
 * freed, or go back to the pool, when the garbage collector reclaims the tensor and every buffer
 * view of it, so a tensor needs no {@code close()}. The runtime copies
 * a tensor's bytes into libtorch for a call and copies results out into new tensors, so no tensor
 * ever points at memory that libtorch owns. A tensor holds at most {@value Integer#MAX_VALUE}
 * bytes, the most a {@link ByteBuffer} can.
 *
 * <p><b>Equality.</b> Two tensors are equal when their dtype, shape and bytes are equal. For
 * floating types this compares bit patterns: {@code NaN} equals a {@code NaN} with the same bits,
 * and {@code 0.0} differs from {@code -0.0}.
 */
public final class Tensor {

  /** The highest rank a tensor may have. */
  public static final int MAX_RANK = 8;

  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final int TO_STRING_VALUES = 6;

  private final DType dtype;
  private final long[] shape;
  private final long numel;
  /** Native order, position 0, limit = byte size; never read with relative operations. */
  private final ByteBuffer data;

  /** Trusts its arguments: a validated shape and a buffer of exactly its bytes. */
  private Tensor(DType dtype, long[] shape, ByteBuffer data) {
    this.dtype = dtype;
    this.shape = shape;
    this.numel = data.capacity() / dtype.byteSize();
    this.data = data;
  }

  /**
   * A {@link DType#FLOAT32} tensor holding a copy of {@code data}; without a shape, 1-D.
   *
   * @throws IllegalArgumentException if the shape is invalid or does not hold {@code data.length}
   *     elements
   */
  public static Tensor of(float[] data, long... shape) {
    return create(DType.FLOAT32, data.length, shape, b -> b.asFloatBuffer().put(data));
  }

  /** A {@link DType#INT64} tensor of a copy of {@code data}; as {@link #of(float[], long...)}. */
  public static Tensor of(long[] data, long... shape) {
    return create(DType.INT64, data.length, shape, b -> b.asLongBuffer().put(data));
  }

  /** A {@link DType#INT32} tensor of a copy of {@code data}; as {@link #of(float[], long...)}. */
  public static Tensor of(int[] data, long... shape) {
    return create(DType.INT32, data.length, shape, b -> b.asIntBuffer().put(data));
  }

  /**
   * A {@link DType#UINT8} tensor holding a copy of {@code data}, each byte read as unsigned (so
   * {@code (byte) -1} is 255); as {@link #of(float[], long...)}.
   */
  public static Tensor of(byte[] data, long... shape) {
    return create(DType.UINT8, data.length, shape, b -> b.put(0, data));
  }

  /** A {@link DType#BOOL} tensor, one byte (0 or 1) per value; as {@link #of(float[], long...)}. */
  public static Tensor of(boolean[] data, long... shape) {
    return create(DType.BOOL, data.length, shape, b -> {
      for (int i = 0; i < data.length; i++) {
        b.put(i, data[i] ? (byte) 1 : (byte) 0);
      }
    });
  }

  /**
   * A {@link DType#FLOAT16} tensor of {@code data} rounded to nearest (ties to even); values beyond
   * ±65504 become infinite, NaN stays NaN. As {@link #of(float[], long...)}.
   */
  public static Tensor ofFloat16(float[] data, long... shape) {
    return ofHalf(DType.FLOAT16, data, shape);
  }

  /**
   * A {@link DType#BFLOAT16} tensor of {@code data} rounded to nearest (ties to even); NaN stays
   * NaN. As {@link #of(float[], long...)}.
   */
  public static Tensor ofBFloat16(float[] data, long... shape) {
    return ofHalf(DType.BFLOAT16, data, shape);
  }

  /**
   * A tensor holding a copy of the remaining bytes of {@code data}, taken as they are: multi-byte
   * values must already be in {@linkplain ByteOrder#nativeOrder() native byte order}, whatever
   * {@code data.order()} says. The source may be heap or direct; its position is left unchanged.
   * The shape is taken literally: no shape means a scalar.
   *
   * @throws IllegalArgumentException if the shape is invalid or {@code data.remaining()} is not
   *     {@code product(shape) * dtype.byteSize()}
   */
  public static Tensor fromBuffer(DType dtype, ByteBuffer data, long... shape) {
    Objects.requireNonNull(dtype, "dtype");
    Objects.requireNonNull(data, "data");
    long[] s = bufferShape(dtype, data, shape);
    ByteBuffer buf = allocate(data.remaining(), false);
    buf.put(0, data, data.position(), data.remaining());
    return new Tensor(dtype, s, buf);
  }

  /** A tensor of zeros (false for {@link DType#BOOL}); no shape means a scalar. */
  public static Tensor zeros(DType dtype, long... shape) {
    Objects.requireNonNull(dtype, "dtype");
    long[] s = shape(shape);
    return new Tensor(dtype, s, allocate(dtype, numel(dtype, s), true));
  }

  /**
   * A tensor over the remaining bytes of {@code direct}, without copying. The bytes must be in
   * native byte order and {@code direct.order()} must say so. The shape is taken literally: no
   * shape means a scalar.
   *
   * <p>The tensor shares the buffer's memory: the caller must not modify those bytes afterwards, or
   * the tensor (and anything that reads it concurrently) sees the change. Use {@link #fromBuffer}
   * when in doubt.
   *
   * @throws IllegalArgumentException if the buffer is not direct, not in native order, or its
   *     remaining bytes do not match the shape, or if the shape is invalid
   */
  public static Tensor wrap(DType dtype, ByteBuffer direct, long... shape) {
    Objects.requireNonNull(dtype, "dtype");
    Objects.requireNonNull(direct, "direct");
    if (!direct.isDirect()) {
      throw new IllegalArgumentException(
          "wrap needs a direct ByteBuffer but this one is on the heap; use fromBuffer to copy it");
    }
    if (direct.order() != NATIVE) {
      throw new IllegalArgumentException("wrap needs a buffer in native byte order (" + NATIVE
          + ") but this one is " + direct.order()
          + "; set it with order(ByteOrder.nativeOrder()) once its bytes are in that order");
    }
    return new Tensor(dtype, bufferShape(dtype, direct, shape), direct.slice().order(NATIVE));
  }

  /** The element type. */
  public DType dtype() {
    return dtype;
  }

  /** A copy of the shape; empty for a scalar. */
  public long[] shape() {
    return shape.clone();
  }

  /**
   * The size of dimension {@code i}.
   *
   * @throws IndexOutOfBoundsException unless {@code 0 <= i < rank()}
   */
  public long dim(int i) {
    if (i < 0 || i >= shape.length) {
      throw new IndexOutOfBoundsException(
          "dim " + i + " is out of range for a rank-" + shape.length + " tensor");
    }
    return shape[i];
  }

  /** The number of dimensions; 0 for a scalar. */
  public int rank() {
    return shape.length;
  }

  /** The number of elements: the product of the shape, 1 for a scalar. */
  public long numel() {
    return numel;
  }

  /** The number of bytes of data: {@code numel() * dtype().byteSize()}. */
  public long byteSize() {
    return data.capacity();
  }

  /**
   * A read-only view of the data: direct, in native byte order, position 0, limit
   * {@link #byteSize()}. Each call returns a new view, so its position is the caller's own.
   */
  public ByteBuffer buffer() {
    return data.asReadOnlyBuffer().order(NATIVE);
  }

  /**
   * The elements as floats, widening float16 and bfloat16 exactly.
   *
   * @throws IllegalStateException unless the dtype is floating-point
   */
  public float[] toFloatArray() {
    need("toFloatArray", "a floating-point tensor", dtype.isFloatingPoint());
    float[] out = new float[(int) numel];
    if (dtype == DType.FLOAT32) {
      data.asFloatBuffer().get(out);
    } else {
      for (int i = 0; i < out.length; i++) {
        out[i] = floatAt(i);
      }
    }
    return out;
  }

  /**
   * The elements as longs; int32 and uint8 (as unsigned) are widened.
   *
   * @throws IllegalStateException unless the dtype is int64, int32 or uint8
   */
  public long[] toLongArray() {
    need("toLongArray", "an int64, int32 or uint8 tensor",
        dtype == DType.INT64 || dtype == DType.INT32 || dtype == DType.UINT8);
    long[] out = new long[(int) numel];
    if (dtype == DType.INT64) {
      data.asLongBuffer().get(out);
    } else {
      for (int i = 0; i < out.length; i++) {
        out[i] = longAt(i);
      }
    }
    return out;
  }

  /**
   * The elements as ints; uint8 is widened as unsigned.
   *
   * @throws IllegalStateException unless the dtype is int32 or uint8
   */
  public int[] toIntArray() {
    need("toIntArray", "an int32 or uint8 tensor", dtype == DType.INT32 || dtype == DType.UINT8);
    int[] out = new int[(int) numel];
    if (dtype == DType.INT32) {
      data.asIntBuffer().get(out);
    } else {
      for (int i = 0; i < out.length; i++) {
        out[i] = data.get(i) & 0xff;
      }
    }
    return out;
  }

  /** A copy of the raw bytes of any dtype, in native byte order. */
  public byte[] toByteArray() {
    byte[] out = new byte[data.capacity()];
    data.get(0, out);
    return out;
  }

  /**
   * The elements as booleans (any nonzero byte is true).
   *
   * @throws IllegalStateException unless the dtype is bool
   */
  public boolean[] toBooleanArray() {
    need("toBooleanArray", "a bool tensor", dtype == DType.BOOL);
    boolean[] out = new boolean[(int) numel];
    for (int i = 0; i < out.length; i++) {
      out[i] = data.get(i) != 0;
    }
    return out;
  }

  /**
   * The element at {@code index} (one coordinate per dimension; none for a scalar) as a float.
   *
   * @throws IllegalStateException unless the dtype is floating-point
   * @throws IllegalArgumentException if the index does not have one in-range value per dimension
   */
  public float getFloat(long... index) {
    need("getFloat", "a floating-point tensor", dtype.isFloatingPoint());
    return floatAt(offset(index));
  }

  /**
   * The element at {@code index} as a long: uint8 unsigned, bool as 0 or 1 (any nonzero byte is 1).
   *
   * @throws IllegalStateException if the dtype is floating-point
   * @throws IllegalArgumentException if the index does not have one in-range value per dimension
   */
  public long getLong(long... index) {
    need("getLong", "an integer or bool tensor", !dtype.isFloatingPoint());
    return longAt(offset(index));
  }

  /**
   * This tensor's data under another shape with the same number of elements, sharing the bytes
   * (which are never modified, so sharing is safe). Every dimension must be given; {@code -1} is
   * not inferred. No shape means a scalar.
   *
   * @throws IllegalArgumentException if the shape is invalid or holds another number of elements
   */
  public Tensor reshape(long... shape) {
    long[] s = shape(shape);
    long n = numel(dtype, s);
    if (n != numel) {
      throw new IllegalArgumentException("cannot reshape " + Arrays.toString(this.shape) + " ("
          + numel + " elements) to " + Arrays.toString(s) + " (" + n + " elements)");
    }
    return new Tensor(dtype, s, data);
  }

  @Override
  public boolean equals(Object o) {
    return o == this || (o instanceof Tensor t && dtype == t.dtype && Arrays.equals(shape, t.shape)
        && data.equals(t.data));
  }

  @Override
  public int hashCode() {
    return 31 * (31 * dtype.hashCode() + Arrays.hashCode(shape)) + data.hashCode();
  }

  /** E.g. {@code Tensor(float32[2, 3], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])}, at most six values. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("Tensor(").append(dtype.label())
        .append(Arrays.toString(shape)).append(", [");
    int shown = (int) Math.min(numel, TO_STRING_VALUES);
    for (int i = 0; i < shown; i++) {
      sb.append(i == 0 ? "" : ", ").append(dtype.isFloatingPoint() ? String.valueOf(floatAt(i))
          : dtype == DType.BOOL ? String.valueOf(longAt(i) != 0) : String.valueOf(longAt(i)));
    }
    if (numel > shown) {
      sb.append(", ...");
    }
    return sb.append("])").toString();
  }

  /** Element {@code i} of a floating-point tensor. */
  private float floatAt(int i) {
    switch (dtype) {
      case FLOAT32:
        return data.getFloat(i * 4);
      case FLOAT16:
        return Half.halfToFloat(data.getShort(i * 2));
      default:
        return Half.bfloat16ToFloat(data.getShort(i * 2));
    }
  }

  /** Element {@code i} of an integer or bool tensor; uint8 unsigned, bool 0 or 1. */
  private long longAt(int i) {
    switch (dtype) {
      case INT64:
        return data.getLong(i * 8);
      case INT32:
        return data.getInt(i * 4);
      case UINT8:
        return data.get(i) & 0xff;
      default:
        return data.get(i) != 0 ? 1 : 0;
    }
  }

  /** Fails, naming the method and the dtype, unless {@code ok}. */
  private void need(String method, String what, boolean ok) {
    if (!ok) {
      throw new IllegalStateException(
          method + " needs " + what + " but this tensor is " + dtype.label());
    }
  }

  /** The row-major element offset of {@code index}, validated against the shape. */
  private int offset(long[] index) {
    Objects.requireNonNull(index, "index");
    if (index.length != shape.length) {
      throw new IllegalArgumentException("index has " + index.length + " coordinates but shape "
          + Arrays.toString(shape) + " has rank " + shape.length);
    }
    long offset = 0;
    for (int d = 0; d < index.length; d++) {
      if (index[d] < 0 || index[d] >= shape[d]) {
        throw new IllegalArgumentException("index[" + d + "] is " + index[d] + " but dimension "
            + d + " of shape " + Arrays.toString(shape) + " has size " + shape[d]);
      }
      offset = offset * shape[d] + index[d];
    }
    return (int) offset;
  }

  /**
   * A tensor from a Java array of {@code n} values that {@code fill} copies into a fresh buffer.
   * Without a shape it is 1-D; otherwise the shape must hold exactly {@code n} values.
   */
  private static Tensor create(DType dtype, int n, long[] shape, Consumer<ByteBuffer> fill) {
    long[] s = shape != null && shape.length == 0 ? new long[] {n} : shape(shape);
    long needed = numel(dtype, s);
    if (needed != n) {
      throw new IllegalArgumentException(
          "data has " + n + " elements but shape " + Arrays.toString(s) + " needs " + needed);
    }
    ByteBuffer buf = allocate(dtype, n, false);
    fill.accept(buf);
    return new Tensor(dtype, s, buf);
  }

  private static Tensor ofHalf(DType dtype, float[] data, long[] shape) {
    boolean fp16 = dtype == DType.FLOAT16;
    return create(dtype, data.length, shape, b -> {
      ShortBuffer out = b.asShortBuffer();
      for (int i = 0; i < data.length; i++) {
        out.put(i, fp16 ? Half.floatToHalf(data[i]) : Half.floatToBFloat16(data[i]));
      }
    });
  }

  /** A validated copy of {@code shape}: rank and signs only; sizes are checked by numel. */
  private static long[] shape(long[] shape) {
    Objects.requireNonNull(shape, "shape");
    if (shape.length > MAX_RANK) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has rank "
          + shape.length + " but a Tensor has rank at most " + MAX_RANK);
    }
    for (int i = 0; i < shape.length; i++) {
      if (shape[i] < 0) {
        throw new IllegalArgumentException("shape[" + i + "] must be >= 0 but was " + shape[i]
            + (shape[i] == -1 ? " (-1 is not inferred: give every dimension)" : ""));
      }
    }
    return shape.clone();
  }

  /** The element count of a validated shape, checked against what a ByteBuffer can hold. */
  private static long numel(DType dtype, long[] shape) {
    long maxElements = Integer.MAX_VALUE / dtype.byteSize();
    BigInteger n = BigInteger.ONE;
    for (long d : shape) {
      n = n.multiply(BigInteger.valueOf(d));
    }
    if (n.compareTo(BigInteger.valueOf(maxElements)) > 0) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n
          + " elements; a Tensor holds at most " + Integer.MAX_VALUE + " bytes ("
          + dtype.label() + ": " + maxElements + " elements)");
    }
    return n.longValue();
  }

  /** The validated shape of a tensor over {@code data}'s remaining bytes. */
  private static long[] bufferShape(DType dtype, ByteBuffer data, long[] shape) {
    long[] s = shape(shape);
    long needed = numel(dtype, s) * dtype.byteSize();
    if (data.remaining() != needed) {
      throw new IllegalArgumentException("data has " + data.remaining() + " bytes remaining but "
          + dtype.label() + " shape " + Arrays.toString(s) + " needs " + needed);
    }
    return s;
  }

  private static ByteBuffer allocate(DType dtype, long numel, boolean zeroed) {
    return allocate((int) (numel * dtype.byteSize()), zeroed);
  }

  /**
   * A native-order direct buffer of {@code bytes}: pinned memory where a CUDA device is in use and
   * the buffer is large ({@code PinnedTensorMemory}), else {@link ByteBuffer#allocateDirect}.
   */
  private static ByteBuffer allocate(int bytes, boolean zeroed) {
    ByteBuffer pinned = ai.nos.internal.torch.PinnedTensorMemory.allocate(bytes, zeroed);
    return pinned != null ? pinned : ByteBuffer.allocateDirect(bytes).order(NATIVE);
  }
}
