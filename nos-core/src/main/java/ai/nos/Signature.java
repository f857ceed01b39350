package ai.nos;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The named inputs and outputs of a model, in the order the model takes and returns them.
 *
 * <p>A signature has at least one input and one output; names are unique among the inputs and
 * among the outputs (an input and an output may share a name). All inputs share the batch
 * dimension, so their first dimensions, where fixed, are equal.
 *
 * <p>Messages of the exceptions thrown here start with the path of the field they are about, such
 * as {@code signature.inputs[1].shape[2]}.
 *
 * <p>Instances are immutable and thread-safe. Builders are not thread-safe.
 */
public final class Signature {

  private final List<TensorSpec> inputs;
  private final List<TensorSpec> outputs;
  private final List<String> inputNames;
  private final List<String> outputNames;

  private Signature(Builder builder) {
    this.inputs = List.copyOf(builder.inputs);
    this.outputs = List.copyOf(builder.outputs);
    this.inputNames = names(inputs);
    this.outputNames = names(outputs);
  }

  private static List<String> names(List<TensorSpec> tensors) {
    return tensors.stream().map(TensorSpec::name).collect(Collectors.toUnmodifiableList());
  }

  /** Returns a builder of a signature with no inputs and no outputs yet. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns a builder holding the inputs and outputs of this signature. */
  public Builder toBuilder() {
    Builder builder = new Builder();
    builder.inputs.addAll(inputs);
    builder.outputs.addAll(outputs);
    return builder;
  }

  /** The inputs in the order the model takes them; unmodifiable, never empty. */
  public List<TensorSpec> inputs() {
    return inputs;
  }

  /** The outputs in the order the model returns them; unmodifiable, never empty. */
  public List<TensorSpec> outputs() {
    return outputs;
  }

  /** The names of the {@link #inputs()}, in order; unmodifiable. */
  public List<String> inputNames() {
    return inputNames;
  }

  /** The names of the {@link #outputs()}, in order; unmodifiable. */
  public List<String> outputNames() {
    return outputNames;
  }

  /** The input with the given name, or empty if there is none (or {@code name} is null). */
  public Optional<TensorSpec> input(String name) {
    return find(inputs, name);
  }

  /** The output with the given name, or empty if there is none (or {@code name} is null). */
  public Optional<TensorSpec> output(String name) {
    return find(outputs, name);
  }

  private static Optional<TensorSpec> find(List<TensorSpec> tensors, String name) {
    // A loop, not a stream: every call's inputs are checked by name (Inputs.ordered).
    for (TensorSpec t : tensors) {
      if (t.name().equals(name)) {
        return Optional.of(t);
      }
    }
    return Optional.empty();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Signature
        && inputs.equals(((Signature) o).inputs)
        && outputs.equals(((Signature) o).outputs);
  }

  @Override
  public int hashCode() {
    return inputs.hashCode() * 31 + outputs.hashCode();
  }

  /** Inputs and outputs, e.g. {@code (image: float32[-1, 784]) -> (logits: float32[-1, 10])}. */
  @Override
  public String toString() {
    return "(" + join(inputs) + ") -> (" + join(outputs) + ")";
  }

  private static String join(List<TensorSpec> tensors) {
    return tensors.stream().map(TensorSpec::toString).collect(Collectors.joining(", "));
  }

  /**
   * Collects inputs and outputs in order. {@link #build()} checks the signature as a whole and
   * leaves the builder usable. Not thread-safe.
   */
  public static final class Builder {
    private final List<TensorSpec> inputs = new ArrayList<>();
    private final List<TensorSpec> outputs = new ArrayList<>();

    private Builder() {}

    /**
     * Appends an input.
     *
     * @throws NullPointerException if {@code tensor} is null
     */
    public Builder input(TensorSpec tensor) {
      return add(inputs, "inputs", tensor);
    }

    /**
     * Appends an input made by {@link TensorSpec#of}.
     *
     * @throws NullPointerException if {@code name}, {@code dtype} or {@code shape} is null; the
     *     message names its path, e.g. {@code signature.inputs[1].name}
     * @throws IllegalArgumentException if the tensor is invalid; the message names its path,
     *     e.g. {@code signature.inputs[1].shape[2]}
     */
    public Builder input(String name, DType dtype, long... shape) {
      return input(tensor("inputs", inputs.size(), name, dtype, shape));
    }

    /**
     * Appends an output.
     *
     * @throws NullPointerException if {@code tensor} is null
     */
    public Builder output(TensorSpec tensor) {
      return add(outputs, "outputs", tensor);
    }

    /**
     * Appends an output made by {@link TensorSpec#of}.
     *
     * @throws NullPointerException if {@code name}, {@code dtype} or {@code shape} is null; the
     *     message names its path, e.g. {@code signature.outputs[0].dtype}
     * @throws IllegalArgumentException if the tensor is invalid; the message names its path,
     *     e.g. {@code signature.outputs[0].name}
     */
    public Builder output(String name, DType dtype, long... shape) {
      return output(tensor("outputs", outputs.size(), name, dtype, shape));
    }

    private Builder add(List<TensorSpec> list, String field, TensorSpec tensor) {
      Objects.requireNonNull(tensor,
          () -> "signature." + field + "[" + list.size() + "] must not be null");
      list.add(tensor);
      return this;
    }

    /**
     * A null is the builder's {@link NullPointerException} (docs/api-conventions.md), checked
     * here: {@link TensorSpec#of}, a factory, keeps its documented IllegalArgumentException.
     */
    private static TensorSpec tensor(
        String field, int index, String name, DType dtype, long... shape) {
      String path = "signature." + field + "[" + index + "].";
      Objects.requireNonNull(name, () -> path + "name must not be null");
      Objects.requireNonNull(dtype, () -> path + "dtype must not be null in tensor '" + name + "'");
      Objects.requireNonNull(shape, () -> path + "shape must not be null in tensor '" + name + "'");
      try {
        return TensorSpec.of(name, dtype, shape);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(path + e.getMessage(), e);
      }
    }

    /**
     * Returns the signature.
     *
     * @throws IllegalArgumentException if there is no input or no output, if two inputs (or two
     *     outputs) share a name, or if two inputs have different fixed batch dimensions; the
     *     message names the fields involved
     */
    public Signature build() {
      checkTensors(inputs, "inputs");
      checkTensors(outputs, "outputs");
      checkBatchDims();
      return new Signature(this);
    }

    private static void checkTensors(List<TensorSpec> tensors, String field) {
      if (tensors.isEmpty()) {
        throw new IllegalArgumentException(
            "signature." + field + " must have at least 1 tensor but was empty");
      }
      Map<String, Integer> seen = new HashMap<>();
      for (int i = 0; i < tensors.size(); i++) {
        Integer j = seen.putIfAbsent(tensors.get(i).name(), i);
        if (j != null) {
          throw new IllegalArgumentException("signature." + field + "[" + i + "].name must be "
              + "unique but was '" + tensors.get(i).name() + "', the name of signature." + field
              + "[" + j + "]");
        }
      }
    }

    /** The batch dimension is shared: fixed first dims of all inputs must agree. */
    private void checkBatchDims() {
      int first = -1;
      for (int i = 0; i < inputs.size(); i++) {
        long dim = inputs.get(i).dim(0);
        if (dim == TensorSpec.DYNAMIC) {
          continue;
        }
        if (first < 0) {
          first = i;
        } else if (dim != inputs.get(first).dim(0)) {
          throw new IllegalArgumentException("signature.inputs[" + i + "].shape[0] (the batch "
              + "dimension) must be -1 or " + inputs.get(first).dim(0) + " like signature.inputs["
              + first + "] '" + inputs.get(first).name() + "' but was " + dim + " in tensor '"
              + inputs.get(i).name() + "'");
        }
      }
    }
  }
}
