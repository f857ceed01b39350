package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.Device;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import ai.nos.hub.audio.Audio;
import ai.nos.testing.WhisperMicro;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The device features on cuda:0 (cuFFT): SpeechRecognizerFeaturesTest's check (device features
 * give the ids of Java's LogMel) on whisper-micro, and with a whisper-tiny export
 * (make_whisper.py --config tiny; -Dnos.test.whisperTiny or NOS_WHISPER_TINY) the same, plus
 * PCM windows of the committed clips straight into a whisperPcm generator give transformers'
 * greedy ids of reference.json (transformers used its own features: within 4.5e-05 of the
 * committed references, which the device path matches within 4.2e-05 on the CPU), alone and
 * all at once.
 */
@Tag("gpu")
final class SpeechRecognizerFeaturesGpuTest {

  @Test
  void micro_deviceFeaturesOnCuda_giveTheIdsOfJavasLogMel() {
    SpeechRecognizerFeaturesTest.check(SpeechRecognizerTest.MODEL, Device.cuda(0));
  }

  @Test
  void tiny_pcmOnCuda_givesTransformersIds_aloneAndTogether() {
    String d = System.getProperty("nos.test.whisperTiny", System.getenv("NOS_WHISPER_TINY"));
    assumeTrue(d != null && Files.isRegularFile(Path.of(d, "decoder.pt")),
        "no whisper-tiny export: set -Dnos.test.whisperTiny or NOS_WHISPER_TINY");
    Path dir = Path.of(d);
    SpeechRecognizerFeaturesTest.check(dir, Device.cuda(0));
    List<WhisperMicro.Case> cases = WhisperMicro.cases(dir);
    try (TokenGenerator asr = TokenGenerator.builder(dir.resolve("decoder.pt"))
        .encoder(dir.resolve("encoder.pt")).whisperPcm(true).device(Device.cuda(0))
        .maxSequences(8).build()) {
      List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
      for (WhisperMicro.Case c : cases) {
        float[] window = Audio.read(SpeechRecognizerTest.CLIPS.resolve(c.clip() + ".wav"))
            .whisperWindow(0);
        GenerationConfig config = GenerationConfig.builder().maxNewTokens(c.greedy().length)
            .build();
        assertArrayEquals(c.greedy(), asr.generate(c.prompt(), window, config).join().tokens(),
            c.clip() + " alone");
        all.add(asr.generate(c.prompt(), window, config));
      }
      for (int i = 0; i < cases.size(); i++) {
        assertArrayEquals(cases.get(i).greedy(), all.get(i).join().tokens(),
            cases.get(i).clip() + " among " + cases.size());
      }
    }
  }
}
