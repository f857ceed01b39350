package ai.nos.internal.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static ai.nos.testing.TinyLlama.greedy;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import ai.nos.internal.torch.TorchRuntime;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import ai.nos.testing.TinyLlama;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The committed tiny Llama (models/llm-tiny, found through {@code nos.models.dir} as every test
 * here) on {@code cuda:0}: fp32 greedy against the Python references, fp16 against fp32, and
 * device memory over 2,000 decode steps. Runs on the GPU machine only
 * (scripts/gpu/gpu-tests.sh).
 */
@Tag("gpu")
final class TokenGeneratorGpuTest {
  static final Path MODEL = TinyLlama.MODEL;

  private static JsonNode reference;

  @BeforeAll
  static void load() throws Exception {
    reference = TinyLlama.reference();
  }

  private static TokenGenerator onCuda(String id, Precision precision, int slots) {
    return TokenGenerator.builder(MODEL).id(id).device(Device.cuda(0)).precision(precision)
        .maxSequences(slots).build();
  }

  @Test
  void fp32Greedy_onCuda_isThePythonReference_aloneAndFifteenOverThreeSlots() {
    try (TokenGenerator lm = onCuda("tiny-cuda-fp32", Precision.FP32, 3)) {
      assertTrue(TorchRuntime.cudaAllocatedBytes(0) >= lm.cacheBytes(),
          "the cache is not on cuda:0");
      for (JsonNode c : reference.get("cases")) {
        assertArrayEquals(ints(c.get("greedy_ids")),
            lm.generate(ints(c.get("prompt_ids")), greedy()).join().tokens(),
            "alone: " + c.get("prompt").asText());
      }
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      List<JsonNode> cases = new ArrayList<>();
      for (int round = 0; round < 3; round++) {
        for (JsonNode c : reference.get("cases")) {
          futures.add(lm.generate(ints(c.get("prompt_ids")), greedy()));
          cases.add(c);
        }
      }
      assertEquals(15, futures.size());
      for (int i = 0; i < futures.size(); i++) {
        assertArrayEquals(ints(cases.get(i).get("greedy_ids")), futures.get(i).join().tokens(),
            "request " + i + " of 15: " + cases.get(i).get("prompt").asText());
      }
    }
  }

  /**
   * fp16 must run, and may pick other tokens than fp32 only where fp32 itself is near a tie: at
   * the first step where the two differ (same prefix before it), both tokens' fp32 logits must
   * lie within twice fp16's largest logit error at that step of fp32's best (each of the two
   * logits can move by that error, in opposite directions), and that error must be small
   * against the logits (fp16 computes the same model). Otherwise the fp16 path is wrong.
   */
  @Test
  void fp16_runs_andLeavesFp32OnlyAtNearTies() {
    List<int[]> prompts = new ArrayList<>();
    List<int[]> fp32 = new ArrayList<>();
    List<int[]> fp16 = new ArrayList<>();
    try (TokenGenerator lm32 = onCuda("tiny-cuda-fp32", Precision.FP32, 1);
        TokenGenerator lm16 = onCuda("tiny-cuda-fp16", Precision.FP16, 1)) {
      for (JsonNode c : reference.get("cases")) {
        int[] prompt = ints(c.get("prompt_ids"));
        prompts.add(prompt);
        fp32.add(lm32.generate(prompt, greedy()).join().tokens());
        GeneratedTokens half = lm16.generate(prompt, greedy()).join();
        assertTrue(half.size() > 0, "fp16 generated nothing");
        fp16.add(half.tokens());
      }
    }
    int same = 0;
    try (DecoderModel m32 = DecoderModel.load("tiny-logits-fp32", MODEL, Device.cuda(0),
            Precision.FP32);
        DecoderModel m16 = DecoderModel.load("tiny-logits-fp16", MODEL, Device.cuda(0),
            Precision.FP16)) {
      for (int i = 0; i < prompts.size(); i++) {
        int[] a = fp32.get(i);
        int[] b = fp16.get(i);
        int d = 0;
        while (d < a.length && d < b.length && a[d] == b[d]) {
          d++;
        }
        if (d == a.length && d == b.length) {
          same++;
          continue;
        }
        // A shorter one ended with EOS, which the other did not pick at that step.
        assertTrue(d < a.length && d < b.length, "case " + i + ": one ended without EOS");
        int[] prefix = concat(prompts.get(i), Arrays.copyOf(a, d));
        float[] l32 = logits(m32, prefix);
        float[] l16 = logits(m16, prefix);
        float top = Float.NEGATIVE_INFINITY;
        float scale = 0;
        double maxError = 0;
        for (int v = 0; v < l32.length; v++) {
          top = Math.max(top, l32[v]);
          scale = Math.max(scale, Math.abs(l32[v]));
          maxError = Math.max(maxError, Math.abs(l16[v] - l32[v]));
        }
        String where = String.format("case %d, step %d: fp32 picks %d (logit %.6f), fp16 %d"
            + " (%.6f); fp32 best %.6f; fp16's largest logit error %.6f of logits up to %.3f",
            i, d, a[d], l32[a[d]], b[d], l32[b[d]], top, maxError, scale);
        System.out.println("TokenGeneratorGpuTest: " + where);
        assertTrue(maxError <= 0.02 * scale, "fp16 is not the same model: " + where);
        assertTrue(top - l32[a[d]] <= 2 * maxError && top - l32[b[d]] <= 2 * maxError,
            "not a near tie: " + where);
      }
    }
    System.out.printf("TokenGeneratorGpuTest: fp16 greedy equals fp32 greedy on %d of %d"
        + " prompts%n", same, prompts.size());
  }

  /** The fp32 logits of the token after {@code ids}, by a fresh prefill. */
  private static float[] logits(DecoderModel model, int[] ids) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode();
        KvCache cache = new KvCache(model, 1, ids.length)) {
      org.bytedeco.pytorch.Device dev = model.torchDevice();
      long[] tokens = new long[ids.length];
      long[] positions = new long[ids.length];
      for (int i = 0; i < ids.length; i++) {
        tokens[i] = ids[i];
        positions[i] = i;
      }
      long[] shape = {1, ids.length};
      Tensor out = model.step(Sampler.longs(tokens, shape, dev),
          Sampler.longs(positions, shape, dev), Sampler.longs(new long[] {0}, new long[] {1}, dev),
          cache.keys(), cache.values());
      Tensor host = out.to(torch.ScalarType.Float).cpu().contiguous();
      float[] values = new float[(int) host.numel()];
      new FloatPointer(host.data_ptr()).get(values);
      assertEquals(model.vocabSize(), values.length);
      return values;
    }
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /**
   * Decode steps replayed as CUDA graphs, padded to buckets 1, 2, 4, 5 (five slots), give the
   * tokens eager steps give: sampled requests with a repetition penalty (seeded, so each
   * request's draws are fixed whatever the batch), of staggered lengths so the running batch
   * passes through every size, padding rows included (3 -> bucket 4). A padding row that wrote
   * into a live slot, or read stale inputs, would change the tokens of the sequence there. The
   * staggered ends also move running sequences into freed slots between replays (compact
   * slots): a move the replays did not see in order would change tokens as well.
   */
  @Test
  void decodeGraphs_paddedToBuckets_giveTheEagerTokens() {
    int[][] prompts = new int[12][];
    GenerationConfig[] configs = new GenerationConfig[12];
    for (int i = 0; i < prompts.length; i++) {
      prompts[i] = new int[] {5 + i, 40 + 3 * i, 7, 90 - i};
      configs[i] = GenerationConfig.builder().maxNewTokens(10 + 7 * i).temperature(0.8f)
          .topK(40).topP(0.95f).repetitionPenalty(1.2f).seed(100 + i).eosTokenIds(NEVER).build();
    }
    List<int[]> eager = runAll(false, prompts, configs);
    List<int[]> graphs = runAll(true, prompts, configs);
    for (int i = 0; i < prompts.length; i++) {
      assertArrayEquals(eager.get(i), graphs.get(i), "request " + i);
    }
  }

  /**
   * Suppression runs after the graph's replay on its static logits: with per-row suppressed
   * ids (taken from an unsuppressed run, so that they would be generated), mixed with rows
   * without, graphed decode steps give the eager tokens and never the suppressed ids.
   */
  @Test
  void decodeGraphs_withPerRowSuppression_giveTheEagerTokens_withoutTheSuppressedIds() {
    int[][] prompts = new int[8][];
    GenerationConfig[] plain = new GenerationConfig[8];
    for (int i = 0; i < prompts.length; i++) {
      prompts[i] = new int[] {5 + i, 40 + 3 * i, 7, 90 - i};
      GenerationConfig.Builder b = GenerationConfig.builder().maxNewTokens(30)
          .eosTokenIds(NEVER);
      plain[i] = (i % 2 == 0 ? b : b.temperature(0.8f).topK(40).seed(7 + i)).build();
    }
    List<int[]> free = runAll(false, prompts, plain);
    GenerationConfig[] configs = new GenerationConfig[8];
    int[] suppressed = new int[8];
    for (int i = 0; i < prompts.length; i++) {
      int[] f = free.get(i);
      suppressed[i] = i % 4 == 3 ? -1 : f[f.length / 2];
      configs[i] = suppressed[i] < 0 ? plain[i] : plain[i].toBuilder()
          .suppressTokens(suppressed[i]).beginSuppressTokens(f[0]).build();
    }
    List<int[]> eager = runAll(false, prompts, configs);
    List<int[]> graphs = runAll(true, prompts, configs);
    for (int i = 0; i < prompts.length; i++) {
      assertArrayEquals(eager.get(i), graphs.get(i), "request " + i);
      int id = suppressed[i];
      if (id >= 0) {
        assertTrue(Arrays.stream(graphs.get(i)).noneMatch(t -> t == id), "request " + i
            + " generated suppressed " + id + ": " + Arrays.toString(graphs.get(i)));
      } else {
        assertArrayEquals(free.get(i), graphs.get(i), "request " + i + " (no suppression)");
      }
    }
  }

  /**
   * Whisper's timestamp rules run after the graph's replay as suppression does (bounds from the
   * host, masks on the device): on the tiny Llama with ids 400-511 as "timestamps", rows with
   * the rules (greedy and sampled) beside rows without, graphed decode steps give the eager
   * tokens, and the ruled rows start with a timestamp.
   */
  @Test
  void decodeGraphs_withTimestampRules_giveTheEagerTokens() {
    int[][] prompts = new int[8][];
    GenerationConfig[] configs = new GenerationConfig[8];
    for (int i = 0; i < prompts.length; i++) {
      prompts[i] = new int[] {5 + i, 40 + 3 * i, 7, 90 - i};
      GenerationConfig.Builder b = GenerationConfig.builder().maxNewTokens(30)
          .eosTokenIds(NEVER);
      if (i % 2 == 1) {
        b.temperature(0.8f).topK(40).seed(7 + i);
      }
      if (i % 4 != 3) {
        b.timestampRules(400, 399, 300, 50);
      }
      configs[i] = b.build();
    }
    List<int[]> eager = runAll(false, prompts, configs);
    List<int[]> graphs = runAll(true, prompts, configs);
    for (int i = 0; i < prompts.length; i++) {
      assertArrayEquals(eager.get(i), graphs.get(i), "request " + i);
      if (i % 4 != 3) {
        int first = graphs.get(i)[0];
        assertTrue(first >= 400 && first <= 450, "request " + i + ": "
            + Arrays.toString(graphs.get(i)));
      }
    }
  }

  /**
   * Closing a generator frees its decode graphs' private memory pool with the cache: after the
   * allocator empties its cache, cuda:0 reserves no more than before the generator was built.
   * (The pool's id once lived in memory a PointerScope freed, and releasing the pool failed
   * with "it != graph_pools.end()": the pool stayed reserved.) One generator is built and closed
   * first, so one-time library state (cuBLAS workspaces of the recording thread) is not counted.
   */
  @Test
  void closingAGenerator_freesItsDecodeGraphsPool() {
    int[] prompt = {5, 6, 7};
    GenerationConfig config = GenerationConfig.builder().maxNewTokens(20).eosTokenIds(NEVER)
        .build();
    for (int round = 0; round < 2; round++) {
      TorchRuntime.cudaEmptyCache();
      long before = TorchRuntime.cudaReservedBytes(0);
      try (TokenGenerator lm = TokenGenerator.builder(MODEL).id("tiny-pool-" + round)
          .device(Device.cuda(0)).maxSequences(8).build()) {
        assertEquals(4, lm.cudaGraphBatchSizes().length, "graphs were not recorded");
        List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
          all.add(lm.generate(prompt, config));
        }
        all.forEach(CompletableFuture::join);
      }
      TorchRuntime.cudaEmptyCache();
      long after = TorchRuntime.cudaReservedBytes(0);
      System.out.printf("TokenGeneratorGpuTest: round %d, cuda:0 reserved %d -> %d bytes around a"
          + " generator with decode graphs%n", round, before, after);
      if (round == 1) {
        assertTrue(after <= before, "cuda:0 reserves " + (after - before) + " bytes more after"
            + " the generator closed");
      }
    }
  }

  private static List<int[]> runAll(boolean graphs, int[][] prompts, GenerationConfig[] configs) {
    try (TokenGenerator lm = TokenGenerator.builder(MODEL).id("tiny-graphs-" + graphs)
        .device(Device.cuda(0)).maxSequences(5).cudaGraphs(graphs).build()) {
      assertArrayEquals(graphs ? new int[] {1, 2, 4, 5} : new int[0], lm.cudaGraphBatchSizes());
      List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
      for (int i = 0; i < prompts.length; i++) {
        futures.add(lm.generate(prompts[i], configs[i]));
      }
      List<int[]> out = new ArrayList<>();
      for (int i = 0; i < prompts.length; i++) {
        int[] tokens = futures.get(i).join().tokens();
        assertEquals(configs[i].maxNewTokens(), tokens.length, "request " + i);
        out.add(tokens);
      }
      return out;
    }
  }

  @Test
  void twoThousandDecodeSteps_keepDeviceAllocatedBytesFlat() {
    DecoderModel model = DecoderModel.load("tiny-cuda-steps", MODEL, Device.cuda(0),
        Precision.FP32);
    try (GenerationEngine engine = new GenerationEngine("tiny-cuda-steps", model, 3, 128, 256,
        ForkJoinPool.commonPool(), System::nanoTime)) {
      int[] prompt = {10, 20, 30};
      GenerationConfig config = GenerationConfig.builder().maxNewTokens(100).temperature(0.7f)
          .topK(50).topP(0.9f).repetitionPenalty(1.1f).seed(3).eosTokenIds(NEVER).build();
      // Every batch size 1..3 and every step kind once before measuring.
      run(engine, prompt, config, 6);
      long bytes = TorchRuntime.cudaAllocatedBytes(0);
      long steps = engine.steps();
      // 63 x 100 tokens on 3 slots: 63 prefills and at least (6,300 - 63) / 3 = 2,079 decodes.
      run(engine, prompt, config, 63);
      long decodes = engine.steps() - steps - 63;
      assertTrue(decodes >= 2_000, decodes + " decode steps");
      long after = TorchRuntime.cudaAllocatedBytes(0);
      System.out.printf("TokenGeneratorGpuTest: %d decode steps, cuda:0 allocated %d -> %d"
          + " bytes (cache %d)%n", decodes, bytes, after, engine.cacheBytes());
      assertEquals(bytes, after, "cuda:0 allocated bytes after " + decodes + " decode steps");
    }
  }

  private static void run(GenerationEngine engine, int[] prompt, GenerationConfig config,
      int requests) {
    List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
    for (int i = 0; i < requests; i++) {
      all.add(engine.submit(prompt, config, null));
    }
    for (CompletableFuture<GeneratedTokens> f : all) {
      assertEquals(100, f.join().size());
    }
  }
}
