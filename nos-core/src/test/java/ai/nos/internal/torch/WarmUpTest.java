package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import ai.nos.internal.batch.BatchBuckets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Which sizes a load warms up, in which order, and the check that padding is harmless. */
final class WarmUpTest {

  static ModelSpec spec(int max) {
    return ModelSpec.builder().id("m").artifact("m.pt").signature(Signature.builder()
        .input("x", DType.FLOAT32, -1, 3).output("y", DType.FLOAT32, -1, 3).build())
        .batching(Batching.builder().maxBatchSize(max).maxQueueDelay(Duration.ofMillis(5))
            .build()).build();
  }

  /** y = 2x, row by row: padding rows change nothing. */
  static final UnaryOperator<Map<String, Tensor>> ROWWISE = in -> {
    Tensor x = in.get("x");
    float[] v = x.toFloatArray();
    for (int i = 0; i < v.length; i++) {
      v[i] *= 2;
    }
    return Map.of("y", Tensor.of(v, x.shape()));
  };

  /** y = x minus the batch's mean: every row depends on the others, as batch norm in training. */
  static final UnaryOperator<Map<String, Tensor>> BATCH_WIDE = in -> {
    Tensor x = in.get("x");
    float[] v = x.toFloatArray();
    double mean = 0;
    for (float f : v) {
      mean += f / v.length;
    }
    for (int i = 0; i < v.length; i++) {
      v[i] -= (float) mean;
    }
    return Map.of("y", Tensor.of(v, x.shape()));
  };

  @Test
  void eachSize_everyBucketLargestFirst() {
    List<Integer> calls = new ArrayList<>();
    WarmUp.eachSize(spec(64), BatchBuckets.of(BatchBuckets.derived(64)), calls::add);
    assertEquals(List.of(64, 32, 16, 8, 4, 2, 1), calls);
  }

  @Test
  void eachSize_withoutBuckets_theLargestBatchAlone() {
    List<Integer> calls = new ArrayList<>();
    WarmUp.eachSize(spec(48), BatchBuckets.NONE, calls::add);
    assertEquals(List.of(48), calls);
  }

  @Test
  void buckets_rowwiseModel_getsThem() {
    assertArrayEquals(new int[] {1, 2, 4, 8}, WarmUp.buckets(spec(8), Device.cuda(0), ROWWISE)
        .sizes());
  }

  @Test
  void buckets_modelWhoseRowsDependOnEachOther_getsNone() {
    String problem = WarmUp.paddingProblem(spec(8), BatchBuckets.of(1, 2, 4, 8), BATCH_WIDE);
    assertTrue(problem != null && problem.startsWith("with 3 row(s) padded to 4, output 'y'"),
        problem);
    assertTrue(WarmUp.buckets(spec(8), Device.cuda(0), BATCH_WIDE).isEmpty());
  }

  @Test
  void paddingProblem_nothingToPad_noCall() {
    assertNull(WarmUp.paddingProblem(spec(2), BatchBuckets.of(1, 2), in -> {
      throw new AssertionError("no row count to pad: the model is not called");
    }));
  }

  @Test
  void withRows_padsWithZerosOrCuts() {
    Tensor t = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
    assertArrayEquals(new float[] {1, 2, 3, 4, 0, 0}, WarmUp.withRows(t, 3).toFloatArray());
    assertArrayEquals(new long[] {3, 2}, WarmUp.withRows(t, 3).shape());
    assertArrayEquals(new float[] {1, 2}, WarmUp.withRows(t, 1).toFloatArray());
  }

  @Test
  void inputs_zerosOfTheRows_otherDynamicDimsOne() {
    ModelSpec s = ModelSpec.builder().id("m").artifact("m.pt").signature(Signature.builder()
        .input("ids", DType.INT64, -1, -1).output("y", DType.FLOAT32, -1).build()).build();
    assertArrayEquals(new long[] {16, 1}, WarmUp.inputs(s, 16).get("ids").shape());
  }
}
