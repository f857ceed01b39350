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
    return new GenerationEngine("micro", model, encoder, slots, 64, 32,
        ForkJoinPool.commonPool(), System::nanoTime, false, GenerationEngine.PREFILL_TOKENS,
        start, false);
  }

  /**
   * The admission's pack: 16 PCM windows (30.7 MB, several parts on Copies' threads) land each
   * at its own row of the staging buffer, whole and in order.
   */
  @Test
  void pack_writesEveryWindowAtItsRow_overSeveralThreads() {
    int n = 480_000;
    float[][] windows = new float[16][n];
    for (int r = 0; r < windows.length; r++) {
      for (int i = 0; i < n; i++) {
        windows[r][i] = r * 1_000_000f + i;
      }
    }
    assertTrue(ai.nos.internal.Copies.parts(4L * 16 * n) > 1, "a copy split over threads");
    java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocateDirect(4 * 16 * n)
        .order(java.nio.ByteOrder.nativeOrder());
    EncoderModel.pack(windows, n, buffer);
    java.nio.FloatBuffer floats = buffer.asFloatBuffer();
    for (int r = 0; r < windows.length; r++) {
      for (int i : new int[] {0, 1, n / 2, n - 1}) {
        assertEquals(windows[r][i], floats.get(r * n + i), "window " + r + ", sample " + i);
      }
    }
    float[] row = new float[n];
    floats.get(7 * n, row);
    assertArrayEquals(windows[7], row);
    assertEquals(0, buffer.position(), "the buffer's position is left alone");
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

  /**
   * An idle engine admits every queued window before its first decode step: 20 windows on 20
   * slots are encoded in two prefills (16, then 4: ENCODER_BATCH), and every decode step serves
   * all 20. Interleaving (prefill, decode, prefill) would take one step more. Slots on both
   * sides of the chunk boundary hold their own window's cross keys.
   */
  @Test
  void idleEngine_encodesAllQueuedWindows_inChunksOf16_beforeDecoding() {
    int n = 20;
    float[][] windows = new float[n][];
    for (int i = 0; i < n; i++) {
      windows[i] = WhisperMicro.pcmWindow(200 + 150 * i, 1 + i % 5, i);
    }
    try (GenerationEngine engine = engine(n, false)) {
      int[] prompt = WhisperMicro.cases(WhisperMicro.DIR).get(0).prompt();
      GenerationConfig three = GenerationConfig.builder().maxNewTokens(3).build();
      List<CompletableFuture<ai.nos.generate.GeneratedTokens>> all = new ArrayList<>();
      for (float[] w : windows) {
        all.add(engine.submit(prompt, w, three, null));
      }
      engine.start();
      int longest = 0;
      for (CompletableFuture<ai.nos.generate.GeneratedTokens> f : all) {
        longest = Math.max(longest, f.join().tokens().length);
      }
      assertEquals(2 + longest - 1, engine.steps(), "2 prefills then " + (longest - 1)
          + " shared decode steps");
      int[] probe = {0, 15, 16, 19};
      float[][] features = WhisperLogMel.compute(new float[][] {windows[0], windows[15],
          windows[16], windows[19]}, 80, Device.cpu());
      for (int i = 0; i < probe.length; i++) {
        float[] row = CrossCacheTest.floats(engine.crossKeysForTest().select(1, probe[i]));
        assertArrayEquals(CrossCacheTest.expectedKeys(engine.model(), engine.encoder(),
            features[i]), row, 1e-5f, "window " + probe[i] + "'s cross keys");
      }
    }
  }
}
