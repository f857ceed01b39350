package ai.nos.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.testing.TinyLlama;
import ai.nos.testing.WhisperMicro;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The generator's breakdown of its own time (what WhisperBench prints per round): every count
 * follows from the requests run, and the times nest (encoding inside the prefills, the wait for
 * the device inside the decode steps).
 */
final class GenerationStatsTest {

  @Test
  void stats_countAdmissionsWindowsAndDecodeRows_ofAnEncoderDecoderModel() {
    List<WhisperMicro.Case> cases = WhisperMicro.cases(WhisperMicro.DIR);
    try (TokenGenerator asr = TokenGenerator.builder(WhisperMicro.DIR.resolve("decoder.pt"))
        .encoder(WhisperMicro.DIR.resolve("encoder.pt")).device(Device.cpu()).maxSequences(8)
        .build()) {
      assertEquals(GenerationStats.NONE, asr.stats());
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      for (WhisperMicro.Case c : cases) {
        futures.add(asr.generate(c.prompt(), WhisperMicro.features(c.clip()),
            GenerationConfig.builder().maxNewTokens(6).build()));
      }
      long tokens = 0;
      for (CompletableFuture<GeneratedTokens> f : futures) {
        tokens += f.join().size();
      }
      GenerationStats s = asr.stats();
      assertEquals(cases.size(), s.prefillSequences(), s.summary());
      assertEquals(cases.size(), s.encoderInputs(), s.summary());
      assertTrue(s.prefills() >= 1 && s.prefills() <= cases.size(), s.summary());
      // each request's first token comes from its prefill, every other from a decode row
      assertEquals(tokens - cases.size(), s.decodeRows(), s.summary());
      assertEquals(0, s.graphSteps(), "the CPU has no CUDA graphs: " + s.summary());
      assertEquals(0, s.paddingRows(), s.summary());
      assertTrue(s.maxRows() >= 1 && s.maxRows() <= cases.size(), s.summary());
      assertTrue(s.decodeSteps() >= 5 && s.decodeRows() >= s.decodeSteps(), s.summary());
      assertTrue(s.encodeNanos() > 0 && s.encodeNanos() <= s.prefillNanos(), s.summary());
      assertTrue(s.decodeWaitNanos() >= 0 && s.decodeWaitNanos() <= s.decodeNanos(),
          s.summary());
      assertTrue(s.msPerDecodeStep() > 0, s.summary());

      GeneratedTokens one = asr.generate(cases.get(0).prompt(),
          WhisperMicro.features(cases.get(0).clip()),
          GenerationConfig.builder().maxNewTokens(4).build()).join();
      GenerationStats delta = asr.stats().minus(s);
      assertEquals(1, delta.prefills(), delta.summary());
      assertEquals(1, delta.encoderInputs(), delta.summary());
      assertEquals(one.size() - 1, delta.decodeSteps(), delta.summary());
      assertEquals(one.size() - 1, delta.decodeRows(), delta.summary());
    }
  }

  @Test
  void stats_ofADecoderOnlyModel_haveNoEncoding() {
    try (TokenGenerator lm = TokenGenerator.builder(TinyLlama.MODEL).device(Device.cpu())
        .maxSequences(2).build()) {
      GeneratedTokens out = lm.generate(new int[] {1, 5, 9},
          GenerationConfig.builder().maxNewTokens(5).eosTokenIds(TinyLlama.NEVER).build()).join();
      GenerationStats s = lm.stats();
      assertEquals(1, s.prefills(), s.summary());
      assertEquals(0, s.encoderInputs(), s.summary());
      assertEquals(0, s.encodeNanos(), s.summary());
      assertEquals(5, out.size());
      assertEquals(4, s.decodeSteps(), s.summary());
      assertEquals(1, s.maxRows(), s.summary());
    }
  }

  @Test
  void summary_namesEveryPart() {
    GenerationStats s = new GenerationStats(4, 64, 64, 80_000_000, 30_000_000, 127, 127,
        127 * 64, 0, 64, 508_000_000, 400_000_000, 120, 127_000_000);
    assertEquals("prefills=4 sequences=64 windows=64 prefill_ms=80.0 encode_ms=30.0"
        + " decode_steps=127 graph_steps=127 eager_steps=0 rows_per_step=64.0 max_rows=64"
        + " padding_rows=0 decode_ms=508.0 ms_per_step=4.000 wait_ms_per_step=3.150"
        + " ahead_steps=120 launch_ms_per_step=1.000",
        s.summary());
    assertEquals(s, s.plus(GenerationStats.NONE));
    assertEquals(GenerationStats.NONE.decodeSteps(), s.minus(s).decodeSteps());
    assertEquals(0, s.minus(s).aheadSteps());
    assertEquals(2 * 127_000_000L, s.plus(s).launchNanos());
  }
}
