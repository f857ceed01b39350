package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Fixtures;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Tensor;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The load-time optimization steps on the digit CNN (two convolutions and a linear layer) on the
 * CPU: each step is applied and keeps the outputs; a step that changes them or fails is rejected
 * and the model serves as loaded.
 */
@Timeout(120)
final class LoadPassesTest {
  private static final Map<String, Tensor> IMAGES =
      Map.of("image", Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 32));

  private static float[] logits(TorchModel m) {
    return m.infer(IMAGES).get("logits").toFloatArray();
  }

  private static ModelSpec digits(Optimization... steps) {
    return Fixtures.digitsOn("cpu").toBuilder().optimize(steps).build();
  }

  @Test
  void eachStep_isApplied_andKeepsTheOutputs() {
    TorchModel plain = TorchModel.load(digits());
    float[] want = logits(plain);
    long weights = plain.parameterBytes();
    plain.close();
    Map<List<Optimization>, List<String>> cases = Map.of(
        List.of(Optimization.FREEZE), List.of("freeze"),
        List.of(Optimization.OPTIMIZE_FOR_INFERENCE), List.of("optimize_for_inference"),
        List.of(Optimization.FREEZE, Optimization.OPTIMIZE_FOR_INFERENCE),
        List.of("optimize_for_inference"),
        List.of(Optimization.CHANNELS_LAST), List.of("channels_last"),
        List.of(Optimization.FREEZE, Optimization.CHANNELS_LAST),
        List.of("channels_last", "freeze"),
        List.of(Optimization.CUDNN_BENCHMARK), List.of());
    cases.forEach((steps, applied) -> {
      TorchModel m = TorchModel.load(digits(steps.toArray(new Optimization[0])));
      try {
        assertEquals(applied, m.optimizations(), steps.toString());
        float[] got = logits(m);
        for (int i = 0; i < want.length; i++) {
          assertEquals(want[i], got[i], 1e-4 * Math.max(1, Math.abs(want[i])),
              steps + " logit " + i);
        }
        assertEquals(weights, m.parameterBytes(), "weights counted as loaded: " + steps);
      } finally {
        m.close();
      }
    });
  }

  /**
   * {@code auto} on the CPU: the digit CNN (4-D weights) gets channels-last and freeze, a model
   * without convolutions freeze; steps given beside it stay; the outputs do not move.
   */
  @Test
  void auto_choosesByTheModelsKind_andKeepsTheOutputs() {
    TorchModel plain = TorchModel.load(digits());
    float[] want = logits(plain);
    plain.close();
    TorchModel conv = TorchModel.load(digits(Optimization.AUTO));
    try {
      assertEquals(List.of("channels_last", "freeze"), conv.optimizations());
      float[] got = logits(conv);
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], 1e-4 * Math.max(1, Math.abs(want[i])), "logit " + i);
      }
    } finally {
      conv.close();
    }
    TorchModel flat = TorchModel.load(Fixtures.twoInTwoOut().toBuilder()
        .optimize(Optimization.AUTO).build());
    try {
      assertEquals(List.of("freeze"), flat.optimizations());
    } finally {
      flat.close();
    }
    TorchModel both = TorchModel.load(digits(Optimization.AUTO,
        Optimization.OPTIMIZE_FOR_INFERENCE));
    try {
      assertEquals(List.of("channels_last", "optimize_for_inference"), both.optimizations(),
          "a step given beside auto stays (optimize_for_inference includes freeze)");
    } finally {
      both.close();
    }
  }

  /**
   * What {@code auto} stands for on CUDA: a network mostly of convolutions (ResNet-50, the digit
   * CNN) gets optimize_for_inference in fp16/bf16 and freeze in fp32; a model whose only 4-D
   * weights are a small share (a vision transformer's patch embedding) gets freeze, with
   * channels-last and cuDNN benchmark for its convolution; a model without convolutions freeze
   * alone, on any device.
   */
  @Test
  void autoSteps_followTheShareOfConvolutionWeights() {
    var ofi = java.util.EnumSet.of(Optimization.CHANNELS_LAST, Optimization.CUDNN_BENCHMARK,
        Optimization.OPTIMIZE_FOR_INFERENCE);
    var freezeCuda = java.util.EnumSet.of(Optimization.CHANNELS_LAST,
        Optimization.CUDNN_BENCHMARK, Optimization.FREEZE);
    assertEquals(ofi, LoadPasses.autoSteps(0.92, true, ai.nos.Precision.FP16), "ResNet-50");
    assertEquals(ofi, LoadPasses.autoSteps(0.48, true, ai.nos.Precision.BF16), "digit CNN");
    assertEquals(freezeCuda, LoadPasses.autoSteps(0.92, true, ai.nos.Precision.FP32));
    assertEquals(freezeCuda, LoadPasses.autoSteps(0.007, true, ai.nos.Precision.FP16),
        "ViT-B/16: one patch-embedding convolution");
    assertEquals(java.util.EnumSet.of(Optimization.CHANNELS_LAST, Optimization.FREEZE),
        LoadPasses.autoSteps(0.92, false, ai.nos.Precision.FP16), "the CPU");
    assertEquals(java.util.EnumSet.of(Optimization.FREEZE),
        LoadPasses.autoSteps(0, true, ai.nos.Precision.FP16), "no convolution");
  }

  @Test
  void convolutionalShare_isTheShareOfParameterBytesIn4dWeights() {
    TorchModel digits = TorchModel.load(digits());
    try {
      double share = LoadPasses.convolutionalShare(digits.module());
      // models/digits: 19,008 of 39,720 parameter bytes in its convolutions
      assertEquals(19_008.0 / 39_720, share, 1e-9);
    } finally {
      digits.close();
    }
    TorchModel flat = TorchModel.load(Fixtures.twoInTwoOut());
    try {
      assertEquals(0, LoadPasses.convolutionalShare(flat.module()));
    } finally {
      flat.close();
    }
  }

  /**
   * A compiled library takes only the steps that do not rewrite a module: cuDNN benchmark mode
   * on a GPU (asked for, or by auto), nothing on the CPU; the TorchScript passes are skipped.
   */
  @Test
  void packageSteps_onlyThoseThatDoNotRewriteAModule() {
    ModelSpec spec = digits(Optimization.CHANNELS_LAST, Optimization.FREEZE,
        Optimization.CUDNN_BENCHMARK);
    assertEquals(List.of("cudnn_benchmark"),
        LoadPasses.applyToPackage(spec, ai.nos.Device.cuda(0)));
    assertEquals(List.of("cudnn_benchmark"), LoadPasses.applyToPackage(
        digits(Optimization.AUTO), ai.nos.Device.cuda(0)));
    assertEquals(List.of(), LoadPasses.applyToPackage(spec, ai.nos.Device.cpu()));
    assertEquals(List.of(), LoadPasses.applyToPackage(digits(Optimization.OPTIMIZE_FOR_INFERENCE),
        ai.nos.Device.cuda(0)));
  }

  @Test
  void freeze_turnsTheParametersIntoConstants() {
    TorchModel m = TorchModel.load(digits(Optimization.FREEZE));
    try {
      assertEquals(0, m.module().parameters(true).size(), "a frozen module has no parameters");
    } finally {
      m.close();
    }
  }

  /**
   * A frozen model loaded and called on a thread whose TorchScript executor optimization is off
   * (a thread-local libtorch flag an application, or an engine's own thread, may turn off): the
   * step is kept (before the fix, freeze ran under the thread's setting and the check's run
   * failed with "Couldn't find method: '_conv_forward'"), the calls go past the profiling
   * executor's profiling runs, the outputs are the model's, and the thread keeps its setting.
   */
  @Test
  void freeze_servesAThreadWithExecutorOptimizationOff() {
    TorchModel plain = TorchModel.load(digits());
    float[] want = logits(plain);
    plain.close();
    boolean before = torch.getGraphExecutorOptimize();
    torch.setGraphExecutorOptimize(false);
    TorchModel m = null;
    try {
      m = TorchModel.load(digits(Optimization.FREEZE));
      assertEquals(List.of("freeze"), m.optimizations());
      for (int call = 0; call < 4; call++) {
        float[] got = logits(m);
        for (int i = 0; i < want.length; i++) {
          assertEquals(want[i], got[i], 1e-4 * Math.max(1, Math.abs(want[i])),
              "call " + call + " logit " + i);
        }
        assertFalse(torch.getGraphExecutorOptimize(), "the thread's setting given back");
      }
    } finally {
      torch.setGraphExecutorOptimize(before);
      if (m != null) {
        m.close();
      }
    }
  }

  @Test
  void channelsLast_convWeightsInNhwc() {
    TorchModel m = TorchModel.load(digits(Optimization.CHANNELS_LAST));
    try {
      int convs = 0;
      var params = m.module().parameters(true);
      for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
        var p = it.access();
        if (p.dim() == 4) {
          convs++;
          assertTrue(p.is_contiguous(torch.MemoryFormat.ChannelsLast), "conv weight " + convs);
        }
      }
      assertEquals(2, convs);
    } finally {
      m.close();
    }
  }

  @Test
  void stepThatChangesTheOutputs_isRejected_stepsBeforeItStay() {
    TorchModel plain = TorchModel.load(digits());
    float[] want = logits(plain);
    plain.close();
    TorchModel m = TorchModel.load(digits(), (spec, device) -> List.of(
        new LoadPasses.Pass("channels_last-copy", JitModule::clone),
        new LoadPasses.Pass("double-the-weights", module -> {
          JitModule copy = module.clone();
          var params = copy.parameters(true);
          for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
            it.access().mul_(new org.bytedeco.pytorch.Scalar(2.0));
          }
          return copy;
        }),
        new LoadPasses.Pass("after-the-broken-one", JitModule::clone)));
    try {
      assertEquals(List.of("channels_last-copy"), m.optimizations(),
          "the steps before the broken one stay, the ones after it go");
      assertArrayEquals(want, logits(m));
    } finally {
      m.close();
    }
  }

  @Test
  void stepThatFails_isRejected_modelServesAsLoaded() {
    TorchModel m = TorchModel.load(digits(), (spec, device) -> List.of(
        new LoadPasses.Pass("boom", module -> {
          throw new IllegalStateException("boom");
        })));
    try {
      assertEquals(List.of(), m.optimizations());
      assertEquals(320, logits(m).length);
    } finally {
      m.close();
    }
  }

  @Test
  void compare_nonFiniteOrBeyondTolerance_isAProblem() {
    Map<String, Tensor> a = Map.of("y", Tensor.of(new float[] {1, -2, 4}, 3));
    assertNull(LoadPasses.compare(a, Map.of("y", Tensor.of(new float[] {1, -2, 4.003f}, 3)),
        1e-3));
    assertTrue(LoadPasses.compare(a, Map.of("y", Tensor.of(new float[] {1, -2, 4.01f}, 3)),
        1e-3).contains("relative"));
    assertTrue(LoadPasses.compare(a, Map.of("y", Tensor.of(new float[] {1, Float.NaN, 4}, 3)),
        1.0).contains("NaN"));
    assertFalse(LoadPasses.compare(a, Map.of("y", Tensor.of(new float[] {1, 4}, 2)), 1.0)
        .isEmpty());
  }
}
