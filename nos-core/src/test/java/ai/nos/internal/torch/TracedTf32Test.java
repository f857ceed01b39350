package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Fixtures;
import java.nio.file.Path;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * A traced file's convolutions lose their recorded TF32 flag ({@link TracedTf32}): models/
 * whisper-micro's encoder was traced with PyTorch's defaults, so its two conv1d carry
 * {@code cudnn_tf32 = true}; after the rewrite none does, the graph still runs, and on the CPU
 * (where the flag is ignored) its output is bit for bit what it was. A scripted file (the digit
 * model: aten::conv2d reads the flag at run time) has nothing to rewrite.
 */
final class TracedTf32Test {
  private static final Path ENCODER = Fixtures.modelsDir().resolve("whisper-micro/encoder.pt");
  private static final Path DIGITS = Fixtures.modelsDir().resolve("digits/digits.pt");

  @Test
  void tracedConvolutions_loseTheirTf32Flag_andComputeTheSame() {
    TorchRuntime.ensureLoaded();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      JitModule module = load(ENCODER);
      assertEquals(2, TracedTf32.tf32Convolutions(module),
          "whisper-micro's encoder: two conv1d traced with TF32 on");
      float[] before = run(module);
      assertEquals(2, TracedTf32.strictConvolutions(module));
      assertEquals(0, TracedTf32.tf32Convolutions(module));
      assertEquals(0, TracedTf32.strictConvolutions(module), "a second rewrite finds nothing");
      assertArrayEquals(before, run(module));
      module.close();
    }
  }

  /**
   * Where a copy can reach a GPU (now, or after a park in host memory) its convolutions lose the
   * flag; in a process without a GPU the load does not walk the graphs (the flag is never read
   * there, and the walk cost a fresh JVM's first load about 45 ms).
   */
  @Test
  void fp32Load_runsNoConvolutionInTf32_andSkipsTheRewriteWithoutAGpu() {
    ai.nos.ModelSpec spec = ai.nos.ModelSpec.builder().id("encoder").artifact(ENCODER)
        .signature(ai.nos.Signature.builder()
            .input("mel", ai.nos.DType.FLOAT32, -1, 80, 3000)
            .output("states", ai.nos.DType.FLOAT32, -1, 1500, 16).build())
        .device("cpu").build();
    try (TorchModel model = TorchModel.load(spec)) {
      if (TorchRuntime.cudaDeviceCount() > 0) {
        assertEquals(0, TracedTf32.tf32Convolutions(model.module),
            "an FP32 model's traced convolutions must not keep TF32 where a GPU may run them");
      } else {
        assertEquals(2, TracedTf32.tf32Convolutions(model.module),
            "a process without a GPU never reads the flag: the load leaves the graphs alone");
      }
    }
  }

  @Test
  void scriptedFile_hasNothingToRewrite() {
    TorchRuntime.ensureLoaded();
    try (PointerScope scope = new PointerScope()) {
      JitModule module = load(DIGITS);
      assertEquals(0, TracedTf32.tf32Convolutions(module));
      assertEquals(0, TracedTf32.strictConvolutions(module));
      module.close();
    }
  }

  private static JitModule load(Path file) {
    JitModule module = torch.load(file.toString(), new DeviceOptional(), false);
    module.eval();
    return module;
  }

  /** The encoder's output on a fixed [1, 80, 3000] input. */
  private static float[] run(JitModule module) {
    float[] mel = new float[80 * 3000];
    java.util.Random r = new java.util.Random(7);
    for (int i = 0; i < mel.length; i++) {
      mel[i] = (float) r.nextGaussian();
    }
    Tensor input = torch.from_blob(new FloatPointer(mel), new long[] {1, 80, 3000},
        new TensorOptions(torch.ScalarType.Float)).clone();
    IValueVector args = new IValueVector();
    args.push_back(new IValue(input));
    Tensor out = module.forward(args).toTensor().contiguous();
    float[] values = new float[(int) out.numel()];
    new FloatPointer(out.data_ptr()).capacity(values.length).get(values);
    assertTrue(values.length > 0);
    return values;
  }
}
