package ai.nos.optim;

import ai.nos.ModelSpec;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Representative inputs for an INT8 TensorRT engine
 * ({@link Optimizer#tensorRt(ModelSpec, java.nio.file.Path, Calibration)}), and how far the
 * engine may stray from the fp32 model on them.
 *
 * <p>INT8 kernels need a scale for every activation; TensorRT's entropy calibration (version 2)
 * picks them from the activations these batches produce, so the batches should look like what
 * the model will serve (a few hundred real rows; random noise calibrates for noise). Each batch
 * maps every input of the model's signature to a host tensor of the signature's dtype and
 * shape; all batches have the same number of rows, because TensorRT calibrates at one shape
 * (its calibration profile's), and that number may not exceed the engine's largest batch.
 *
 * <pre>{@code
 * List<Map<String, Tensor>> batches = new ArrayList<>();
 * for (int i = 0; i < 8; i++) {
 *   batches.add(Map.of("image", Tensor.of(pixels(i * 32, 32), 32, 3, 224, 224)));
 * }
 * Optimizer.Result r = optimizer.tensorRt(spec, onnx, Calibration.of(batches));
 * }</pre>
 *
 * <h2>The tolerance</h2>
 * The accuracy guard checks the INT8 engine against the spec's model in fp32 on these same
 * batches (not on random inputs: INT8 ranges are fit to the calibration data, and inputs far
 * outside them saturate, which measures the wrong thing) with the guard's metric, the largest
 * difference over the largest reference value ({@link AccuracyGuard}). fp16's
 * {@value AccuracyGuard#HALF_THRESHOLD} is out of reach for 8-bit activations: the default,
 * {@value #DEFAULT_TOLERANCE}, is a few INT8 quantization steps (1/127 of a tensor's range each)
 * accumulated over a deep network, the order of error that calibrated classifiers show while
 * keeping their top-1 answers. Set your own with {@link Builder#tolerance} after measuring what
 * your task accepts.
 *
 * <p>Immutable and thread-safe; the tensors are not copied (a {@link Tensor} is immutable).
 */
public final class Calibration {
  /** The guard's default tolerance for an INT8 engine (see the class comment). */
  public static final double DEFAULT_TOLERANCE = 0.05;

  private final List<Map<String, Tensor>> batches;
  private final double tolerance;
  private final int rows;
  private volatile String sha256;

  private Calibration(Builder b) {
    this.batches = b.batches;
    this.tolerance = b.tolerance;
    this.rows = (int) b.batches.get(0).values().iterator().next().shape()[0];
  }

  /**
   * Calibration on {@code batches} with the {@linkplain #DEFAULT_TOLERANCE default tolerance}:
   * {@code builder(batches).build()}.
   *
   * @throws NullPointerException if {@code batches}, a batch, a name or a tensor is null
   * @throws IllegalArgumentException as {@link Builder#batches}
   */
  public static Calibration of(List<Map<String, Tensor>> batches) {
    return builder(batches).build();
  }

  /**
   * A builder of calibration on {@code batches} (see {@link Builder#batches}).
   *
   * @throws NullPointerException if {@code batches}, a batch, a name or a tensor is null
   * @throws IllegalArgumentException as {@link Builder#batches}
   */
  public static Builder builder(List<Map<String, Tensor>> batches) {
    return new Builder().batches(batches);
  }

  /** A builder holding this calibration's batches and tolerance. */
  public Builder toBuilder() {
    return builder(batches).tolerance(tolerance);
  }

  /** The batches, in order, each a map of input name to tensor; unmodifiable. */
  public List<Map<String, Tensor>> batches() {
    return batches;
  }

  /** The rows of every batch: the batch TensorRT calibrates at. */
  public int rows() {
    return rows;
  }

  /** The largest relative error the accuracy guard lets the INT8 engine have. */
  public double tolerance() {
    return tolerance;
  }

  /**
   * Checks the batches against the model they calibrate, before anything native sees them:
   * every input of the signature and no other, each of the signature's dtype, rank and fixed
   * sizes, and rows within the engine's batch range.
   *
   * @param maxBatch the engine's largest batch
   * @throws IllegalArgumentException naming the batch, the input, what the spec expects and what
   *     was given
   */
  void check(ModelSpec spec, int maxBatch) {
    String model = "model '" + spec.id() + "'";
    List<String> names = spec.signature().inputNames();
    for (int i = 0; i < batches.size(); i++) {
      Map<String, Tensor> batch = batches.get(i);
      for (String name : batch.keySet()) {
        if (!names.contains(name)) {
          throw new IllegalArgumentException("calibration batches[" + i + "] has input '" + name
              + "', which " + model + " does not take (its inputs are " + names + ")");
        }
      }
      for (TensorSpec input : spec.signature().inputs()) {
        Tensor t = batch.get(input.name());
        if (t == null) {
          throw new IllegalArgumentException("calibration batches[" + i + "] lacks input '"
              + input.name() + "' of " + model + " (its inputs are " + names + "; given "
              + batch.keySet() + ")");
        }
        if (t.dtype() != input.dtype()) {
          throw new IllegalArgumentException("calibration input '" + input.name() + "' of "
              + model + " must be " + input.dtype() + " but batches[" + i + "]'s is "
              + t.dtype());
        }
        if (!fits(input, t.shape())) {
          throw new IllegalArgumentException("calibration input '" + input.name() + "' of "
              + model + " must have shape " + Arrays.toString(input.shape()) + " (-1: any size)"
              + " but batches[" + i + "]'s is " + Arrays.toString(t.shape()));
        }
      }
    }
    if (rows > maxBatch) {
      throw new IllegalArgumentException("calibration batches of " + model + " have " + rows
          + " rows, above the engine's largest batch " + maxBatch + " (the spec's maxBatchSize,"
          + " or " + TensorRtStep.DEFAULT_MAX_BATCH + " without batching)");
    }
  }

  private static boolean fits(TensorSpec spec, long[] shape) {
    if (shape.length != spec.rank()) {
      return false;
    }
    for (int d = 0; d < shape.length; d++) {
      if (!spec.isDynamic(d) && spec.dim(d) != shape[d]) {
        return false;
      }
    }
    return true;
  }

  /**
   * The lowercase hex SHA-256 of every batch in order: each input by name (sorted), its dtype,
   * shape and bytes. Two calibrations with the same data have the same digest, whatever their
   * maps' order; the engine's cache key holds it.
   */
  String sha256() {
    String s = sha256;
    if (s == null) {
      MessageDigest digest = CacheKey.newDigest();
      for (Map<String, Tensor> batch : batches) {
        for (Map.Entry<String, Tensor> e : new TreeMap<>(batch).entrySet()) {
          Tensor t = e.getValue();
          digest.update((e.getKey() + '\0' + t.dtype().label() + '\0'
              + Arrays.toString(t.shape()) + '\0').getBytes(StandardCharsets.UTF_8));
          digest.update(t.buffer());
        }
      }
      s = HexFormat.of().formatHex(digest.digest());
      sha256 = s;
    }
    return s;
  }

  @Override
  public String toString() {
    return "Calibration{" + batches.size() + " batches of " + rows + " rows " + batches.get(0)
        .keySet() + ", tolerance " + tolerance + "}";
  }

  /** Settings of a {@link Calibration}. Not thread-safe; {@link #build} leaves it reusable. */
  public static final class Builder {
    private List<Map<String, Tensor>> batches;
    private double tolerance = DEFAULT_TOLERANCE;

    private Builder() {}

    /**
     * The calibration batches, in the order TensorRT is to see them; replaces any set before.
     * Each maps input names to tensors; all batches have the same names, and every tensor has a
     * batch dimension (its first) with the same rows as every other.
     *
     * @throws NullPointerException naming it if {@code batches}, a batch, a name or a tensor is
     *     null ({@code "batches[2]['image'] must not be null"})
     * @throws IllegalArgumentException if there is no batch, a batch is empty, a tensor is a
     *     scalar or has no rows, or the names or rows differ between inputs or batches
     */
    public Builder batches(List<Map<String, Tensor>> batches) {
      Objects.requireNonNull(batches, "batches must not be null");
      List<Map<String, Tensor>> copy = new ArrayList<>(batches.size());
      for (int i = 0; i < batches.size(); i++) {
        Map<String, Tensor> batch = Objects.requireNonNull(batches.get(i),
            "batches[" + i + "] must not be null");
        Map<String, Tensor> c = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : batch.entrySet()) {
          String name = Objects.requireNonNull(e.getKey(),
              "batches[" + i + "]'s input names must not be null");
          c.put(name, Objects.requireNonNull(e.getValue(),
              "batches[" + i + "]['" + name + "'] must not be null"));
        }
        copy.add(Collections.unmodifiableMap(c));
      }
      checkShapes(copy);
      this.batches = Collections.unmodifiableList(copy);
      return this;
    }

    /**
     * The largest relative error the guard lets the engine have on the batches; default
     * {@value Calibration#DEFAULT_TOLERANCE}.
     *
     * @throws IllegalArgumentException unless {@code tolerance} is in (0, 1]
     */
    public Builder tolerance(double tolerance) {
      if (!(tolerance > 0 && tolerance <= 1)) {
        throw new IllegalArgumentException("tolerance must be in (0, 1] but was " + tolerance);
      }
      this.tolerance = tolerance;
      return this;
    }

    public Calibration build() {
      return new Calibration(this);
    }

    private static void checkShapes(List<Map<String, Tensor>> batches) {
      if (batches.isEmpty()) {
        throw new IllegalArgumentException("batches must hold at least one batch");
      }
      String firstName = null;
      long rows = -1;
      for (int i = 0; i < batches.size(); i++) {
        Map<String, Tensor> batch = batches.get(i);
        if (batch.isEmpty()) {
          throw new IllegalArgumentException("batches[" + i + "] must hold at least one input");
        }
        if (!batch.keySet().equals(batches.get(0).keySet())) {
          throw new IllegalArgumentException("batches[" + i + "] has inputs " + batch.keySet()
              + " but batches[0] has " + batches.get(0).keySet());
        }
        for (Map.Entry<String, Tensor> e : batch.entrySet()) {
          String at = "batches[" + i + "]['" + e.getKey() + "']";
          long[] shape = e.getValue().shape();
          if (shape.length == 0 || shape[0] < 1) {
            throw new IllegalArgumentException(at + " has shape " + Arrays.toString(shape)
                + ": a calibration input needs a batch dimension (its first) of 1 row or more");
          }
          if (rows < 0) {
            rows = shape[0];
            firstName = at;
          } else if (shape[0] != rows) {
            throw new IllegalArgumentException(at + " has " + shape[0] + " rows but "
                + firstName + " has " + rows + ": TensorRT calibrates every input of every"
                + " batch at one batch size");
          }
        }
      }
    }
  }
}
