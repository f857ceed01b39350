package ai.nos.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.testing.WhisperMicro;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * whisper-tiny (make_whisper.py --config tiny --out DIR, made on the device; DIR in
 * -Dnos.test.whisperTiny or NOS_WHISPER_TINY) in FP32 on cuda:0: transformers' greedy ids for
 * every reference case, alone and all at once (decode steps then replay the CUDA graphs of a
 * batch of 5, padded to 8).
 */
@Tag("gpu")
final class WhisperTinyGpuTest {

  static Path dir() {
    String d = System.getProperty("nos.test.whisperTiny", System.getenv("NOS_WHISPER_TINY"));
    assumeTrue(d != null && Files.isRegularFile(Path.of(d, "decoder.pt")),
        "no whisper-tiny export: set -Dnos.test.whisperTiny or NOS_WHISPER_TINY");
    return Path.of(d);
  }

  @Test
  void greedy_equalsTransformers_aloneAndConcurrently() {
    Path dir = dir();
    List<WhisperMicro.Case> cases = WhisperMicro.cases(dir);
    try (TokenGenerator asr = TokenGenerator.builder(dir.resolve("decoder.pt"))
        .encoder(dir.resolve("encoder.pt")).device(Device.cuda(0)).precision(Precision.FP32)
        .maxSequences(8).build()) {
      for (WhisperMicro.Case c : cases) {
        GenerationConfig config = GenerationConfig.builder().maxNewTokens(c.greedy().length)
            .build();
        assertArrayEquals(c.greedy(), asr.generate(c.prompt(), WhisperMicro.features(c.clip()),
            config).join().tokens(), c.clip() + " alone");
      }
      List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
      for (WhisperMicro.Case c : cases) {
        all.add(asr.generate(c.prompt(), WhisperMicro.features(c.clip()), GenerationConfig
            .builder().maxNewTokens(c.greedy().length).build()));
      }
      for (int i = 0; i < cases.size(); i++) {
        assertArrayEquals(cases.get(i).greedy(), all.get(i).join().tokens(),
            cases.get(i).clip() + " among " + cases.size());
      }
      // On CUDA the encoding is timed by events, not waited for (GenerationEngine's essay):
      // each admission's share is the device's, so it is positive and within the prefills'.
      GenerationStats s = asr.stats();
      assertTrue(s.encoderInputs() == 2L * cases.size() && s.encodeNanos() > 0
          && s.encodeNanos() <= s.prefillNanos(), s.summary());
    }
  }
}
