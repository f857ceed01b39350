package ai.nos.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.testing.TinyLlama;
import ai.nos.testing.WhisperMicro;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The committed Whisper export (models/whisper-micro: the real architecture and vocabulary,
 * d_model 16, random weights) through the generation engine on the CPU: encoder at admission,
 * cross caches per slot, every step with the cross caches.
 */
final class EncoderDecoderTest {
  static final Path DIR = WhisperMicro.DIR;
  static TokenGenerator asr;

  @BeforeAll
  static void load() {
    asr = TokenGenerator.builder(DIR.resolve("decoder.pt")).encoder(DIR.resolve("encoder.pt"))
        .device(Device.cpu()).maxSequences(4).build();
  }

  @AfterAll
  static void close() {
    asr.close();
  }

  static GenerationConfig greedy(int n) {
    return GenerationConfig.builder().maxNewTokens(n).build();
  }

  @Test
  void greedy_equalsTransformers_everyClip() {
    for (WhisperMicro.Case c : WhisperMicro.cases(DIR)) {
      GeneratedTokens out = asr.generate(c.prompt(), WhisperMicro.features(c.clip()),
          greedy(24)).join();
      assertArrayEquals(c.greedy(), out.tokens(), c.clip());
    }
  }

  @Test
  void concurrentRequests_shareDecodeSteps_andEqualAlone() {
    List<WhisperMicro.Case> cases = WhisperMicro.cases(DIR);
    long sharedBefore = asr.sharedDecodeSteps();
    List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
    for (int round = 0; round < 2; round++) {
      for (WhisperMicro.Case c : cases) {
        futures.add(asr.generate(c.prompt(), WhisperMicro.features(c.clip()), greedy(24)));
      }
    }
    for (int i = 0; i < futures.size(); i++) {
      WhisperMicro.Case c = cases.get(i % cases.size());
      assertArrayEquals(c.greedy(), futures.get(i).join().tokens(), c.clip());
    }
    assertTrue(asr.sharedDecodeSteps() > sharedBefore, "10 requests on 4 slots never shared"
        + " a decode step");
  }

  @Test
  void shapeAndBytes_countTheCrossCache() {
    assertArrayEquals(new int[] {80, 3000}, asr.encoderInputShape());
    assertEquals(50258L, asr.modelInfo().get("decoder_start_token_id"));
    // self: 2 x layers 2 x 448 positions x 2 heads x 8 x 4 bytes + seen vocabulary;
    // cross: 2 x 2 layers x 1500 audio positions x 2 heads x 8 x 4 bytes
    long self = 2L * 2 * 448 * 2 * 8 * 4 + 51865;
    long cross = 2L * 2 * 1500 * 2 * 8 * 4;
    assertEquals(self + cross, asr.cacheBytesPerSequence());
    assertEquals(4 * (self + cross), asr.cacheBytes());
  }

  @Test
  void badEncoderInput_isRefusedWithItsSize() {
    int[] prompt = WhisperMicro.cases(DIR).get(0).prompt();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> asr.generate(prompt, new float[80 * 2999], greedy(4)));
    assertTrue(e.getMessage().contains("240000 floats ([80, 3000]")
        && e.getMessage().contains("got 239920"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> asr.generate(prompt, null, greedy(4)));
  }

  @Test
  void decoderWithoutEncoder_andEncoderWithoutCrossAttention_failTheLoad() {
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> TokenGenerator
        .builder(DIR.resolve("decoder.pt")).device(Device.cpu()).maxSequences(1).build());
    assertTrue(e.getMessage().contains("give its encoder"), e.getMessage());
    e = assertThrows(ModelLoadException.class, () -> TokenGenerator.builder(TinyLlama.MODEL)
        .encoder(DIR.resolve("encoder.pt")).device(Device.cpu()).maxSequences(1).build());
    assertTrue(e.getMessage().contains("no cross-attention"), e.getMessage());
  }

  @Test
  void decoderOnlyGenerator_refusesAnEncoderInput() {
    try (TokenGenerator lm = TokenGenerator.builder(TinyLlama.MODEL).device(Device.cpu())
        .maxSequences(1).build()) {
      assertThrows(IllegalArgumentException.class,
          () -> lm.generate(new int[] {1}, new float[4], greedy(2)));
      assertArrayEquals(new int[0], lm.encoderInputShape());
    }
  }

  /**
   * A booked encoder-decoder generator evicted for a model: a request whose encoder input is
   * refused (wrong length, or PCM holding a NaN) is refused before a reload is paid for, so the
   * model that evicted it stays loaded. Before, the generator was reloaded (evicting the model)
   * and only then did its engine refuse the input.
   */
  @Test
  void booked_evicted_badEncoderInput_refusedWithoutAReload() {
    int[] prompt = WhisperMicro.cases(DIR).get(0).prompt();
    for (boolean pcm : new boolean[] {false, true}) {
      long bytes;
      try (ai.nos.ModelManager big = ai.nos.ModelManager.builder().devices(Device.cpu())
          .noFootprintCatalog().build();
          TokenGenerator t = TokenGenerator.builder(DIR.resolve("decoder.pt"))
              .encoder(DIR.resolve("encoder.pt")).whisperPcm(pcm).device(Device.cpu())
              .maxSequences(1).manager(big).build()) {
        bytes = t.deviceBytes();
      }
      // Room for the generator or the tokens model, not both.
      try (ai.nos.ModelManager m = ai.nos.ModelManager.builder().devices(Device.cpu())
          .memoryBudget(Device.cpu(), bytes + 1000).noFootprintCatalog().build();
          TokenGenerator asr = TokenGenerator.builder(DIR.resolve("decoder.pt"))
              .encoder(DIR.resolve("encoder.pt")).whisperPcm(pcm).id("asr")
              .device(Device.cpu()).maxSequences(1).manager(m).build();
          ai.nos.Model tokens = m.load(ai.nos.Fixtures.tokens())) {
        assertEquals(ai.nos.ModelState.EVICTED, state(m, "asr"));
        float[] bad = pcm ? new float[480_000] : new float[3];
        bad[0] = Float.NaN;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> asr.generate(prompt, bad, greedy(4)));
        assertTrue(e.getMessage().contains(pcm ? "sample 0 is NaN" : "got 3 floats"),
            e.getMessage());
        assertEquals(ai.nos.ModelState.EVICTED, state(m, "asr"), "pcm " + pcm);
        assertEquals(ai.nos.ModelState.READY, state(m, "tokens"), "pcm " + pcm);
      }
    }
  }

  private static ai.nos.ModelState state(ai.nos.ModelManager m, String id) {
    return m.models().stream().filter(i -> i.id().equals(id)).findFirst().orElseThrow().state();
  }

  @Test
  void booked_encoderOutsideTheAllowedDirectories_refused(@org.junit.jupiter.api.io.TempDir
      Path allowed) throws Exception {
    // The decoder sits inside the manager's allowed directory, the encoder outside it: the
    // encoder is opened as well, so it must be refused like the decoder would be.
    Path decoder = java.nio.file.Files.copy(WhisperMicro.DIR.resolve("decoder.pt"),
        allowed.resolve("decoder.pt"));
    try (ai.nos.ModelManager m = ai.nos.ModelManager.builder().devices(Device.cpu())
        .allowedDirectories(allowed).noFootprintCatalog().build()) {
      RuntimeException e = assertThrows(RuntimeException.class, () -> TokenGenerator
          .builder(decoder).encoder(WhisperMicro.DIR.resolve("encoder.pt"))
          .device(Device.cpu()).maxSequences(1).manager(m).build());
      assertTrue(String.valueOf(e.getMessage()).contains("encoder.pt"), e.toString());
    }
  }

  /**
   * whisperPcm: the request sends PCM windows and the engine computes the features on the
   * device; the ids equal the log-mel generator's on WhisperLogMel's features of the same
   * windows, alone and with windows admitted together, standalone and booked with a manager.
   */
  @Test
  void whisperPcm_givesTheIdsOfTheLogMelPath_aloneAndTogether_standaloneAndBooked() {
    float[][] windows = {WhisperMicro.pcmWindow(440, 3, 1), new float[480_000],
        WhisperMicro.pcmWindow(1800, 20, 2), WhisperMicro.pcmWindow(300, 30, 3)};
    float[][] features = ai.nos.internal.audio.WhisperLogMel.compute(windows, 80, Device.cpu());
    int[] prompt = WhisperMicro.cases(DIR).get(0).prompt();
    List<int[]> expected = new ArrayList<>();
    for (float[] f : features) {
      expected.add(asr.generate(prompt, f, greedy(24)).join().tokens());
    }
    try (ai.nos.ModelManager m = ai.nos.ModelManager.builder().devices(Device.cpu())
        .noFootprintCatalog().build()) {
      for (boolean booked : new boolean[] {false, true}) {
        TokenGenerator.Builder b = TokenGenerator.builder(DIR.resolve("decoder.pt"))
            .encoder(DIR.resolve("encoder.pt")).whisperPcm(true).device(Device.cpu())
            .maxSequences(4);
        try (TokenGenerator pcm = booked ? b.manager(m).build() : b.build()) {
          assertArrayEquals(new int[] {480_000}, pcm.encoderInputShape());
          for (int i = 0; i < windows.length; i++) {
            assertArrayEquals(expected.get(i), pcm.generate(prompt, windows[i], greedy(24))
                .join().tokens(), "window " + i + " alone, booked " + booked);
          }
          List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
          for (float[] w : windows) {
            all.add(pcm.generate(prompt, w, greedy(24)));
          }
          for (int i = 0; i < windows.length; i++) {
            assertArrayEquals(expected.get(i), all.get(i).join().tokens(),
                "window " + i + " among " + windows.length + ", booked " + booked);
          }
          IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
              () -> pcm.generate(prompt, new float[80 * 3000], greedy(4)));
          assertTrue(e.getMessage().contains("must be 480000 samples")
              && e.getMessage().contains("but was 240000 samples"), e.getMessage());
        }
      }
    }
  }

  @Test
  void whisperPcm_withoutAnEncoder_isRefusedAtBuild() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> TokenGenerator
        .builder(TinyLlama.MODEL).whisperPcm(true).device(Device.cpu()).build());
    assertTrue(e.getMessage().contains("whisperPcm(true) needs an encoder"), e.getMessage());
  }
}
