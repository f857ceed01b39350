package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The guard's metric, thresholds and messages on hand-made tensors, and its random inputs. */
final class AccuracyGuardTest {

  static Map<String, Tensor> logits(float... v) {
    return Map.of("logits", Tensor.of(v, 1, v.length));
  }

  @Test
  void threshold_isTighterForFp32() {
    assertEquals(1e-3, AccuracyGuard.threshold(Precision.FP32));
    assertEquals(1e-2, AccuracyGuard.threshold(Precision.FP16));
    assertEquals(1e-2, AccuracyGuard.threshold(Precision.BF16));
  }

  @ParameterizedTest
  @EnumSource(Precision.class)
  void check_identical_passesWithZeroError(Precision p) {
    GuardResult r = AccuracyGuard.check(logits(1, -2, 4), logits(1, -2, 4), p);
    assertTrue(r.passed());
    assertEquals(0, r.error());
    assertEquals("logits", r.worstOutput());
    assertEquals(p, r.precision());
  }

  @Test
  void check_errorIsMaxDeviationOverMaxReference() {
    GuardResult r = AccuracyGuard.check(logits(1, -2, 4), logits(1.002f, -2, 4), Precision.FP32);
    assertEquals(0.002 / 4, r.error(), 1e-7);
    assertEquals(Map.of("logits", r.error()), r.errors());
  }

  @Test
  void check_justBelowAndAboveTheFp32Bound() {
    assertTrue(AccuracyGuard.check(logits(1, -2, 4), logits(1, -2, 4.0038f), Precision.FP32)
        .passed());
    GuardResult over = AccuracyGuard.check(logits(1, -2, 4), logits(1, -2, 4.0042f),
        Precision.FP32);
    assertFalse(over.passed());
    assertEquals("output 'logits' relative error 0.00105 > 0.001", over.toString());
    assertTrue(AccuracyGuard.check(logits(1, -2, 4), logits(1, -2, 4.0042f), Precision.FP16)
        .passed());
  }

  @Test
  void check_halfBound_rejectsTheDocumentedExample() {
    GuardResult r = AccuracyGuard.check(logits(1, 0.5f), logits(1.034f, 0.5f), Precision.FP16);
    assertFalse(r.passed());
    assertEquals(0.01, r.threshold());
    assertEquals("output 'logits' relative error 0.034 > 0.01", r.toString());
  }

  @Test
  void check_passing_saysSo() {
    GuardResult r = AccuracyGuard.check(logits(1, 0.5f), logits(1.002f, 0.5f), Precision.BF16);
    assertEquals("output 'logits' relative error 0.002 <= 0.01", r.toString());
  }

  @ParameterizedTest
  @EnumSource(Precision.class)
  void check_nanWhereReferenceIsFinite_neverPasses(Precision p) {
    GuardResult r = AccuracyGuard.check(logits(1, 2, 3, 4), logits(1, Float.NaN, 3, 4), p);
    assertFalse(r.passed());
    assertEquals(Double.POSITIVE_INFINITY, r.error());
    assertEquals("output 'logits' is NaN at [0, 1] where the reference is finite (2)",
        r.toString());
  }

  @Test
  void check_infinityWhereReferenceIsFinite_neverPasses() {
    GuardResult r = AccuracyGuard.check(logits(1, 2), logits(Float.NEGATIVE_INFINITY, 2),
        Precision.BF16);
    assertFalse(r.passed());
    assertTrue(r.toString().contains("-Infinity at [0, 0]"), r.toString());
  }

  @Test
  void check_sameNonFiniteAsReference_isLeftOut() {
    GuardResult r = AccuracyGuard.check(logits(Float.NaN, Float.POSITIVE_INFINITY, 2),
        logits(Float.NaN, Float.POSITIVE_INFINITY, 2.01f), Precision.FP16);
    assertTrue(r.passed(), r.toString());
    assertEquals(0.005, r.error(), 1e-6);
  }

  @Test
  void check_finiteWhereReferenceIsNaN_fails() {
    GuardResult r = AccuracyGuard.check(logits(Float.NaN, 2), logits(0, 2), Precision.FP16);
    assertFalse(r.passed());
    assertEquals("output 'logits' is 0.0 at [0, 0] where the reference is NaN", r.toString());
  }

  @Test
  void check_allZeroReference_usesAbsoluteError() {
    assertTrue(AccuracyGuard.check(logits(0, 0), logits(0, 0.0005f), Precision.FP32).passed());
    assertFalse(AccuracyGuard.check(logits(0, 0), logits(0, 0.002f), Precision.FP32).passed());
  }

  @Test
  void check_shapeMismatch_namesTheOutput() {
    GuardResult r = AccuracyGuard.check(logits(1, 2), logits(1, 2, 3), Precision.FP32);
    assertFalse(r.passed());
    assertEquals("output 'logits' has shape [1, 3] where the reference has [1, 2]",
        r.toString());
  }

  @Test
  void check_dtypeMismatch_namesTheOutput() {
    GuardResult r = AccuracyGuard.check(logits(1, 2),
        Map.of("logits", Tensor.ofFloat16(new float[] {1, 2}, 1, 2)), Precision.FP16);
    assertEquals("output 'logits' is float16 where the reference is float32", r.toString());
  }

  @Test
  void check_missingOrExtraOutput_namesIt() {
    Map<String, Tensor> two = new LinkedHashMap<>(logits(1, 2));
    two.put("probs", Tensor.of(new float[] {0.5f, 0.5f}, 1, 2));
    GuardResult missing = AccuracyGuard.check(two, logits(1, 2), Precision.FP32);
    assertEquals("output 'probs' is missing from the candidate, whose outputs are [logits]",
        missing.toString());
    GuardResult extra = AccuracyGuard.check(logits(1, 2), two, Precision.FP32);
    assertFalse(extra.passed());
    assertEquals("output 'probs' is not among the reference's outputs [logits]",
        extra.toString());
  }

  @Test
  void check_severalOutputs_reportsTheWorst() {
    Map<String, Tensor> ref = new LinkedHashMap<>();
    ref.put("a", Tensor.of(new float[] {1, 1}));
    ref.put("b", Tensor.of(new float[] {1, 1}));
    ref.put("c", Tensor.of(new float[] {1, 1}));
    Map<String, Tensor> cand = new LinkedHashMap<>();
    cand.put("a", Tensor.of(new float[] {1.001f, 1}));
    cand.put("b", Tensor.of(new float[] {1, 1.02f}));
    cand.put("c", Tensor.of(new float[] {1, 1.005f}));
    GuardResult r = AccuracyGuard.check(ref, cand, Precision.BF16);
    assertEquals("b", r.worstOutput());
    assertFalse(r.passed());
    assertEquals(List.of("a", "b", "c"), List.copyOf(r.errors().keySet()));
    assertEquals(0.005, r.errors().get("c"), 1e-6);
  }

  @Test
  void check_integerOutputs_compareValues() {
    Map<String, Tensor> ref = Map.of("ids", Tensor.of(new long[] {3, 7}));
    assertTrue(AccuracyGuard.check(ref, Map.of("ids", Tensor.of(new long[] {3, 7})),
        Precision.FP32).passed());
    GuardResult r = AccuracyGuard.check(ref, Map.of("ids", Tensor.of(new long[] {4, 7})),
        Precision.FP16);
    assertEquals(1.0 / 7, r.error(), 1e-12);
    assertFalse(r.passed());
  }

  @Test
  void check_badArguments_areRejected() {
    assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.check(null, logits(1), Precision.FP32));
    assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.check(logits(1), logits(1), null));
    assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.check(Map.of(), Map.of(), Precision.FP32));
  }

  @Test
  void check_nullOutputOrName_isRefusedByName() {
    // A null reference tensor was a bare NPE; a null candidate one was reported as "missing
    // from the candidate, whose outputs are [logits]", naming the output it lacked.
    Map<String, Tensor> nullTensor = new LinkedHashMap<>();
    nullTensor.put("logits", null);
    Map<String, Tensor> nullName = new LinkedHashMap<>();
    nullName.put(null, Tensor.of(new float[] {1, 2}, 1, 2));
    assertEquals("reference['logits'] must not be null", assertThrows(
        IllegalArgumentException.class,
        () -> AccuracyGuard.check(nullTensor, logits(1, 2), Precision.FP32)).getMessage());
    assertEquals("candidate['logits'] must not be null", assertThrows(
        IllegalArgumentException.class,
        () -> AccuracyGuard.check(logits(1, 2), nullTensor, Precision.FP32)).getMessage());
    assertEquals("reference's output names must not be null", assertThrows(
        IllegalArgumentException.class,
        () -> AccuracyGuard.check(nullName, logits(1, 2), Precision.FP32)).getMessage());
    assertEquals("candidate's output names must not be null", assertThrows(
        IllegalArgumentException.class,
        () -> AccuracyGuard.check(logits(1, 2), nullName, Precision.FP32)).getMessage());
  }

  static ModelSpec mixedSpec() {
    return ModelSpec.builder().id("mixed").artifact(Path.of("unused.pt"))
        .signature(Signature.builder()
            .input("image", DType.FLOAT32, -1, 3, -1)
            .input("ids", DType.INT64, -1, -1)
            .input("mask", DType.BOOL, -1, 16)
            .input("half", DType.FLOAT16, 2, 4)
            .input("bytes", DType.UINT8, -1, 64)
            .input("small", DType.INT32, -1, 32)
            .output("y", DType.FLOAT32, -1, 1).build())
        .build();
  }

  @Test
  void randomInputs_sameSeed_sameTensors() {
    assertEquals(AccuracyGuard.randomInputs(mixedSpec(), 2, 5, 10, 42),
        AccuracyGuard.randomInputs(mixedSpec(), 2, 5, 10, 42));
    assertNotEquals(AccuracyGuard.randomInputs(mixedSpec(), 2, 5, 10, 42).get("image"),
        AccuracyGuard.randomInputs(mixedSpec(), 2, 5, 10, 43).get("image"));
  }

  @Test
  void randomInputs_shapesFollowTheSignature() {
    Map<String, Tensor> in = AccuracyGuard.randomInputs(mixedSpec(), 3, 5, 42);
    assertEquals(List.of("image", "ids", "mask", "half", "bytes", "small"),
        List.copyOf(in.keySet()));
    assertArrayEquals(new long[] {3, 3, 5}, in.get("image").shape());
    assertArrayEquals(new long[] {3, 5}, in.get("ids").shape());
    assertArrayEquals(new long[] {3, 16}, in.get("mask").shape());
    assertArrayEquals(new long[] {2, 4}, in.get("half").shape(), "a fixed batch stays");
    assertEquals(DType.FLOAT16, in.get("half").dtype());
    assertEquals(DType.BOOL, in.get("mask").dtype());
  }

  @Test
  void randomInputs_valuesHaveTheirDistributions() {
    ModelSpec spec = mixedSpec();
    Map<String, Tensor> in = AccuracyGuard.randomInputs(spec, 64, 100, 300, 7);
    float[] x = in.get("image").toFloatArray();
    double mean = 0;
    double sq = 0;
    for (float v : x) {
      mean += v / x.length;
      sq += (double) v * v / x.length;
    }
    assertEquals(0, mean, 0.05);
    assertEquals(1, Math.sqrt(sq - mean * mean), 0.05);
    for (long id : in.get("ids").toLongArray()) {
      assertTrue(id >= 0 && id < 300, "id " + id);
    }
    for (long b : in.get("bytes").toLongArray()) {
      assertTrue(b >= 0 && b < 256, "byte " + b);
    }
    assertEquals(299, java.util.Arrays.stream(in.get("ids").toLongArray()).max().orElse(-1));
    int trues = 0;
    for (boolean m : in.get("mask").toBooleanArray()) {
      trues += m ? 1 : 0;
    }
    assertTrue(trues > 400 && trues < 624, "trues " + trues + " of 1024");
    for (int s : in.get("small").toIntArray()) {
      assertTrue(s >= 0 && s < 300);
    }
  }

  @Test
  void randomInputs_defaultIntBound_isTwo() {
    long[] ids = AccuracyGuard.randomInputs(mixedSpec(), 4, 8, 1).get("ids").toLongArray();
    assertTrue(java.util.Arrays.stream(ids).allMatch(v -> v == 0 || v == 1));
    assertTrue(java.util.Arrays.stream(ids).anyMatch(v -> v == 1));
  }

  @Test
  void randomInputs_badSizes_areRejected() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.randomInputs(mixedSpec(), 0, 5, 1));
    assertEquals("batch must be >= 1 but was 0", e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.randomInputs(mixedSpec(), 1, 0, 1));
    assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.randomInputs(mixedSpec(), 1, 1, 0, 1));
    assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.randomInputs(mixedSpec(), 1 << 20, 1 << 20, 1));
  }

  @Test
  void format_keepsTwoSignificantDigitsWithoutTrailingZeros() {
    assertEquals("0.034", GuardResult.format(0.0340001, 2));
    assertEquals("0.01", GuardResult.format(0.01, 2));
    assertEquals("1.2E-7", GuardResult.format(1.23e-7, 2));
    assertEquals("0", GuardResult.format(0, 2));
    assertEquals("Infinity", GuardResult.format(Double.POSITIVE_INFINITY, 2));
  }
}
