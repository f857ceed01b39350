package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GenerationConfig;
import ai.nos.internal.audio.WhisperLogMel;
import ai.nos.testing.WhisperMicro;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import org.junit.jupiter.api.Test;

/**
 * An encoder taking PCM windows (models/whisper-micro on the CPU): the engine computes each
 * admitted window's log-mel features on the device, so the slot's cross row is exactly what the
 * encoder gives on {@link WhisperLogMel}'s features of that window; windows admitted together
 * get their own rows; bad windows are refused at submission.
 */
final class PcmEncoderInputTest {

  private static GenerationEngine engine(int slots, boolean start) {
    DecoderModel model = DecoderModel.load("micro", WhisperMicro.DIR.resolve("decoder.pt"),
        Device.cpu(), Precision.FP32);
    EncoderModel encoder = EncoderModel.load("micro", WhisperMicro.DIR.resolve("encoder.pt"),
        model, true);
    return new GenerationEngine("micro", model, encoder, slots, 64, 16,
        ForkJoinPool.commonPool(), System::nanoTime, false, GenerationEngine.PREFILL_TOKENS,
        start, false);
  }

  @Test
  void admission_fillsEachSlotFromItsOwnWindowsDeviceFeatures() {
    float[][] windows = {WhisperMicro.pcmWindow(440, 3, 1), new float[480_000],
        WhisperMicro.pcmWindow(1800, 12, 2)};
    float[][] features = WhisperLogMel.compute(windows, 80, Device.cpu());
    try (GenerationEngine engine = engine(3, false)) {
      assertTrue(engine.encoder().pcmInput());
      assertArrayEquals(new int[] {480_000}, engine.encoder().inputShape());
      int[] prompt = WhisperMicro.cases(WhisperMicro.DIR).get(0).prompt();
      GenerationConfig two = GenerationConfig.builder().maxNewTokens(2).build();
      List<CompletableFuture<?>> all = new ArrayList<>();
      for (float[] w : windows) {
        all.add(engine.submit(prompt, w, two, null));
      }
      engine.start(); // the three are admitted (and encoded) together, in slots 0, 1, 2
      all.forEach(CompletableFuture::join);
      float[][] expected = new float[windows.length][];
      for (int i = 0; i < windows.length; i++) {
        expected[i] = CrossCacheTest.expectedKeys(engine.model(), engine.encoder(),
            features[i]);
        float[] row = CrossCacheTest.floats(engine.crossKeysForTest().select(1, i));
        assertArrayEquals(expected[i], row, 1e-5f, "window " + i + "'s cross keys in slot " + i);
      }
      assertTrue(CrossCacheTest.maxDiff(expected[0], expected[1]) > 1e-3
          && CrossCacheTest.maxDiff(expected[0], expected[2]) > 1e-3,
          "different windows gave the same cross keys");
    }
  }

  @Test
  void badWindows_areRefusedAtSubmission_withWhatWasGiven() {
    try (GenerationEngine engine = engine(1, true)) {
      int[] prompt = WhisperMicro.cases(WhisperMicro.DIR).get(0).prompt();
      GenerationConfig two = GenerationConfig.builder().maxNewTokens(2).build();
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> engine.submit(prompt, new float[80 * 3000], two, null));
      assertTrue(e.getMessage().contains("generator 'micro': the encoder input (PCM) must be"
          + " 480000 samples") && e.getMessage().contains("but was 240000 samples"),
          e.getMessage());
      float[] inf = new float[480_000];
      inf[123_456] = Float.POSITIVE_INFINITY;
      e = assertThrows(IllegalArgumentException.class,
          () -> engine.submit(prompt, inf, two, null));
      assertTrue(e.getMessage().contains("sample 123456 is Infinity"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> engine.submit(prompt, null, two, null));
      assertEquals(0, engine.queued());
    }
  }
}
