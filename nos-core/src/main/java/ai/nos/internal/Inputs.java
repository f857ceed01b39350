package ai.nos.internal;

import ai.nos.ModelSpec;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Checks a call's inputs against the model's signature, in Java, before any native call: a tensor
 * of the wrong name, dtype, rank or size never reaches libtorch.
 */
public final class Inputs {
  private Inputs() {}

  /**
   * Validates {@code inputs} and returns them in signature order.
   *
   * @throws IllegalArgumentException naming the input, what the signature expects and what was given
   */
  public static List<Tensor> ordered(ModelSpec spec, Map<String, Tensor> inputs) {
    String id = spec.id();
    if (inputs == null) {
      throw new IllegalArgumentException("inputs of model '" + id + "' must not be null");
    }
    List<TensorSpec> wanted = spec.signature().inputs();
    for (String name : inputs.keySet()) {
      if (name == null) {
        throw new IllegalArgumentException("inputs of model '" + id + "' hold a null name; its"
            + " inputs are " + spec.signature().inputNames());
      }
      if (spec.signature().input(name).isEmpty()) {
        throw new IllegalArgumentException("model '" + id + "' has no input '" + name
            + "'; its inputs are " + spec.signature().inputNames());
      }
    }
    List<Tensor> ordered = new ArrayList<>(wanted.size());
    String batchOwner = null;
    long batch = -1;
    for (TensorSpec ts : wanted) {
      Tensor t = inputs.get(ts.name());
      if (t == null) {
        throw new IllegalArgumentException("model '" + id + "' needs input '" + ts.name() + "' ("
            + ts.dtype() + Arrays.toString(ts.shape()) + ") but it was "
            + (inputs.containsKey(ts.name()) ? "null" : "not given; given: " + inputs.keySet()));
      }
      check(id, ts, t);
      ai.nos.ImageInput image = spec.imageInputs().get(ts.name());
      if (image != null) {
        // The size the pre-processing would resize to, checked before any pixel is copied.
        try {
          image.geometry((int) Math.min(Integer.MAX_VALUE, t.dim(2)),
              (int) Math.min(Integer.MAX_VALUE, t.dim(1)));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("image input '" + ts.name() + "' of model '" + id
              + "': " + e.getMessage(), e);
        }
      }
      long n = t.dim(0);
      if (batchOwner == null) {
        batchOwner = ts.name();
        batch = n;
      } else if (n != batch) {
        throw new IllegalArgumentException("inputs of model '" + id + "' must share the batch size"
            + " (dim 0): '" + batchOwner + "' has " + batch + " but '" + ts.name() + "' has " + n);
      }
      ordered.add(t);
    }
    if (spec.batching().isPresent() && batch > spec.batching().get().maxBatchSize()) {
      throw new IllegalArgumentException("input '" + batchOwner + "' of model '" + id
          + "' has batch size " + batch + " but the spec's batching.maxBatchSize is "
          + spec.batching().get().maxBatchSize());
    }
    return ordered;
  }

  private static void check(String id, TensorSpec ts, Tensor t) {
    String what = "input '" + ts.name() + "' of model '" + id + "'";
    if (t.dtype() != ts.dtype()) {
      throw new IllegalArgumentException(what + " must be " + ts.dtype() + " but was " + t.dtype());
    }
    long[] want = ts.shape();
    long[] got = t.shape();
    if (got.length != want.length) {
      throw new IllegalArgumentException(what + " must have rank " + want.length + " (shape "
          + Arrays.toString(want) + ") but has rank " + got.length + " (shape "
          + Arrays.toString(got) + ")");
    }
    for (int i = 0; i < want.length; i++) {
      if (want[i] != -1 && got[i] != want[i]) {
        throw new IllegalArgumentException(what + " must have size " + want[i] + " in dim " + i
            + " (shape " + Arrays.toString(want) + ") but has " + got[i] + " (shape "
            + Arrays.toString(got) + ")");
      }
    }
    if (got[0] == 0) {
      throw new IllegalArgumentException(what + " has batch size 0 (shape " + Arrays.toString(got)
          + "); a batch holds at least one item");
    }
  }
}
