package ai.nos.internal.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.FinishReason;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.testing.TinyLlama;
import ai.nos.testing.WhisperMicro;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import org.junit.jupiter.api.Test;

/**
 * Pipelined decode steps (GenerationEngine's essay) on the CPU, where they are off by default and
 * turned on here: a step launched before the previous one's ids are read gives the tokens of
 * unpipelined steps, greedy (the Python references) and sampled with a repetition penalty,
 * through EOS ids, max-token finishes and more requests than slots; rows that reach the end of
 * their slot never get a step launched past it; rows with Whisper's timestamp rules are never
 * stepped ahead; an encoder-decoder engine (whisper-micro) gives the same ids too. Each case
 * also checks that steps were launched ahead, so the test fails if pipelining is gone.
 */
final class PipelinedDecodeTest {
  private static final int SLOTS = 4;

  private static GenerationEngine tiny(String id, int slots, int length, boolean pipelined) {
    return tiny(id, Device.cpu(), slots, length, pipelined);
  }

  /** The tiny Llama in fp32 on {@code device} (CUDA graphs there), paused, pipelined or not. */
  static GenerationEngine tiny(String id, Device device, int slots, int length,
      boolean pipelined) {
    DecoderModel model = DecoderModel.load(id, TinyLlama.MODEL, device, Precision.FP32);
    GenerationEngine engine = new GenerationEngine(id, model, slots, length, 64,
        ForkJoinPool.commonPool(), System::nanoTime, true, GenerationEngine.PREFILL_TOKENS,
        false, false);
    engine.pipelined(pipelined);
    return engine;
  }

  /** Seeded sampled requests with a repetition penalty, of different lengths. */
  static List<GenerationConfig> sampledConfigs(List<int[]> prompts) {
    List<GenerationConfig> configs = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      prompts.add(new int[] {5 + 7 * i, 61 + 11 * i, 190 - 5 * i});
      configs.add(GenerationConfig.builder().maxNewTokens(3 + (13 * i) % 30).temperature(0.8f)
          .topK(40).topP(0.9f).repetitionPenalty(1.3f).seed(900 + i).eosTokenIds(NEVER)
          .build());
    }
    return configs;
  }

  /** Submits every request while paused, starts, and returns each one's result. */
  static List<GeneratedTokens> run(GenerationEngine engine, List<int[]> prompts,
      List<GenerationConfig> configs) {
    List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      futures.add(engine.submit(prompts.get(i), configs.get(i), null));
    }
    engine.start();
    List<GeneratedTokens> out = new ArrayList<>();
    for (CompletableFuture<GeneratedTokens> f : futures) {
      out.add(f.join());
    }
    return out;
  }

  /** What the pipelined tiny engine gave, and how many of its steps it launched ahead. */
  private record Pipelined(List<GeneratedTokens> tokens, long lookaheadSteps) {}

  /**
   * Runs the requests on an unpipelined tiny engine and then on a pipelined one (ids {@code id}
   * with -unpipelined, -pipelined), checks the two gave the same tokens, and returns the
   * pipelined engine's.
   */
  private static Pipelined againstUnpipelined(String id, int length, List<int[]> prompts,
      List<GenerationConfig> configs) {
    List<GeneratedTokens> plain;
    try (GenerationEngine engine = tiny(id + "-unpipelined", SLOTS, length, false)) {
      plain = run(engine, prompts, configs);
      assertEquals(0, engine.lookaheadSteps());
    }
    try (GenerationEngine engine = tiny(id + "-pipelined", SLOTS, length, true)) {
      List<GeneratedTokens> got = run(engine, prompts, configs);
      assertSame(plain, got);
      return new Pipelined(got, engine.lookaheadSteps());
    }
  }

  static void assertSame(List<GeneratedTokens> want, List<GeneratedTokens> got) {
    assertEquals(want.size(), got.size());
    for (int i = 0; i < want.size(); i++) {
      assertArrayEquals(want.get(i).tokens(), got.get(i).tokens(), "request " + i);
      assertEquals(want.get(i).finishReason(), got.get(i).finishReason(), "request " + i);
    }
  }

  @Test
  void greedy_throughEosAndMaxTokens_givesTheReferenceTokens() {
    JsonNode cases = TinyLlama.reference().get("cases");
    List<int[]> prompts = new ArrayList<>();
    List<GenerationConfig> configs = new ArrayList<>();
    List<int[]> expected = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      JsonNode c = cases.get(i % cases.size());
      int[] reference = ints(c.get("greedy_ids"));
      int n = 2 + (11 * i) % 39;
      int eos = i == 2 ? reference[3] : i == 7 ? reference[5] : NEVER;
      prompts.add(ints(c.get("prompt_ids")));
      configs.add(GenerationConfig.builder().maxNewTokens(n).eosTokenIds(eos).build());
      int[] want = Arrays.copyOf(reference, n);
      for (int k = 0; k < n; k++) {
        if (reference[k] == eos) {
          want = Arrays.copyOf(reference, k + 1);
          break;
        }
      }
      expected.add(want);
    }
    try (GenerationEngine engine = tiny("tiny-pipelined", SLOTS, 128, true)) {
      long t0 = System.nanoTime();
      List<GeneratedTokens> got = run(engine, prompts, configs);
      long wall = System.nanoTime() - t0;
      // Steps launched ahead overlap the step before; their times must not be counted twice.
      assertTrue(engine.stats().decodeNanos() + engine.stats().prefillNanos() <= wall,
          engine.stats() + " against " + wall + " ns of wall time");
      assertTrue(engine.stats().decodeWaitNanos() <= engine.stats().decodeNanos());
      for (int i = 0; i < got.size(); i++) {
        assertArrayEquals(expected.get(i), got.get(i).tokens(), "request " + i);
      }
      assertEquals(FinishReason.EOS_TOKEN, got.get(2).finishReason());
      assertTrue(engine.lookaheadSteps() > 0, "no step was launched ahead");
      System.out.printf("PipelinedDecodeTest: %d of %d steps launched ahead%n",
          engine.lookaheadSteps(), engine.steps());
    }
  }

  @Test
  void sampledWithPenalty_equalsUnpipelined() {
    List<int[]> prompts = new ArrayList<>();
    List<GenerationConfig> configs = sampledConfigs(prompts);
    Pipelined got = againstUnpipelined("tiny-sampled", 128, prompts, configs);
    assertTrue(got.lookaheadSteps() > 0, "no step was launched ahead");
  }

  @Test
  void rowsAtTheEndOfTheirSlot_finishWithoutAStepPastIt() {
    // 24 positions a slot: prompts of 4-9 tokens run out of positions before their max tokens.
    List<int[]> prompts = new ArrayList<>();
    List<GenerationConfig> configs = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      int[] prompt = new int[4 + i];
      for (int k = 0; k < prompt.length; k++) {
        prompt[k] = 10 + 17 * i + k;
      }
      prompts.add(prompt);
      configs.add(GenerationConfig.builder().maxNewTokens(100).eosTokenIds(NEVER).build());
    }
    Pipelined got = againstUnpipelined("tiny-full", 24, prompts, configs);
    for (GeneratedTokens t : got.tokens()) {
      assertEquals(FinishReason.MAX_LENGTH, t.finishReason());
    }
    assertTrue(got.lookaheadSteps() > 0, "no step was launched ahead");
  }

  @Test
  void rowsWithTimestampRules_areNeverSteppedAhead() {
    List<int[]> prompts = new ArrayList<>();
    List<GenerationConfig> configs = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      prompts.add(new int[] {7 + i, 80 + 3 * i});
      // Rules over the tiny vocabulary's last ids: what matters is that rows have rules.
      configs.add(GenerationConfig.builder().maxNewTokens(12).eosTokenIds(NEVER)
          .timestampRules(200, 199, 198, 50).build());
    }
    assertEquals(0, againstUnpipelined("tiny-ts", 64, prompts, configs).lookaheadSteps(),
        "a row with timestamp rules was stepped ahead");
  }

  @Test
  void encoderDecoder_givesTheIdsOfUnpipelinedSteps() {
    List<WhisperMicro.Case> cases = WhisperMicro.cases(WhisperMicro.DIR);
    List<int[]> ids = new ArrayList<>();
    for (boolean pipelined : new boolean[] {false, true}) {
      DecoderModel model = DecoderModel.load("micro", WhisperMicro.DIR.resolve("decoder.pt"),
          Device.cpu(), Precision.FP32);
      EncoderModel encoder = EncoderModel.load("micro", WhisperMicro.DIR.resolve("encoder.pt"),
          model, false);
      try (GenerationEngine engine = new GenerationEngine("micro-pipelined-" + pipelined, model,
          encoder, 3, 64, 32, ForkJoinPool.commonPool(), System::nanoTime, false,
          GenerationEngine.PREFILL_TOKENS, false, false)) {
        engine.pipelined(pipelined);
        List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
          WhisperMicro.Case c = cases.get(i % cases.size());
          futures.add(engine.submit(c.prompt(), WhisperMicro.features(c.clip()),
              GenerationConfig.builder().maxNewTokens(6 + 5 * i).eosTokenIds(NEVER).build(),
              null));
        }
        engine.start();
        for (CompletableFuture<GeneratedTokens> f : futures) {
          ids.add(f.join().tokens());
        }
        assertEquals(pipelined, engine.lookaheadSteps() > 0,
            "steps launched ahead: " + engine.lookaheadSteps());
      }
    }
    for (int i = 0; i < 5; i++) {
      assertArrayEquals(ids.get(i), ids.get(5 + i), "request " + i);
    }
  }
}
