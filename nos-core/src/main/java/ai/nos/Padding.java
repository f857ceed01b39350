package ai.nos;

import java.util.Objects;

/**
 * Lets requests whose input differs in one dynamic dimension share a batch: each request's input
 * is padded in that dimension with {@link #value()} up to the longest request of the batch, as
 * token ids are padded to the longest sentence. An {@link Unpad} rule says which output dimension
 * follows that input dimension, so that each request gets its output cut back to its own length.
 *
 * <pre>{@code
 * Batching.builder().maxBatchSize(32)
 *     .padding(Padding.of("ids", 1, 0))                     // ids: int64[-1, -1]
 *     .unpad(Padding.unpad("hidden", 1, "ids", 1))          // hidden: float32[-1, -1, 768]
 *     .build();
 * }</pre>
 *
 * <p>A rule is checked against the signature when the {@link ModelSpec} is built: the tensors
 * must exist, the dimension must be dynamic ({@code -1}) and the value must fit the input's dtype.
 * Messages of the exceptions thrown here start with the field they are about ({@code input},
 * {@code dim}, {@code value}; for an unpad rule {@code output}, {@code dim}, {@code input},
 * {@code inputDim}), the names these fields have in JSON.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Padding {

  private final String input;
  private final int dim;
  private final double value;

  private Padding(String input, int dim, double value) {
    this.input = input;
    this.dim = dim;
    this.value = value;
  }

  /**
   * Returns a rule that pads dimension {@code dim} of input {@code input} with {@code value}.
   *
   * @param input the name of an input of the signature
   * @param dim a dynamic dimension of that input, {@code >= 1} (dimension 0 is the batch)
   * @param value the pad value, finite; for an integer or bool input, a value of that type
   * @throws IllegalArgumentException if {@code input} is null or empty, {@code dim < 1} or
   *     {@code value} is not finite
   */
  public static Padding of(String input, int dim, double value) {
    name(input, "input");
    dimension(dim, "dim", input);
    if (!Double.isFinite(value)) {
      throw new IllegalArgumentException(
          "value must be finite but was " + value + " in padding of input '" + input + "'");
    }
    return new Padding(input, dim, value);
  }

  /**
   * Returns a rule that cuts dimension {@code outputDim} of output {@code output} back, for each
   * request, to the size that request's input {@code input} has in dimension {@code inputDim}.
   * That input dimension must be padded by a {@link Padding} rule of the same batching.
   *
   * @throws IllegalArgumentException if a name is null or empty or a dimension is {@code < 1}
   */
  public static Unpad unpad(String output, int outputDim, String input, int inputDim) {
    name(output, "output");
    dimension(outputDim, "dim", output);
    name(input, "input");
    dimension(inputDim, "inputDim", input);
    return new Unpad(output, outputDim, input, inputDim);
  }

  private static void name(String name, String field) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException(field + " must name a tensor but was "
          + (name == null ? "null" : "empty"));
    }
  }

  private static void dimension(int dim, String field, String tensor) {
    if (dim < 1) {
      throw new IllegalArgumentException(field + " must be >= 1 (dim 0 is the batch dimension) but"
          + " was " + dim + " for tensor '" + tensor + "'");
    }
  }

  /** The name of the input that is padded. */
  public String input() {
    return input;
  }

  /** The dimension of the input that is padded, {@code >= 1}. */
  public int dim() {
    return dim;
  }

  /** The value written into the padding, converted to the input's dtype. */
  public double value() {
    return value;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Padding p && input.equals(p.input) && dim == p.dim
        && Double.compare(value, p.value) == 0;
  }

  @Override
  public int hashCode() {
    return Objects.hash(input, dim, value);
  }

  /** E.g. {@code pad ids[1] with 0.0}. */
  @Override
  public String toString() {
    return "pad " + input + "[" + dim + "] with " + value;
  }

  /**
   * Which output dimension follows a padded input dimension: each request's output is cut back in
   * it to that request's own input size. Made by {@link Padding#unpad}.
   *
   * <p>Instances are immutable and thread-safe.
   */
  public static final class Unpad {
    private final String output;
    private final int dim;
    private final String input;
    private final int inputDim;

    private Unpad(String output, int dim, String input, int inputDim) {
      this.output = output;
      this.dim = dim;
      this.input = input;
      this.inputDim = inputDim;
    }

    /** The name of the output that is cut back. */
    public String output() {
      return output;
    }

    /** The dimension of the output that is cut back, {@code >= 1}. */
    public int dim() {
      return dim;
    }

    /** The name of the padded input whose size the output dimension follows. */
    public String input() {
      return input;
    }

    /** The padded dimension of that input. */
    public int inputDim() {
      return inputDim;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Unpad u && output.equals(u.output) && dim == u.dim
          && input.equals(u.input) && inputDim == u.inputDim;
    }

    @Override
    public int hashCode() {
      return Objects.hash(output, dim, input, inputDim);
    }

    /** E.g. {@code unpad hidden[1] to ids[1]}. */
    @Override
    public String toString() {
      return "unpad " + output + "[" + dim + "] to " + input + "[" + inputDim + "]";
    }
  }
}
