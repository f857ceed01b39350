package ai.nos.internal;

import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.IntToDoubleFunction;

/**
 * How NOS decides that an optimized model still gives the original's results: random inputs for
 * a signature, and the error of one output against its reference. Shared by the load-time steps
 * ({@code internal.torch.LoadPasses}) and nos-optim's {@code AccuracyGuard}, whose class comment
 * explains the metric: {@code max |a - b| / max |b|} over the finite elements of the reference
 * (the absolute error when it is all zeros); a candidate that is not finite where the reference
 * is, or differs where the reference is not finite, is infinitely wrong.
 *
 * <p>Stateless and thread-safe.
 */
public final class Accuracy {
  /** The largest error that passes for a candidate in {@link Precision#FP32}. */
  public static final double FP32_THRESHOLD = 1e-3;
  /** The largest error that passes for a candidate in {@link Precision#FP16} or BF16. */
  public static final double HALF_THRESHOLD = 1e-2;

  private Accuracy() {}

  /** {@link #FP32_THRESHOLD} for FP32, {@link #HALF_THRESHOLD} for FP16 and BF16. */
  public static double threshold(Precision precision) {
    return precision == Precision.FP32 ? FP32_THRESHOLD : HALF_THRESHOLD;
  }

  /** A measured error, or why the tensors differ beyond measure (then the error is infinite). */
  public record Comparison(double error, String problem) {}

  /** Why two outputs cannot be compared (dtype or shape), or null if they can. */
  public static String mismatch(Tensor ref, Tensor cand) {
    if (ref.dtype() != cand.dtype()) {
      return "is " + cand.dtype() + " where the reference is " + ref.dtype();
    }
    if (!Arrays.equals(ref.shape(), cand.shape())) {
      return "has shape " + Arrays.toString(cand.shape()) + " where the reference has "
          + Arrays.toString(ref.shape());
    }
    return null;
  }

  /** The error of {@code cand} against {@code ref}, of the same dtype and shape. */
  public static Comparison compare(Tensor ref, Tensor cand) {
    IntToDoubleFunction b = values(ref);
    IntToDoubleFunction a = values(cand);
    double maxRef = 0;
    double maxDiff = 0;
    for (int i = 0; i < ref.numel(); i++) {
      double bi = b.applyAsDouble(i);
      double ai = a.applyAsDouble(i);
      if (!Double.isFinite(bi)) {
        if (!(Double.isNaN(bi) ? Double.isNaN(ai) : ai == bi)) {
          return new Comparison(Double.POSITIVE_INFINITY, "is " + ai + " at "
              + coordinates(i, ref.shape()) + " where the reference is " + bi);
        }
        continue;
      }
      if (!Double.isFinite(ai)) {
        return new Comparison(Double.POSITIVE_INFINITY, "is " + ai + " at "
            + coordinates(i, ref.shape()) + " where the reference is finite ("
            + format(bi, 3) + ")");
      }
      maxRef = Math.max(maxRef, Math.abs(bi));
      maxDiff = Math.max(maxDiff, Math.abs(ai - bi));
    }
    return new Comparison(maxRef > 0 ? maxDiff / maxRef : maxDiff, null);
  }

  /** {@code value} to {@code digits} significant digits, without trailing zeros. */
  public static String format(double value, int digits) {
    if (!Double.isFinite(value)) {
      return String.valueOf(value);
    }
    return new BigDecimal(value).round(new MathContext(digits)).stripTrailingZeros().toString();
  }

  private static IntToDoubleFunction values(Tensor t) {
    if (t.dtype().isFloatingPoint()) {
      float[] v = t.toFloatArray();
      return i -> v[i];
    }
    if (t.dtype() == DType.BOOL) {
      boolean[] v = t.toBooleanArray();
      return i -> v[i] ? 1 : 0;
    }
    long[] v = t.toLongArray();
    return i -> v[i];
  }

  private static String coordinates(long flat, long[] shape) {
    long[] index = new long[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      index[d] = flat % shape[d];
      flat /= shape[d];
    }
    return Arrays.toString(index);
  }

  /**
   * Random inputs for a spec's signature, the same for the same arguments on every JVM (they come
   * from {@link java.util.Random}, whose algorithm is specified). A dynamic batch dimension (the
   * first) gets {@code batch}, other dynamic dimensions {@code dynamicSize}, fixed ones their size.
   * Floating-point inputs are drawn from N(0, 1) (rounded for float16 and bfloat16), int64 and
   * int32 inputs uniformly from {@code [0, intBound)}, uint8 from {@code [0, min(intBound, 256))},
   * bool inputs are fair coin flips. One generator serves the inputs in signature order. The
   * arguments must be positive.
   *
   * @return one tensor per input, in signature order; unmodifiable
   * @throws IllegalArgumentException if an input would exceed a tensor's size limit
   */
  public static Map<String, Tensor> randomInputs(ModelSpec spec, int batch, int dynamicSize,
      int intBound, long seed) {
    Random random = new Random(seed);
    Map<String, Tensor> inputs = new LinkedHashMap<>();
    for (TensorSpec in : spec.signature().inputs()) {
      long[] shape = in.shape();
      long n = 1;
      for (int d = 0; d < shape.length; d++) {
        if (shape[d] == TensorSpec.DYNAMIC) {
          shape[d] = d == 0 ? batch : dynamicSize;
        }
        n = n > Integer.MAX_VALUE ? n : n * shape[d];
      }
      if (n > Integer.MAX_VALUE / in.dtype().byteSize()) {
        throw new IllegalArgumentException("input '" + in.name() + "' of shape "
            + Arrays.toString(shape) + " would hold " + n + " elements, too many for a tensor");
      }
      inputs.put(in.name(), random(in.dtype(), (int) n, shape, intBound, random));
    }
    return Collections.unmodifiableMap(inputs);
  }

  private static Tensor random(DType dtype, int n, long[] shape, int intBound, Random random) {
    switch (dtype) {
      case FLOAT32:
      case FLOAT16:
      case BFLOAT16: {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
          v[i] = (float) random.nextGaussian();
        }
        return dtype == DType.FLOAT32 ? Tensor.of(v, shape)
            : dtype == DType.FLOAT16 ? Tensor.ofFloat16(v, shape) : Tensor.ofBFloat16(v, shape);
      }
      case INT64: {
        long[] v = new long[n];
        for (int i = 0; i < n; i++) {
          v[i] = random.nextInt(intBound);
        }
        return Tensor.of(v, shape);
      }
      case INT32: {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
          v[i] = random.nextInt(intBound);
        }
        return Tensor.of(v, shape);
      }
      case UINT8: {
        byte[] v = new byte[n];
        for (int i = 0; i < n; i++) {
          v[i] = (byte) random.nextInt(Math.min(intBound, 256));
        }
        return Tensor.of(v, shape);
      }
      default: {
        boolean[] v = new boolean[n];
        for (int i = 0; i < n; i++) {
          v[i] = random.nextBoolean();
        }
        return Tensor.of(v, shape);
      }
    }
  }
}
