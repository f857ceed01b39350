package ai.nos;

import java.util.Locale;

/**
 * The floating-point precision a model's weights and activations run in.
 *
 * <p>Labels are short ({@code "fp16"}); {@link #of} also accepts the PyTorch type names
 * ({@code "float16"}, {@code "half"}) so a spec can be written in either vocabulary.
 */
public enum Precision {
  /** 32-bit IEEE floats. */
  FP32("fp32", DType.FLOAT32),
  /** 16-bit IEEE floats (half precision). */
  FP16("fp16", DType.FLOAT16),
  /** 16-bit brain floats: the range of fp32 with 8 bits of mantissa. */
  BF16("bf16", DType.BFLOAT16);

  private static final String ACCEPTED = "fp32, float32, fp16, float16, half, bf16, bfloat16";

  private final String label;
  private final DType dtype;

  Precision(String label, DType dtype) {
    this.label = label;
    this.dtype = dtype;
  }

  /** The short name, e.g. {@code "fp16"}; the form {@link ModelSpec#toJson()} writes. */
  public String label() {
    return label;
  }

  /** The element type of tensors in this precision, e.g. {@link DType#FLOAT16} for FP16. */
  public DType dtype() {
    return dtype;
  }

  /**
   * Parses a precision name, ignoring case and surrounding whitespace.
   *
   * @param name one of {@code fp32, float32, fp16, float16, half, bf16, bfloat16}
   * @return the precision it names
   * @throws IllegalArgumentException if {@code name} is null or not accepted; the message names
   *     the accepted values and the given one
   */
  public static Precision of(String name) {
    if (name != null) {
      switch (name.trim().toLowerCase(Locale.ROOT)) {
        case "fp32":
        case "float32":
          return FP32;
        case "fp16":
        case "float16":
        case "half":
          return FP16;
        case "bf16":
        case "bfloat16":
          return BF16;
        default:
          break;
      }
    }
    throw new IllegalArgumentException("precision must be one of " + ACCEPTED + " but was "
        + (name == null ? "null" : "'" + name + "'"));
  }

  /** The {@link #label()}. */
  @Override
  public String toString() {
    return label;
  }
}
