package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GenerationConfig;
import ai.nos.testing.WhisperMicro;
import java.util.concurrent.ForkJoinPool;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The cross caches of an encoder-decoder engine (models/whisper-micro on the CPU): admission
 * fills the request's slot from its own encoder output, and a step reads them. The committed
 * reference alone cannot show either: with these random weights every clip decodes to the same
 * tokens.
 */
final class CrossCacheTest {

  @Test
  void admission_fillsTheSlotsRowFromItsRequest_andStepsReadIt() {
    try (GenerationEngine engine = microEngine()) {
      DecoderModel model = engine.model();
      EncoderModel encoder = engine.encoder();
      int[] prompt = WhisperMicro.cases(WhisperMicro.DIR).get(0).prompt();
      GenerationConfig two = GenerationConfig.builder().maxNewTokens(2).build();
      float[][] expected = new float[2][];
      String[] clips = {"tone", "silence"};
      for (int i = 0; i < 2; i++) {
        float[] features = WhisperMicro.features(clips[i]);
        engine.submit(prompt, features, two, null).join();
        // The scheduler is idle between requests: nothing touches the caches now.
        float[] row = floats(engine.crossKeysForTest().select(1, 0));
        expected[i] = expectedKeys(model, encoder, features);
        assertArrayEquals(expected[i], row, 1e-6f, clips[i] + "'s cross keys in slot 0");
      }
      assertTrue(maxDiff(expected[0], expected[1]) > 1e-3, "tone and silence gave the same"
          + " cross keys");
      try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
        // One prefill step of the prompt with the slot's cross row as filled, then zeroed.
        Tensor ids = Sampler.longs(new long[] {prompt[0], prompt[1], prompt[2], prompt[3]},
            new long[] {1, 4}, model.torchDevice());
        Tensor pos = Sampler.longs(new long[] {0, 1, 2, 3}, new long[] {1, 4},
            model.torchDevice());
        Tensor slot = Sampler.longs(new long[] {0}, new long[] {1}, model.torchDevice());
        long[] kv = {2, 1, 64, 2, 8};
        Tensor k = torch.zeros(kv, new TensorOptions(torch.ScalarType.Float));
        Tensor v = torch.zeros(kv, new TensorOptions(torch.ScalarType.Float));
        Tensor xk = engine.crossKeysForTest().clone();
        Tensor xv = engine.crossValuesForTest().clone();
        float[] filled = floats(model.step(ids, pos, slot, k, v, xk, xv));
        float[] empty = floats(model.step(ids, pos, slot, k, v, xk.zero_(), xv.zero_()));
        assertTrue(maxDiff(filled, empty) > 1e-4, "the step's logits ignore the cross caches");
      }
    }
  }

  /** models/whisper-micro on the CPU: one slot of 64 positions, eager steps. */
  static GenerationEngine microEngine() {
    DecoderModel model = DecoderModel.load("micro", WhisperMicro.DIR.resolve("decoder.pt"),
        Device.cpu(), Precision.FP32);
    EncoderModel encoder = EncoderModel.load("micro", WhisperMicro.DIR.resolve("encoder.pt"),
        model, false);
    return new GenerationEngine("micro", model, encoder, 1, 64, 4, ForkJoinPool.commonPool(),
        System::nanoTime, false);
  }

  /** Slot 0's cross keys from {@code mel} [1, 80, 3000] through the encoder's forward alone. */
  static float[] expectedKeys(DecoderModel model, EncoderModel encoder, float[] mel) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor input = torch.from_blob(new FloatPointer(mel), new long[] {1, 80, 3000},
          new TensorOptions(torch.ScalarType.Float)).clone();
      long[] shape = {2, 1, 1500, 2, 8};
      Tensor xk = torch.zeros(shape, new TensorOptions(torch.ScalarType.Float));
      Tensor xv = torch.zeros(shape, new TensorOptions(torch.ScalarType.Float));
      model.crossKv(encoder.encode(input), Sampler.longs(new long[] {0}, new long[] {1},
          model.torchDevice()), xk, xv);
      return floats(xk.select(1, 0));
    }
  }

  static float[] floats(Tensor t) {
    try (PointerScope scope = new PointerScope()) {
      Tensor c = t.contiguous();
      float[] out = new float[(int) c.numel()];
      new FloatPointer(c.data_ptr()).get(out);
      return out;
    }
  }

  static double maxDiff(float[] a, float[] b) {
    double d = 0;
    for (int i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
    }
    return d;
  }
}
