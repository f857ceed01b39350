package ai.nos.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.testing.WhisperMicro;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Whisper's timestamp rules through the engine on models/whisper-micro (CPU): every sequence,
 * greedy or sampled, alone or batched with rows without the rules, keeps them.
 */
final class TimestampRulesTest {
  static TokenGenerator asr;
  static int begin;
  static int noTimestamps;
  static int eos;
  /** <|startoftranscript|> <|en|> <|transcribe|>: timestamps allowed. */
  static int[] prompt;

  @BeforeAll
  static void load() {
    asr = TokenGenerator.builder(WhisperMicro.DIR.resolve("decoder.pt"))
        .encoder(WhisperMicro.DIR.resolve("encoder.pt")).device(Device.cpu()).maxSequences(4)
        .build();
    begin = asr.modelInfo().get("timestamp_begin_token_id").intValue();
    noTimestamps = asr.modelInfo().get("no_timestamps_token_id").intValue();
    eos = asr.eosTokenId();
    prompt = Arrays.copyOf(WhisperMicro.cases(WhisperMicro.DIR).get(0).prompt(), 3);
  }

  @AfterAll
  static void close() {
    asr.close();
  }

  /** Checks transformers' rules on a generated sequence; returns its closed pairs. */
  static int check(int[] ids, String what) {
    String all = what + ": " + Arrays.toString(ids);
    assertTrue(ids.length > 0 && ids[0] >= begin && ids[0] <= begin + 50, "first " + all);
    int last = -1;
    int pairs = 0;
    for (int i = 0; i < ids.length; i++) {
      int t = ids[i];
      assertTrue(t != noTimestamps, "<|notimestamps|> at " + i + " in " + all);
      boolean ts = t >= begin;
      boolean prevTs = i >= 1 && ids[i - 1] >= begin;
      boolean prevPrevTs = i < 2 || ids[i - 2] >= begin;
      if (prevTs && prevPrevTs) {
        assertTrue(!ts, "a third timestamp in a row at " + i + " in " + all);
      }
      if (prevTs && !prevPrevTs) {
        assertTrue(ts || t >= eos, "text right after a closing timestamp at " + i + " in "
            + all);
        pairs += ts ? 1 : 0;
      }
      if (ts) {
        // Only the timestamp right after a closing one may repeat its time.
        boolean reopening = prevTs && !prevPrevTs;
        assertTrue(reopening ? t >= last : t > last, "timestamp " + t + " after " + last
            + " at " + i + " in " + all);
        last = t;
      }
    }
    return pairs;
  }

  private static GenerationConfig rules(GenerationConfig.Builder b) {
    return b.maxNewTokens(40).timestampRules(begin, noTimestamps, eos, 50).build();
  }

  @Test
  void everySequence_keepsThePairingAndMonotonicRules_greedyAndSampled_batchedWithPlainRows() {
    List<CompletableFuture<GeneratedTokens>> ruled = new ArrayList<>();
    List<CompletableFuture<GeneratedTokens>> plain = new ArrayList<>();
    List<String> names = new ArrayList<>();
    // One clip: whisper-micro's random weights give every clip the same ids.
    for (WhisperMicro.Case c : WhisperMicro.cases(WhisperMicro.DIR).subList(0, 1)) {
      float[] mel = WhisperMicro.features(c.clip());
      for (int seed = -1; seed < 3; seed++) {
        GenerationConfig.Builder b = GenerationConfig.builder();
        if (seed >= 0) {
          b.temperature(1.5f).seed(seed);
        }
        GenerationConfig config = rules(b);
        ruled.add(asr.generate(prompt, mel, config));
        plain.add(asr.generate(prompt, mel, config.toBuilder().noTimestampRules().build()));
        names.add(c.clip() + (seed < 0 ? " greedy" : " seed " + seed));
      }
    }
    int pairs = 0;
    int broken = 0;
    for (int i = 0; i < ruled.size(); i++) {
      int[] ids = ruled.get(i).join().tokens();
      System.out.println("TimestampRulesTest " + names.get(i) + ": " + Arrays.toString(ids));
      pairs += check(ids, names.get(i));
      try {
        check(plain.get(i).join().tokens(), names.get(i) + " without the rules");
      } catch (AssertionError e) {
        broken++;
      }
    }
    // The model alone breaks them (the rules did something), and with them pairs close.
    assertTrue(broken > 0, "every sequence without the rules kept them anyway");
    assertTrue(pairs > 0, "no sequence closed a timestamp pair and opened the next");
    assertEquals(ruled.size(), names.size());
  }
}
