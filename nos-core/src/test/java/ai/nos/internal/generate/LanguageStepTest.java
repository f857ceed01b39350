package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.generate.GenerationConfig;
import ai.nos.testing.WhisperMicro;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * Language detection as SpeechRecognizer runs it (one step from {@code <|startoftranscript|>},
 * every id but the language tokens suppressed) is transformers' {@code detect_language}: the
 * argmax of the step's logits over the language tokens, computed here from the decoder's own
 * logits (models/whisper-micro, CPU).
 */
final class LanguageStepTest {

  @Test
  void oneStepWithTheOthersSuppressed_isTheArgmaxOfTheLanguageLogits() {
    try (GenerationEngine engine = CrossCacheTest.microEngine()) {
      DecoderModel model = engine.model();
      EncoderModel encoder = engine.encoder();
      int sot = model.info().get("decoder_start_token_id").intValue();
      int en = model.info().get("en_token_id").intValue();
      int vocab = model.vocabSize();
      // Whisper's 99 language tokens from <|en|> (tiny to large-v2).
      int[] others = IntStream.range(0, vocab).filter(i -> i < en || i >= en + 99).toArray();
      for (String clip : new String[] {"speechlike", "silence"}) {
        float[] mel = WhisperMicro.features(clip);
        float[] logits = firstStep(model, encoder, sot, mel);
        int best = 0;
        int bestLanguage = en;
        for (int v = 0; v < vocab; v++) {
          best = logits[v] > logits[best] ? v : best;
          if (v >= en && v < en + 99 && logits[v] > logits[bestLanguage]) {
            bestLanguage = v;
          }
        }
        assertTrue(best < en || best >= en + 99, clip + ": the unrestricted argmax " + best
            + " is a language token already; the test would not see the restriction");
        int got = engine.submit(new int[] {sot}, mel, GenerationConfig.builder()
            .maxNewTokens(1).suppressTokens(others).build(), null).join().tokens()[0];
        System.out.println("LanguageStepTest " + clip + ": language token " + got);
        assertEquals(bestLanguage, got, clip);
      }
    }
  }

  /** The logits of one step of {@code <|startoftranscript|>} over {@code mel}'s encoding. */
  private static float[] firstStep(DecoderModel model, EncoderModel encoder, int sot,
      float[] mel) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      TensorOptions f = new TensorOptions(torch.ScalarType.Float);
      Tensor input = torch.from_blob(new FloatPointer(mel), new long[] {1, 80, 3000}, f).clone();
      Tensor slot = Sampler.longs(new long[] {0}, new long[] {1}, model.torchDevice());
      Tensor xk = torch.zeros(new long[] {2, 1, 1500, 2, 8}, f);
      Tensor xv = torch.zeros(new long[] {2, 1, 1500, 2, 8}, f);
      model.crossKv(encoder.encode(input), slot, xk, xv);
      Tensor k = torch.zeros(new long[] {2, 1, 64, 2, 8}, f);
      Tensor v = torch.zeros(new long[] {2, 1, 64, 2, 8}, f);
      Tensor logits = model.step(Sampler.longs(new long[] {sot}, new long[] {1, 1},
          model.torchDevice()), Sampler.longs(new long[] {0}, new long[] {1, 1},
          model.torchDevice()), slot, k, v, xk, xv).contiguous();
      float[] out = new float[(int) logits.numel()];
      new FloatPointer(logits.data_ptr()).get(out);
      return out;
    }
  }
}
