package ai.nos.spark;

import ai.nos.DType;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.io.Serializable;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import scala.collection.immutable.ArraySeq;

/**
 * Spark values to NOS tensors and back, for one tensor of a signature.
 *
 * <p>A row's value is the tensor's slice for that row, flattened: an array column of numbers (or an
 * ML {@code Vector}) whose length is the product of the tensor's dimensions after the batch one.
 * One of those dimensions may be dynamic; it then takes the length over the product of the others,
 * and rows of different lengths go into different calls. An output comes back as a flat array
 * column of its elements: {@code array<float>} for the floating dtypes, {@code array<bigint>},
 * {@code array<int>} (uint8 widened, unsigned) and {@code array<boolean>}.
 *
 * <p>Immutable and thread-safe.
 */
final class TensorCodec implements Serializable {
  private static final long serialVersionUID = 1L;

  private final String model;
  private final String name;
  private final DType dtype;
  private final long[] rowDims;
  private final int dynamic;
  private final long fixedElements;

  private TensorCodec(String model, TensorSpec spec) {
    this.model = model;
    this.name = spec.name();
    this.dtype = spec.dtype();
    if (spec.rank() < 1 || !spec.isDynamic(0)) {
      throw new IllegalArgumentException("model '" + model + "': tensor '" + name + "' has shape "
          + Arrays.toString(spec.shape()) + "; nos-spark needs the first dimension to be the"
          + " dynamic batch dimension (-1), one row of the DataFrame per entry");
    }
    this.rowDims = Arrays.copyOfRange(spec.shape(), 1, spec.rank());
    int dyn = -1;
    long fixed = 1;
    for (int i = 0; i < rowDims.length; i++) {
      if (rowDims[i] < 0) {
        if (dyn >= 0) {
          throw new IllegalArgumentException("model '" + model + "': tensor '" + name
              + "' has shape " + Arrays.toString(spec.shape()) + " with more than one dynamic"
              + " dimension after the batch one; a flat row cannot say how to split them");
        }
        dyn = i;
      } else {
        fixed *= rowDims[i];
      }
    }
    this.dynamic = dyn;
    this.fixedElements = fixed;
  }

  static TensorCodec of(String model, TensorSpec spec) {
    return new TensorCodec(model, spec);
  }

  String name() {
    return name;
  }

  /** The Spark type of an output column of this tensor. */
  DataType sparkType() {
    DataType element = switch (dtype) {
      case FLOAT32, FLOAT16, BFLOAT16 -> DataTypes.FloatType;
      case INT64 -> DataTypes.LongType;
      case INT32, UINT8 -> DataTypes.IntegerType;
      case BOOL -> DataTypes.BooleanType;
    };
    return DataTypes.createArrayType(element, false);
  }

  /** Whether an input column of this type can feed this tensor; a message if not. */
  String acceptsInput(String column, DataType type) {
    boolean ok = type instanceof VectorUDT
        || (type instanceof ArrayType a && (a.elementType() instanceof NumericType
            || a.elementType() == DataTypes.BooleanType))
        || (rowDims.length == 0 && (type instanceof NumericType || type == DataTypes.BooleanType));
    return ok ? null : "input column '" + column + "' for tensor '" + name + "' of model '" + model
        + "' has type " + type.simpleString() + "; expected an array of numbers or an ML vector"
        + (rowDims.length == 0 ? " (or a number)" : "");
  }

  /**
   * One row's value as a primitive array of this tensor's dtype, its shape checked.
   *
   * @throws IllegalArgumentException naming the value's problem (null, length, range)
   */
  Object rowValue(Object value) {
    if (value == null) {
      throw new IllegalArgumentException("tensor '" + name + "': the value is null");
    }
    value = flat(value);
    int n = length(value);
    if (dynamic < 0 ? n != fixedElements : (n == 0 || n % fixedElements != 0)) {
      throw new IllegalArgumentException("tensor '" + name + "' takes " + (dynamic < 0
          ? fixedElements + " elements a row (shape " + Arrays.toString(rowDims) + ")"
          : "a multiple of " + fixedElements + " elements a row (shape "
              + Arrays.toString(rowDims) + ")") + " but the value has " + n);
    }
    switch (dtype) {
      case FLOAT32, FLOAT16, BFLOAT16 -> {
        if (value instanceof float[] f) {
          return f.clone();
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
          double d = number(value, i);
          out[i] = (float) d;
          if (Float.isInfinite(out[i]) && !Double.isInfinite(d)) {
            throw new IllegalArgumentException("tensor '" + name + "' of dtype " + dtype.label()
                + ": element " + i + " is " + d + ", beyond float32's range");
          }
        }
        return out;
      }
      case INT64 -> {
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
          out[i] = integer(value, i, Long.MIN_VALUE, Long.MAX_VALUE);
        }
        return out;
      }
      case INT32 -> {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
          out[i] = (int) integer(value, i, Integer.MIN_VALUE, Integer.MAX_VALUE);
        }
        return out;
      }
      case UINT8 -> {
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
          out[i] = (byte) integer(value, i, 0, 255);
        }
        return out;
      }
      case BOOL -> {
        boolean[] out = new boolean[n];
        for (int i = 0; i < n; i++) {
          Object e = element(value, i);
          out[i] = e instanceof Boolean b ? b : number(value, i) != 0;
        }
        return out;
      }
    }
    throw new AssertionError(dtype);
  }

  /** The row shape a row value gives (its dynamic dimension filled in). */
  long[] rowShape(Object rowValue) {
    long[] shape = rowDims.clone();
    if (dynamic >= 0) {
      shape[dynamic] = java.lang.reflect.Array.getLength(rowValue) / fixedElements;
    }
    return shape;
  }

  /** A batch tensor of rows that share one row shape. */
  Tensor batch(List<Object> rows, long[] rowShape) {
    int per = java.lang.reflect.Array.getLength(rows.get(0));
    long[] shape = new long[rowShape.length + 1];
    shape[0] = rows.size();
    System.arraycopy(rowShape, 0, shape, 1, rowShape.length);
    Object flat = java.lang.reflect.Array.newInstance(rows.get(0).getClass().getComponentType(),
        per * rows.size());
    for (int r = 0; r < rows.size(); r++) {
      System.arraycopy(rows.get(r), 0, flat, r * per, per);
    }
    return switch (dtype) {
      case FLOAT32 -> Tensor.of((float[]) flat, shape);
      case FLOAT16 -> Tensor.ofFloat16((float[]) flat, shape);
      case BFLOAT16 -> Tensor.ofBFloat16((float[]) flat, shape);
      case INT64 -> Tensor.of((long[]) flat, shape);
      case INT32 -> Tensor.of((int[]) flat, shape);
      case UINT8 -> Tensor.of((byte[]) flat, shape);
      case BOOL -> Tensor.of((boolean[]) flat, shape);
    };
  }

  /**
   * An output tensor of {@code rows} rows split into one Spark array value a row.
   *
   * @throws IllegalStateException if the tensor's first dimension is not {@code rows}
   */
  Object[] split(Tensor out, int rows) {
    if (out.rank() < 1 || out.dim(0) != rows) {
      throw new IllegalStateException("model '" + model + "' returned output '" + name
          + "' of shape " + Arrays.toString(out.shape()) + " for " + rows + " rows; the first"
          + " dimension must be the rows");
    }
    int per = (int) (out.numel() / Math.max(1, rows));
    Object all = switch (dtype) {
      case FLOAT32, FLOAT16, BFLOAT16 -> out.toFloatArray();
      case INT64 -> out.toLongArray();
      case INT32, UINT8 -> out.toIntArray();
      case BOOL -> out.toBooleanArray();
    };
    Object[] values = new Object[rows];
    for (int r = 0; r < rows; r++) {
      Object row = java.lang.reflect.Array.newInstance(all.getClass().getComponentType(), per);
      System.arraycopy(all, r * per, row, 0, per);
      values[r] = ArraySeq.unsafeWrapArray(row);
    }
    return values;
  }

  /**
   * The value as a Java array where it is a collection, so that its elements are read by index
   * and not through a Seq's or reflection's per-element call: Spark hands an {@code array<float>}
   * as a {@code Float[]} after a typed map and as an {@code ArraySeq} from its row decoder, and
   * reading a {@code Float[]} through {@code java.lang.reflect.Array.get} was 15x the codec's
   * other cost (CodecBench). The array is the value's own where it has one; rowValue copies.
   */
  private static Object flat(Object v) {
    if (v instanceof scala.collection.immutable.ArraySeq<?> a) {
      return a.unsafeArray();
    } else if (v instanceof scala.collection.mutable.ArraySeq<?> a) {
      return a.array();
    } else if (v instanceof scala.collection.Seq<?> s) {
      Object[] out = new Object[s.length()];
      scala.collection.Iterator<?> it = s.iterator();
      for (int i = 0; i < out.length; i++) {
        out[i] = it.next();
      }
      return out;
    } else if (v instanceof Vector vec) {
      return vec.toArray();
    } else if (v instanceof List<?> l) {
      return l.toArray();
    }
    return v;
  }

  private static int length(Object v) {
    if (v instanceof Object[] a) {
      return a.length;
    } else if (v.getClass().isArray()) {
      return java.lang.reflect.Array.getLength(v);
    } else if (v instanceof Number || v instanceof Boolean) {
      return 1;
    }
    throw new IllegalArgumentException("a value of " + v.getClass().getName() + " is not an"
        + " array of numbers or an ML vector");
  }

  /** Element {@code i} of a value {@link #flat} made. */
  private static Object element(Object v, int i) {
    if (v instanceof Object[] a) {
      return a[i];
    } else if (v.getClass().isArray()) {
      return java.lang.reflect.Array.get(v, i);
    }
    return v;
  }

  private double number(Object v, int i) {
    if (v instanceof double[] d) {
      return d[i];
    }
    Object e = element(v, i);
    if (e instanceof Number num) {
      return num.doubleValue();
    } else if (e instanceof Boolean b) {
      return b ? 1 : 0;
    }
    throw new IllegalArgumentException("tensor '" + name + "': element " + i + " is "
        + (e == null ? "null" : e.getClass().getSimpleName() + " " + e) + ", not a number");
  }

  private long integer(Object v, int i, long min, long max) {
    Object e = element(v, i);
    long x;
    if (e instanceof Long || e instanceof Integer || e instanceof Short || e instanceof Byte) {
      x = ((Number) e).longValue();
    } else {
      double d = number(v, i);
      if (d != Math.rint(d)) {
        throw new IllegalArgumentException("tensor '" + name + "' of dtype " + dtype.label()
            + ": element " + i + " is " + d + ", not a whole number");
      }
      // (long) clamps: Infinity and 1e19 would pass as Long.MAX_VALUE.
      if (!(d >= -0x1p63 && d < 0x1p63)) {
        throw new IllegalArgumentException("tensor '" + name + "' of dtype " + dtype.label()
            + ": element " + i + " is " + d + ", outside [" + min + ", " + max + "]");
      }
      x = (long) d;
    }
    if (x < min || x > max) {
      throw new IllegalArgumentException("tensor '" + name + "' of dtype " + dtype.label()
          + ": element " + i + " is " + x + ", outside [" + min + ", " + max + "]");
    }
    return x;
  }
}
