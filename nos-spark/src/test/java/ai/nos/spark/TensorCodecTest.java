package ai.nos.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.ml.linalg.Vectors;
import org.junit.jupiter.api.Test;
import scala.collection.immutable.ArraySeq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The codec's conversions, for every form Spark hands an array column in (a {@code Float[]} or
 * other boxed array after a typed map, a Scala {@code ArraySeq} of a primitive array or of boxed
 * values, a Scala {@code List}, an ML vector, a Java list, a primitive array, a number), and its
 * messages for bad values: the bulk paths must convert exactly as the per-element one did.
 */
class TensorCodecTest {
  private static final float[] PX = {0f, 1.5f, -2f, 3.25f, 4f, 5f};

  private static TensorCodec codec(DType dtype, long... rowShape) {
    long[] shape = new long[rowShape.length + 1];
    shape[0] = -1;
    System.arraycopy(rowShape, 0, shape, 1, rowShape.length);
    return TensorCodec.of("m", TensorSpec.of("x", dtype, shape));
  }

  private static Object[] floatForms() {
    Float[] boxed = new Float[PX.length];
    Double[] doubles = new Double[PX.length];
    double[] prim = new double[PX.length];
    for (int i = 0; i < PX.length; i++) {
      boxed[i] = PX[i];
      doubles[i] = (double) PX[i];
      prim[i] = PX[i];
    }
    return new Object[] {boxed, doubles, PX.clone(), prim, ArraySeq.unsafeWrapArray(PX.clone()),
        ArraySeq.unsafeWrapArray(prim.clone()), ArraySeq.unsafeWrapArray(boxed.clone()),
        CollectionConverters.asScala(Arrays.asList(boxed)).toList(), Vectors.dense(prim),
        Vectors.sparse(6, new int[] {1, 2, 3, 4, 5}, new double[] {1.5, -2, 3.25, 4, 5}),
        Arrays.asList(boxed)};
  }

  @Test
  void float32_everyFormGivesTheSameFloats() {
    for (Object form : floatForms()) {
      assertArrayEquals(PX, (float[]) codec(DType.FLOAT32, 1, 2, 3).rowValue(form),
          form.getClass().getName());
      assertArrayEquals(PX, (float[]) codec(DType.FLOAT16, 6).rowValue(form),
          form.getClass().getName());
    }
  }

  @Test
  void float32_fromIntegersAndBooleans() {
    assertArrayEquals(new float[] {1, -7, 0}, (float[]) codec(DType.FLOAT32, 3)
        .rowValue(ArraySeq.unsafeWrapArray(new int[] {1, -7, 0})));
    assertArrayEquals(new float[] {1, -7, 0}, (float[]) codec(DType.FLOAT32, 3)
        .rowValue(new Long[] {1L, -7L, 0L}));
    assertArrayEquals(new float[] {1, 0}, (float[]) codec(DType.FLOAT32, 2)
        .rowValue(ArraySeq.unsafeWrapArray(new boolean[] {true, false})));
    assertArrayEquals(new float[] {2.5f}, (float[]) codec(DType.FLOAT32).rowValue(2.5));
    // A double that is not a float rounds as a cast does.
    assertArrayEquals(new float[] {(float) 0.1}, (float[]) codec(DType.FLOAT32, 1)
        .rowValue(new double[] {0.1}));
  }

  @Test
  void integers_wholeNumbersInRange() {
    Object[] forms = {new long[] {3, -4}, new Long[] {3L, -4L}, new int[] {3, -4},
        ArraySeq.unsafeWrapArray(new long[] {3, -4}), ArraySeq.unsafeWrapArray(new int[] {3, -4}),
        ArraySeq.unsafeWrapArray(new double[] {3, -4}), new Float[] {3f, -4f},
        Vectors.dense(3, -4), List.of(3, -4)};
    for (Object form : forms) {
      assertArrayEquals(new long[] {3, -4}, (long[]) codec(DType.INT64, 2).rowValue(form));
      assertArrayEquals(new int[] {3, -4}, (int[]) codec(DType.INT32, 2).rowValue(form));
    }
    assertArrayEquals(new byte[] {0, (byte) 255}, (byte[]) codec(DType.UINT8, 2)
        .rowValue(new int[] {0, 255}));
    assertArrayEquals(new boolean[] {true, false, true}, (boolean[]) codec(DType.BOOL, 3)
        .rowValue(new Object[] {true, 0, 2.0}));
    assertArrayEquals(new long[] {Long.MAX_VALUE}, (long[]) codec(DType.INT64, 1)
        .rowValue(new long[] {Long.MAX_VALUE}));
  }

  @Test
  void badValues_namedInTheMessage() {
    assertMessage("element 1 is 2.5, not a whole number",
        () -> codec(DType.INT64, 2).rowValue(new double[] {1, 2.5}));
    assertMessage("element 0 is 300, outside [0, 255]",
        () -> codec(DType.UINT8, 1).rowValue(ArraySeq.unsafeWrapArray(new int[] {300})));
    assertMessage("element 1 is 3000000000, outside [-2147483648, 2147483647]",
        () -> codec(DType.INT32, 2).rowValue(new long[] {1, 3_000_000_000L}));
    assertMessage("element 2 is null, not a number",
        () -> codec(DType.FLOAT32, 3).rowValue(new Float[] {1f, 2f, null}));
    assertMessage("element 2 is null, not a number",
        () -> codec(DType.FLOAT32, 3).rowValue(ArraySeq.unsafeWrapArray(new Float[] {1f, 2f,
            null})));
    assertMessage("element 0 is String x, not a number",
        () -> codec(DType.FLOAT32, 1).rowValue(new Object[] {"x"}));
    assertMessage("takes 6 elements a row (shape [2, 3]) but the value has 5",
        () -> codec(DType.FLOAT32, 2, 3).rowValue(new float[5]));
    assertMessage("a multiple of 3 elements a row (shape [-1, 3]) but the value has 4",
        () -> codec(DType.FLOAT32, -1, 3).rowValue(new float[4]));
    assertMessage("the value is null", () -> codec(DType.FLOAT32, 1).rowValue(null));
    assertMessage("java.lang.String is not an array",
        () -> codec(DType.FLOAT32, 1).rowValue("abc"));
  }

  /**
   * A double too large for the dtype was cast: (long) of Infinity or 1e19 is Long.MAX_VALUE, so
   * an int64 input took 9223372036854775807 without a word; a double past float32's range became
   * Infinity.
   */
  @Test
  void doublesBeyondTheDtype_namedNotClamped() {
    assertMessage("element 1 is Infinity, outside [-9223372036854775808, 9223372036854775807]",
        () -> codec(DType.INT64, 2).rowValue(new double[] {1, Double.POSITIVE_INFINITY}));
    assertMessage("element 0 is 1.0E19, outside [-9223372036854775808, 9223372036854775807]",
        () -> codec(DType.INT64, 1).rowValue(new Double[] {1e19}));
    assertMessage("element 0 is -Infinity, outside [-2147483648, 2147483647]",
        () -> codec(DType.INT32, 1).rowValue(new double[] {Double.NEGATIVE_INFINITY}));
    assertMessage("element 1 is 1.0E300, beyond float32's range",
        () -> codec(DType.FLOAT32, 2).rowValue(new double[] {1, 1e300}));
    assertEquals(Long.MIN_VALUE,
        ((long[]) codec(DType.INT64, 1).rowValue(new double[] {-0x1p63}))[0]);
    float[] kept = (float[]) codec(DType.FLOAT32, 3).rowValue(
        new double[] {Double.NaN, Double.POSITIVE_INFINITY, -3.4e38});
    assertTrue(Float.isNaN(kept[0]) && kept[1] == Float.POSITIVE_INFINITY, "NaN and infinities"
        + " the application sent pass as they are");
    assertEquals(-3.4e38f, kept[2]);
  }

  @Test
  void rowValue_isACopy() {
    float[] in = PX.clone();
    float[] out = (float[]) codec(DType.FLOAT32, 6).rowValue(ArraySeq.unsafeWrapArray(in));
    out[0] = 99;
    assertEquals(0f, in[0]);
    float[] direct = (float[]) codec(DType.FLOAT32, 6).rowValue(in);
    direct[1] = 99;
    assertEquals(1.5f, in[1]);
  }

  @Test
  void batchAndSplit_roundTrip() {
    TensorCodec c = codec(DType.FLOAT32, 2);
    Tensor t = c.batch(List.of(new float[] {1, 2}, new float[] {3, 4}, new float[] {5, 6}),
        new long[] {2});
    assertArrayEquals(new long[] {3, 2}, t.shape());
    Object[] rows = c.split(t, 3);
    assertEquals(3, rows.length);
    assertEquals(ArraySeq.unsafeWrapArray(new float[] {3, 4}), rows[1]);
    assertArrayEquals(new long[] {4, 3}, codec(DType.FLOAT32, -1, 3).rowShape(new float[12]));
  }

  private static void assertMessage(String part, org.junit.jupiter.api.function.Executable e) {
    IllegalArgumentException x = assertThrows(IllegalArgumentException.class, e);
    assertTrue(x.getMessage().contains(part), x.getMessage());
  }
}
