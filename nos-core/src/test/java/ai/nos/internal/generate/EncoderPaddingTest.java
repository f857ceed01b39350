package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.GenerationStats;
import ai.nos.testing.WhisperMicro;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import org.junit.jupiter.api.Test;

/**
 * An encoder-decoder engine that pads its admissions' encoder batches to the bucket sizes and
 * warms them first (what it does on CUDA; the essay's "Encoder-decoder models"), on the CPU with
 * models/whisper-micro: each request's slot holds its own window's cross keys (not the
 * padding's, not the warm-up's), and the tokens are those of an engine that does not pad. The
 * tokens alone could not show it: with these random weights every clip decodes the same.
 */
final class EncoderPaddingTest {
  private static final String[] CLIPS = {"tone", "chirp", "noise"};

  @Test
  void paddedAdmission_fillsEachSlotFromItsOwnWindow_andGivesTheUnpaddedTokens() {
    List<int[]> plain = run(false);
    List<int[]> padded = run(true);
    for (int i = 0; i < CLIPS.length; i++) {
      assertArrayEquals(plain.get(i), padded.get(i), CLIPS[i]);
    }
  }

  private static List<int[]> run(boolean pad) {
    DecoderModel model = DecoderModel.load("micro", WhisperMicro.DIR.resolve("decoder.pt"),
        Device.cpu(), Precision.FP32);
    EncoderModel encoder = EncoderModel.load("micro", WhisperMicro.DIR.resolve("encoder.pt"),
        model, false);
    // 4 slots: buckets 1, 2, 4; three windows queued before the start are one admission,
    // padded to 4 with a silent window when padding
    try (GenerationEngine engine = new GenerationEngine("micro-padded-" + pad, model, encoder,
        4, 64, 8, ForkJoinPool.commonPool(), System::nanoTime, false,
        GenerationEngine.PREFILL_TOKENS, false, pad)) {
      int[] prompt = WhisperMicro.cases(WhisperMicro.DIR).get(0).prompt();
      GenerationConfig two = GenerationConfig.builder().maxNewTokens(2).build();
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      for (String clip : CLIPS) {
        futures.add(engine.submit(prompt, WhisperMicro.features(clip), two, null));
      }
      engine.start();
      List<int[]> ids = new ArrayList<>();
      for (CompletableFuture<GeneratedTokens> f : futures) {
        ids.add(f.join().tokens());
      }
      assertArrayEquals(pad ? new int[] {1, 2, 4} : new int[0], engine.warmedEncoderSizes());
      GenerationStats stats = engine.stats();
      assertEquals(1, stats.prefills(), stats.summary());
      assertEquals(CLIPS.length, stats.encoderInputs(), stats.summary());
      // The scheduler is idle now; request i was admitted into slot i, whose row stays.
      for (int i = 0; i < CLIPS.length; i++) {
        float[] expected = CrossCacheTest.expectedKeys(model, encoder,
            WhisperMicro.features(CLIPS[i]));
        float[] row = CrossCacheTest.floats(engine.crossKeysForTest().select(1, i));
        assertArrayEquals(expected, row, 1e-5f, CLIPS[i] + "'s cross keys in slot " + i);
      }
      assertTrue(CrossCacheTest.maxDiff(
          CrossCacheTest.expectedKeys(model, encoder, WhisperMicro.features(CLIPS[0])),
          CrossCacheTest.expectedKeys(model, encoder, WhisperMicro.features(CLIPS[1])))
          > 1e-3, "two clips gave the same cross keys");
      return ids;
    }
  }
}
