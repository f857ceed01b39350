package ai.nos.internal.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.FinishReason;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.testing.TinyLlama;
import ai.nos.testing.WhisperMicro;
import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * Compact slots (GenerationEngine's essay) on the CPU: sequences that finish at different steps
 * (max new tokens, EOS, a first-token finish inside a batched prefill, a cancellation, a
 * deadline) while others go on, with more requests than slots, so that running sequences move
 * into freed slots and new ones are admitted behind them. Every sequence must get its tokens
 * alone (the Python references, or a one-slot engine for sampled requests), and after every
 * compaction SlotChecks sees row i in slot i, slots 0..n-1 taken, each seen row its own
 * sequence's tokens, and (Whisper) each cross row its own request's. The scheduler starts after
 * the requests are queued, so the admissions do not depend on timing (only the cancellation's
 * step does).
 */
final class CompactSlotsTest {
  private static final int SLOTS = 4;

  private static GenerationEngine paused(String id, int slots, SlotChecks checks) {
    DecoderModel model = DecoderModel.load(id, TinyLlama.MODEL, Device.cpu(), Precision.FP32);
    assertFalse(model.decodesFirstSlots(), "llm-tiny gathers its rows' slots (no decode_first)");
    GenerationEngine engine = new GenerationEngine(id, model, slots, 128, 64,
        ForkJoinPool.commonPool(), checks == null ? System::nanoTime : checks::now, false,
        GenerationEngine.PREFILL_TOKENS, false, false);
    engine.probe(checks);
    return engine;
  }

  /** The first {@code n} ids of {@code ids}, or up to and with the first {@code eos}. */
  private static int[] upTo(int[] ids, int n, int eos) {
    for (int i = 0; i < n; i++) {
      if (ids[i] == eos) {
        return Arrays.copyOf(ids, i + 1);
      }
    }
    return Arrays.copyOf(ids, n);
  }

  @Test
  void greedy_sequencesEndingAtDifferentSteps_moveAndKeepTheReferenceTokens() {
    JsonNode cases = TinyLlama.reference().get("cases");
    SlotChecks checks = new SlotChecks(SLOTS);
    try (GenerationEngine engine = paused("tiny-compact", SLOTS, checks)) {
      // Slot 0: cancelled after its 6th token; slot 1: past its deadline at the 12th compaction;
      // slot 2: one token only (a first-token finish inside the first prefill of 4).
      AtomicInteger streamed = new AtomicInteger();
      CompletableFuture<GeneratedTokens>[] cancelled = new CompletableFuture[1];
      cancelled[0] = engine.submit(ints(cases.get(0).get("prompt_ids")),
          GenerationConfig.builder().maxNewTokens(10_000).eosTokenIds(NEVER).build(), id -> {
            if (streamed.incrementAndGet() == 6) {
              cancelled[0].cancel(true);
            }
          });
      CompletableFuture<GeneratedTokens> late = engine.submit(ints(cases.get(1).get(
          "prompt_ids")), GenerationConfig.builder().maxNewTokens(10_000).eosTokenIds(NEVER)
          .timeout(Duration.ofNanos(12 * SlotChecks.TICK_NANOS)).build(), null);
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      List<int[]> expected = new ArrayList<>();
      List<FinishReason> reasons = new ArrayList<>();
      for (int i = 0; i < 14; i++) {
        JsonNode c = cases.get((i + 2) % cases.size());
        int[] reference = ints(c.get("greedy_ids"));
        int n = i == 0 ? 1 : 2 + (11 * i) % 39;
        // Two requests stop at an EOS id their reference reaches early (index 3 or 7).
        int eos = i == 2 ? 430 : i == 8 ? 6 : NEVER;
        GenerationConfig config = GenerationConfig.builder().maxNewTokens(n).eosTokenIds(eos)
            .build();
        futures.add(engine.submit(ints(c.get("prompt_ids")), config, null));
        int[] want = upTo(reference, n, eos);
        expected.add(want);
        reasons.add(want.length < n ? FinishReason.EOS_TOKEN : FinishReason.MAX_NEW_TOKENS);
      }
      assertEquals(FinishReason.EOS_TOKEN, reasons.get(2), "the EOS cases reach their id");
      assertEquals(FinishReason.EOS_TOKEN, reasons.get(8), "the EOS cases reach their id");
      engine.start();
      assertTokensAndMoves(futures, expected, engine, checks, 8);
      for (int i = 0; i < futures.size(); i++) {
        assertEquals(reasons.get(i), futures.get(i).join().finishReason(), "request " + i);
      }
      assertThrows(CancellationException.class, cancelled[0]::join);
      CompletionException e = assertThrows(CompletionException.class, late::join);
      assertInstanceOf(DeadlineExceededException.class, e.getCause());
      assertEquals(SLOTS, checks.maxActive());
    }
  }

  /**
   * Seeded sampling with a repetition penalty: each request's tokens alone (a one-slot engine)
   * equal its tokens among others on 4 slots, through moves; the penalty reads the seen rows, so
   * a seen row left behind by a move would change the draws.
   */
  @Test
  void sampledWithPenalty_throughMoves_equalsAlone() {
    List<int[]> prompts = new ArrayList<>();
    List<GenerationConfig> configs = new ArrayList<>();
    for (int i = 0; i < 11; i++) {
      prompts.add(new int[] {3 + 7 * i, 60 + 11 * i, 200 - 5 * i, 17 + i});
      configs.add(GenerationConfig.builder().maxNewTokens(4 + (13 * i) % 36).temperature(0.9f)
          .topK(50).topP(0.95f).repetitionPenalty(1.5f).seed(7_000 + i).eosTokenIds(NEVER)
          .build());
    }
    List<int[]> alone = new ArrayList<>();
    try (GenerationEngine one = paused("tiny-alone", 1, null)) {
      one.start();
      for (int i = 0; i < prompts.size(); i++) {
        alone.add(one.submit(prompts.get(i), configs.get(i), null).join().tokens());
      }
    }
    SlotChecks checks = new SlotChecks(SLOTS);
    try (GenerationEngine engine = paused("tiny-sampled", SLOTS, checks)) {
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      for (int i = 0; i < prompts.size(); i++) {
        futures.add(engine.submit(prompts.get(i), configs.get(i), null));
      }
      engine.start();
      assertTokensAndMoves(futures, alone, engine, checks, 5);
    }
  }

  /**
   * Whisper (models/whisper-micro): the cross caches move with the slots. The committed
   * weights decode every clip to the same greedy ids, so the tokens alone cannot tell one
   * clip's cross row from another's: SlotChecks compares every active slot's cross keys and
   * values with its request's own (the encoder and cross_kv run alone on its features).
   */
  @Test
  void encoderDecoder_crossRowsMoveWithTheirSequences_andTheIdsAreTheReferences() {
    List<WhisperMicro.Case> cases = WhisperMicro.cases(WhisperMicro.DIR);
    int slots = 3;
    SlotChecks checks = new SlotChecks(slots);
    DecoderModel model = DecoderModel.load("micro", WhisperMicro.DIR.resolve("decoder.pt"),
        Device.cpu(), Precision.FP32);
    EncoderModel encoder = EncoderModel.load("micro", WhisperMicro.DIR.resolve("encoder.pt"),
        model, false);
    // The committed export decodes the first slots in place (make_whisper.py's decode_first):
    // these moves are what keep its rows right.
    assertTrue(model.decodesFirstSlots(), "whisper-micro's decoder.pt has decode_first");
    try (GenerationEngine engine = new GenerationEngine("micro-compact", model, encoder, slots,
        64, 32, ForkJoinPool.commonPool(), checks::now, false, GenerationEngine.PREFILL_TOKENS,
        false, false)) {
      engine.probe(checks);
      List<float[][]> rows = new ArrayList<>();
      for (WhisperMicro.Case c : cases) {
        rows.add(expectedCross(model, encoder, WhisperMicro.features(c.clip())));
      }
      for (int a = 0; a < rows.size(); a++) {
        for (int b = a + 1; b < rows.size(); b++) {
          assertTrue(CrossCacheTest.maxDiff(rows.get(a)[0], rows.get(b)[0]) > 1e-3,
              cases.get(a).clip() + " and " + cases.get(b).clip() + " give the same cross keys");
        }
      }
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      List<int[]> expected = new ArrayList<>();
      for (int i = 0; i < 9; i++) {
        WhisperMicro.Case c = cases.get(i % cases.size());
        int n = 2 + (7 * i) % 23;
        int eos = i == 4 ? 31469 : NEVER; // the references' 6th id
        futures.add(engine.submit(c.prompt(), WhisperMicro.features(c.clip()),
            GenerationConfig.builder().maxNewTokens(n).eosTokenIds(eos).build(), null));
        checks.expectCross(futures.get(i), rows.get(i % cases.size())[0],
            rows.get(i % cases.size())[1]);
        expected.add(upTo(c.greedy(), n, eos));
      }
      engine.start();
      assertTokensAndMoves(futures, expected, engine, checks, 3);
    }
  }

  /**
   * Each request's tokens are {@code expected}'s, the probe found nothing wrong, and at least
   * {@code minMoves} sequences moved (else the test proved nothing about moves).
   */
  private static void assertTokensAndMoves(List<CompletableFuture<GeneratedTokens>> futures,
      List<int[]> expected, GenerationEngine engine, SlotChecks checks, int minMoves) {
    for (int i = 0; i < futures.size(); i++) {
      assertArrayEquals(expected.get(i), futures.get(i).join().tokens(), "request " + i);
    }
    assertEquals(List.of(), checks.errors());
    assertTrue(engine.movedSequences() >= minMoves, "only " + engine.movedSequences()
        + " sequences moved into freed slots");
  }

  /** A request's cross keys and values, [layers, audio, heads, headDim] each, computed alone. */
  private static float[][] expectedCross(DecoderModel model, EncoderModel encoder, float[] mel) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor input = torch.from_blob(new FloatPointer(mel), new long[] {1, 80, 3000},
          new TensorOptions(torch.ScalarType.Float)).clone();
      long[] shape = {model.layers(), 1, model.audioPositions(), model.heads(),
          model.headDim()};
      Tensor xk = torch.zeros(shape, new TensorOptions(torch.ScalarType.Float));
      Tensor xv = torch.zeros(shape, new TensorOptions(torch.ScalarType.Float));
      model.crossKv(encoder.encode(input), Sampler.longs(new long[] {0}, new long[] {1},
          model.torchDevice()), xk, xv);
      return new float[][] {CrossCacheTest.floats(xk.select(1, 0)),
          CrossCacheTest.floats(xv.select(1, 0))};
    }
  }
}
