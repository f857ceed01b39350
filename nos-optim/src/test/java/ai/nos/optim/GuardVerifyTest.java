package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Precision;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The guard end to end on the CPU: the committed digit classifier against its optimizations. */
final class GuardVerifyTest {

  static Model eager;

  @BeforeAll
  static void load() {
    eager = Nos.load(TestModels.digits());
  }

  @AfterAll
  static void close() {
    eager.close();
  }

  @Test
  void verify_digitsAgainstItself_passesExactly() {
    try (Model same = Nos.load(TestModels.digits())) {
      GuardResult r = AccuracyGuard.verify(eager, same, "reload", 8, 42);
      assertTrue(r.passed(), r.toString());
      assertEquals(Precision.FP32, r.precision());
      assertEquals(0.0, r.error(), 1e-6);
    }
  }

  @Test
  void verify_digitsInBf16_passesTheHalfBound() {
    ModelSpec bf16 =
        TestModels.digits().toBuilder().id("digits-bf16").precision(Precision.BF16).build();
    try (Model half = Nos.load(bf16)) {
      GuardResult r = AccuracyGuard.verify(eager, half, "bf16", 16, 42);
      System.out.println("digits bf16 vs fp32 eager on CPU: " + r);
      assertTrue(r.passed(), r.toString());
      assertEquals(0.01, r.threshold());
      assertTrue(r.error() > 0, "bf16 ran in fp32? error " + r.error());
      assertFalse(AccuracyGuard.check(eager.infer(AccuracyGuard.randomInputs(bf16, 16, 8, 42)),
          half.infer(AccuracyGuard.randomInputs(bf16, 16, 8, 42)), Precision.FP32).passed(),
          "bf16 should not pass the fp32 bound");
    }
  }

  @Test
  void verify_brokenStep_isRejected() {
    Model broken = TestModels.perturbed(eager, v -> {
      v[3] += 0.05f * max(v);
      return v;
    });
    GuardResult r = AccuracyGuard.verify(eager, broken, "fuse-conv-bn", 4, 42);
    assertFalse(r.passed());
    assertEquals("logits", r.worstOutput());
    assertEquals(0.05, r.error(), 1e-4);
    assertEquals("output 'logits' relative error 0.05 > 0.001", r.toString());
  }

  @Test
  void verify_stepThatMakesNaN_isRejectedEvenAtHalfPrecision() {
    try (Model half = Nos.load(TestModels.digits().toBuilder().id("digits-fp16")
        .precision(Precision.FP16).build())) {
      Model broken = TestModels.perturbed(half, v -> {
        v[0] = Float.NaN;
        return v;
      });
      GuardResult r = AccuracyGuard.verify(eager, broken, "fp16", 2, 42);
      assertFalse(r.passed());
      assertTrue(r.toString().startsWith("output 'logits' is NaN at [0, 0]"), r.toString());
    }
  }

  /**
   * The INT8 step's guard: given inputs, one call each, at the calibration's tolerance; the
   * verdict is the worst call's, whichever comes first.
   */
  @Test
  void verifyOnInputs_isTheWorstCallsVerdict_atTheGivenThreshold() {
    // 4% off on the 8-row call, 2% on the 4-row one.
    Model int8ish = TestModels.perturbed(eager, v -> {
      v[3] += (v.length == 80 ? 0.04f : 0.02f) * max(v);
      return v;
    });
    List<Map<String, Tensor>> calls = List.of(Map.of("image", CalibrationTest.image(8, 1)),
        Map.of("image", CalibrationTest.image(4, 2)));
    GuardResult r = AccuracyGuard.verify(eager, int8ish, "tensorrt-int8", calls, 0.05);
    assertTrue(r.passed(), r.toString());
    assertEquals(0.04, r.error(), 1e-4);
    assertEquals(0.05, r.threshold());
    r = AccuracyGuard.verify(eager, int8ish, "tensorrt-int8", calls.subList(1, 2), 0.05);
    assertEquals(0.02, r.error(), 1e-4);
    r = AccuracyGuard.verify(eager, int8ish, "tensorrt-int8", calls, 0.03);
    assertFalse(r.passed());
    assertEquals("output 'logits' relative error 0.04 > 0.03", r.toString());
    assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.verify(eager, int8ish, "tensorrt-int8", List.of(), 0.05));
  }

  @Test
  void verify_candidateThatFails_isAnOptimizationException() {
    Model failing = TestModels.perturbed(eager, v -> {
      throw new IllegalStateException("kernel missing");
    });
    var e = assertThrows(OptimizationException.class,
        () -> AccuracyGuard.verify(eager, failing, "tensorrt", 1, 1));
    assertEquals("optimization step 'tensorrt' rejected for model 'digits': it fails on the"
        + " guard's inputs: kernel missing", e.getMessage());
    assertInstanceOf(IllegalStateException.class, e.getCause());
  }

  @Test
  void verify_referenceNotFp32_isRejected() {
    try (Model half = Nos.load(TestModels.digits().toBuilder().id("digits-bf16")
        .precision(Precision.BF16).build())) {
      var e = assertThrows(IllegalArgumentException.class,
          () -> AccuracyGuard.verify(half, eager, "x", 1, 1));
      assertEquals("the reference must run in fp32 but model 'digits-bf16' runs in bf16",
          e.getMessage());
    }
  }

  @Test
  void verify_candidateWithOtherInputs_isRejected() {
    ModelSpec other = TestModels.digits().toBuilder().signature(Signature.builder()
        .input("pixels", DType.FLOAT32, -1, 1, 8, 8).output("logits", DType.FLOAT32, -1, 10)
        .build()).build();
    Model renamed = new Model() {
      @Override
      public ModelSpec spec() {
        return other;
      }

      @Override
      public ai.nos.Device device() {
        return eager.device();
      }

      @Override
      public Map<String, ai.nos.Tensor> infer(Map<String, ai.nos.Tensor> inputs) {
        throw new AssertionError("never run");
      }

      @Override
      public void close() {
      }
    };
    var e = assertThrows(IllegalArgumentException.class,
        () -> AccuracyGuard.verify(eager, renamed, "rename", 1, 1));
    assertTrue(e.getMessage().startsWith("step 'rename' changed the inputs of model 'digits'"),
        e.getMessage());
  }

  @Test
  void verify_committedFixtures_passAgainstThemselves() throws IOException {
    for (String name : new String[] {"two_in_two_out", "tokens"}) {
      ModelSpec spec = fixture(name);
      try (Model a = Nos.load(spec); Model b = Nos.load(spec)) {
        GuardResult r = AccuracyGuard.verify(a, b, "reload", 3, 7);
        assertTrue(r.passed(), name + ": " + r);
      }
    }
  }

  private static ModelSpec fixture(String name) {
    Signature.Builder sig = Signature.builder();
    if (name.equals("tokens")) {
      sig.input("ids", DType.INT64, -1, -1).output("embedding", DType.FLOAT32, -1, 8);
    } else {
      sig.input("a", DType.FLOAT32, -1, 4).input("b", DType.FLOAT32, -1, 4)
          .output("sum", DType.FLOAT32, -1, 4).output("mix", DType.FLOAT32, -1, 4);
    }
    return ModelSpec.builder().id(name)
        .artifact(TestModels.modelsDir().resolve("fixtures").resolve(name + ".pt"))
        .signature(sig.build()).device("cpu").build();
  }

  private static float max(float[] v) {
    float m = 0;
    for (float x : v) {
      m = Math.max(m, Math.abs(x));
    }
    return m;
  }
}
