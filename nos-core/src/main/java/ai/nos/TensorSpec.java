package ai.nos;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.regex.Pattern;

/**
 * One named input or output of a model: its name, element type and shape.
 *
 * <p>A shape has rank 1 to {@value Tensor#MAX_RANK}. Each dimension is a fixed size {@code >= 1}
 * or {@code -1} for a dimension whose size is only known per call. The first dimension is the
 * batch dimension; it is usually {@code -1}, so that requests can be batched together. The
 * smallest tensor a shape allows (each dynamic dimension at 1) must fit in a {@link Tensor}, at
 * most {@value Integer#MAX_VALUE} bytes.
 *
 * <p>Messages of the exceptions thrown here start with the field they are about ({@code name},
 * {@code dtype}, {@code shape[2]}), so that a {@link Signature} or a JSON reader can put the
 * path of the tensor in front of them.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class TensorSpec {

  /** The size of a dimension only known per call. */
  public static final long DYNAMIC = -1;

  /** The longest name accepted. */
  public static final int MAX_NAME_LENGTH = 64;

  private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_.]*");

  /** What a {@link Tensor} holds at most: a ByteBuffer's capacity. */
  private static final BigInteger MAX_TENSOR_BYTES = BigInteger.valueOf(Integer.MAX_VALUE);

  private final String name;
  private final DType dtype;
  private final long[] shape;

  private TensorSpec(String name, DType dtype, long[] shape) {
    this.name = name;
    this.dtype = dtype;
    this.shape = shape;
  }

  /**
   * Returns a tensor spec.
   *
   * @param name matches {@code [A-Za-z_][A-Za-z0-9_.]*}, at most {@value #MAX_NAME_LENGTH}
   *     characters
   * @param dtype the element type
   * @param shape the dimensions, rank 1 to {@value Tensor#MAX_RANK} (a {@link Tensor}'s most),
   *     each {@code >= 1} or {@code -1} (dynamic), their product with each dynamic one at 1
   *     at most {@value Integer#MAX_VALUE} bytes of {@code dtype} (a Tensor's most); the array
   *     is copied
   * @return the spec
   * @throws IllegalArgumentException if any argument is null or invalid; the message names the
   *     field ({@code name}, {@code dtype}, {@code shape} or {@code shape[i]}), what was expected
   *     and what was given
   */
  public static TensorSpec of(String name, DType dtype, long... shape) {
    checkName(name);
    if (dtype == null) {
      throw new IllegalArgumentException("dtype must not be null in tensor '" + name + "'");
    }
    if (shape == null) {
      throw new IllegalArgumentException("shape must not be null in tensor '" + name + "'");
    }
    if (shape.length == 0) {
      throw new IllegalArgumentException(
          "shape must have rank >= 1 but was [] (rank 0) in tensor '" + name + "'");
    }
    if (shape.length > Tensor.MAX_RANK) {
      throw new IllegalArgumentException("shape must have rank <= " + Tensor.MAX_RANK
          + " (a Tensor's most) but was rank " + shape.length + " in tensor '" + name + "'");
    }
    long[] copy = shape.clone();
    for (int i = 0; i < copy.length; i++) {
      if (copy[i] < 1 && copy[i] != DYNAMIC) {
        throw new IllegalArgumentException("shape[" + i + "] must be -1 (dynamic) or >= 1 but was "
            + copy[i] + " in tensor '" + name + "'");
      }
    }
    checkBytes(name, dtype, copy);
    return new TensorSpec(name, dtype, copy);
  }

  /**
   * Refuses a shape whose smallest tensor, every dynamic dimension at 1, is over what a
   * {@link Tensor} holds: no call could carry it (a fixed dimension, the first included, is what
   * every call sends), so a model declaring it would load and then refuse every call as too big.
   * The count is exact, as the dimensions' product can pass a long.
   */
  private static void checkBytes(String name, DType dtype, long[] shape) {
    BigInteger bytes = BigInteger.valueOf(dtype.byteSize());
    for (long d : shape) {
      if (d != DYNAMIC) {
        bytes = bytes.multiply(BigInteger.valueOf(d));
      }
    }
    if (bytes.compareTo(MAX_TENSOR_BYTES) > 0) {
      long rows = shape[0] == DYNAMIC ? 1 : shape[0];
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of "
          + dtype.label() + " takes at least " + bytes + " bytes (" + rows
          + (rows == 1 ? " row" : " rows") + ", a dynamic dimension counted as 1) but a Tensor"
          + " holds at most " + Integer.MAX_VALUE + " bytes in tensor '" + name + "'");
    }
  }

  private static void checkName(String name) {
    if (name == null) {
      throw new IllegalArgumentException("name must not be null");
    }
    if (name.length() > MAX_NAME_LENGTH || !NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("name must match " + NAME.pattern() + " (1-"
          + MAX_NAME_LENGTH + " characters) but was '" + name + "' (" + name.length()
          + " characters)");
    }
  }

  /** The name, unique among the inputs (or the outputs) of a signature. */
  public String name() {
    return name;
  }

  /** The element type. */
  public DType dtype() {
    return dtype;
  }

  /** A copy of the dimensions; {@code -1} marks a dynamic one. */
  public long[] shape() {
    return shape.clone();
  }

  /** The number of dimensions, 1 to {@value Tensor#MAX_RANK}. */
  public int rank() {
    return shape.length;
  }

  /**
   * The size of one dimension, {@code -1} if it is dynamic.
   *
   * @param index the dimension, {@code 0 <= index < rank()}
   * @throws IndexOutOfBoundsException if {@code index} is out of range
   */
  public long dim(int index) {
    checkIndex(index);
    return shape[index];
  }

  /**
   * Whether one dimension is dynamic ({@code -1}).
   *
   * @param index the dimension, {@code 0 <= index < rank()}
   * @throws IndexOutOfBoundsException if {@code index} is out of range
   */
  public boolean isDynamic(int index) {
    checkIndex(index);
    return shape[index] == DYNAMIC;
  }

  private void checkIndex(int index) {
    if (index < 0 || index >= shape.length) {
      throw new IndexOutOfBoundsException("dimension " + index + " is out of range for rank "
          + shape.length + " in tensor '" + name + "'");
    }
  }

  @Override
  public boolean equals(Object o) {
    if (this == o) {
      return true;
    }
    if (!(o instanceof TensorSpec)) {
      return false;
    }
    TensorSpec t = (TensorSpec) o;
    return name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape);
  }

  @Override
  public int hashCode() {
    return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
  }

  /** Name, type and shape, e.g. {@code image: float32[-1, 1, 8, 8]}. */
  @Override
  public String toString() {
    return name + ": " + dtype.label() + Arrays.toString(shape);
  }
}
