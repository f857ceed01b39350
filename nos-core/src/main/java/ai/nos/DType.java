package ai.nos;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The element types a {@link Tensor} and a model signature can hold.
 *
 * <p>Names follow PyTorch ({@code float32}, {@code bfloat16}, ...), so a signature written in JSON
 * reads like the Python that exported the model.
 */
public enum DType {
  FLOAT32("float32", 4, true),
  FLOAT16("float16", 2, true),
  BFLOAT16("bfloat16", 2, true),
  INT64("int64", 8, false),
  INT32("int32", 4, false),
  UINT8("uint8", 1, false),
  BOOL("bool", 1, false);

  private final String label;
  private final int byteSize;
  private final boolean floatingPoint;

  DType(String label, int byteSize, boolean floatingPoint) {
    this.label = label;
    this.byteSize = byteSize;
    this.floatingPoint = floatingPoint;
  }

  /** The PyTorch name of this type, e.g. {@code "float32"}. */
  public String label() {
    return label;
  }

  /** Bytes one element takes. */
  public int byteSize() {
    return byteSize;
  }

  /** Whether this is one of the floating-point types (float32, float16, bfloat16). */
  public boolean isFloatingPoint() {
    return floatingPoint;
  }

  /**
   * Parses a PyTorch type name ({@code "float32"}, case-insensitive; {@code "float"},
   * {@code "half"}, {@code "long"} and {@code "int"} are accepted as PyTorch's aliases).
   *
   * @throws IllegalArgumentException naming the given value and the accepted ones
   */
  public static DType of(String name) {
    if (name != null) {
      String n = name.trim().toLowerCase(Locale.ROOT);
      switch (n) {
        case "float":
          return FLOAT32;
        case "half":
          return FLOAT16;
        case "long":
          return INT64;
        case "int":
          return INT32;
        default:
          for (DType t : values()) {
            if (t.label.equals(n)) {
              return t;
            }
          }
      }
    }
    throw new IllegalArgumentException("dtype must be one of "
        + Arrays.stream(values()).map(DType::label).collect(Collectors.joining(", "))
        + " but was '" + name + "'");
  }

  @Override
  public String toString() {
    return label;
  }
}
