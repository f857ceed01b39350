package ai.nos.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static ai.nos.testing.TinyLlama.greedy;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.Fixtures;
import ai.nos.ModelLoadException;
import ai.nos.QueueFullException;
import ai.nos.testing.TorchScriptArchives;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import ai.nos.testing.TinyLlama;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The committed tiny Llama (models/llm-tiny) end to end on the CPU. */
final class TokenGeneratorTest {
  static final Path MODEL = TinyLlama.MODEL;

  private static JsonNode reference;
  private static TokenGenerator lm;

  @BeforeAll
  static void load() throws Exception {
    reference = TinyLlama.reference();
    lm = TokenGenerator.builder(MODEL).id("tiny").device(Device.cpu()).maxSequences(3)
        .maxLength(128).build();
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  @Test
  void greedy_matchesPythonReference() {
    assertEquals(reference.get("eos_token_id").asInt(), lm.eosTokenId());
    for (JsonNode c : reference.get("cases")) {
      GeneratedTokens out = lm.generate(ints(c.get("prompt_ids")), greedy()).join();
      assertArrayEquals(ints(c.get("greedy_ids")), out.tokens(), c.get("prompt").asText());
      assertEquals(c.get("prompt_ids").size(), out.promptTokens());
    }
  }

  @Test
  void onTheCpu_noCudaGraphs_andTheCacheHoldsNoScratchSlot() {
    assertArrayEquals(new int[0], lm.cudaGraphBatchSizes());
    assertEquals(3 * lm.cacheBytesPerSequence(), lm.cacheBytes());
  }

  @Test
  void greedy_concurrentRequestsJoinAndLeaveTheBatch_sameTokensAsAlone() {
    // 5 prompts x 3 rounds on 3 slots: requests wait, join running batches at other positions
    // and reuse slots that held other sequences.
    List<CompletableFuture<GeneratedTokens>> futures = new ArrayList<>();
    List<int[]> expected = new ArrayList<>();
    for (int round = 0; round < 3; round++) {
      for (JsonNode c : reference.get("cases")) {
        futures.add(lm.generate(ints(c.get("prompt_ids")), greedy()));
        expected.add(ints(c.get("greedy_ids")));
      }
    }
    for (int i = 0; i < futures.size(); i++) {
      assertArrayEquals(expected.get(i), futures.get(i).join().tokens(), "request " + i);
    }
  }

  @Test
  void sampling_seeded_reproducibleAloneAndInAnyBatch() {
    int[] prompt = ints(reference.get("cases").get(0).get("prompt_ids"));
    GenerationConfig config = GenerationConfig.builder().maxNewTokens(30).temperature(0.9f)
        .topK(40).topP(0.95f).repetitionPenalty(1.3f).seed(1234).eosTokenIds(NEVER).build();
    int[] alone = lm.generate(prompt, config).join().tokens();
    List<CompletableFuture<GeneratedTokens>> crowd = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      crowd.add(lm.generate(prompt, config.toBuilder().seed(i).build()));
    }
    CompletableFuture<GeneratedTokens> again = lm.generate(prompt, config);
    assertArrayEquals(alone, again.join().tokens());
    crowd.forEach(CompletableFuture::join);
    assertEquals(30, alone.length);
    assertNotEquals(List.of(alone), List.of(crowd.get(0).join().tokens()));
    assertFalse(java.util.Arrays.equals(alone, crowd.get(0).join().tokens()),
        "another seed drew the same 30 tokens");
  }

  @Test
  void stream_everyTokenInOrder_offTheSchedulerThread_beforeTheFuture() {
    int[] prompt = ints(reference.get("cases").get(1).get("prompt_ids"));
    List<Integer> seen = Collections.synchronizedList(new ArrayList<>());
    List<String> threads = Collections.synchronizedList(new ArrayList<>());
    CompletableFuture<GeneratedTokens> f = lm.stream(prompt, greedy(), id -> {
      seen.add(id);
      threads.add(Thread.currentThread().getName());
    });
    GeneratedTokens out = f.join();
    assertEquals(out.size(), seen.size());
    for (int i = 0; i < out.size(); i++) {
      assertEquals(out.tokens()[i], seen.get(i));
    }
    for (String t : threads) {
      assertTrue(t.startsWith("nos-generate-tiny-callback-"), t);
    }
  }

  @Test
  void cancel_freesTheSlotForTheNextRequest() throws Exception {
    try (TokenGenerator one = TokenGenerator.builder(MODEL).device(Device.cpu()).maxSequences(1)
        .build()) {
      int[] prompt = ints(reference.get("cases").get(0).get("prompt_ids"));
      CountDownLatch started = new CountDownLatch(1);
      CompletableFuture<GeneratedTokens> endless = one.stream(prompt,
          GenerationConfig.builder().maxNewTokens(10_000).eosTokenIds(NEVER).build(),
          id -> started.countDown());
      assertTrue(started.await(30, TimeUnit.SECONDS));
      assertTrue(endless.cancel(true));
      // The only slot was the cancelled one's: this completes only if it was freed.
      GeneratedTokens next = one.generate(prompt, greedy()).get(30, TimeUnit.SECONDS);
      assertEquals(greedy().maxNewTokens(), next.size());
    }
  }

  @Test
  void lengthLimit_endsWithMaxLength() {
    int[] prompt = ints(reference.get("cases").get(0).get("prompt_ids"));
    GeneratedTokens out = lm.generate(prompt, GenerationConfig.builder().maxNewTokens(10_000)
        .eosTokenIds(NEVER).build()).join();
    assertEquals(FinishReason.MAX_LENGTH, out.finishReason());
    // Positions 0..127 hold the prompt and all generated tokens but the last (never written).
    assertEquals(128 - prompt.length + 1, out.size());
  }

  @Test
  void queueFull_refusedWithCounts() throws Exception {
    try (TokenGenerator one = TokenGenerator.builder(MODEL).device(Device.cpu()).maxSequences(1)
        .maxQueued(1).build()) {
      int[] prompt = {1, 2, 3};
      CountDownLatch started = new CountDownLatch(1);
      GenerationConfig endless = GenerationConfig.builder().maxNewTokens(10_000)
          .eosTokenIds(NEVER).build();
      CompletableFuture<GeneratedTokens> running = one.stream(prompt, endless,
          id -> started.countDown());
      assertTrue(started.await(30, TimeUnit.SECONDS));
      CompletableFuture<GeneratedTokens> waiting = one.generate(prompt, endless);
      QueueFullException e = assertThrows(QueueFullException.class,
          () -> one.generate(prompt, endless));
      assertTrue(e.getMessage().contains("1 of 1"), e.getMessage());
      running.cancel(true);
      waiting.cancel(true);
    }
  }

  /**
   * Requests failed by close() each get an exception of their own: one shared instance gathered
   * the suppressed entries every caller's join added to it (SpeechRecognizer's).
   */
  @Test
  void close_failsEachWaitingRequestWithItsOwnException() throws Exception {
    TokenGenerator one = TokenGenerator.builder(MODEL).device(Device.cpu()).maxSequences(1)
        .build();
    GenerationConfig endless = GenerationConfig.builder().maxNewTokens(10_000)
        .eosTokenIds(NEVER).build();
    CountDownLatch started = new CountDownLatch(1);
    CompletableFuture<GeneratedTokens> running = one.stream(new int[] {1, 2}, endless,
        id -> started.countDown());
    assertTrue(started.await(30, TimeUnit.SECONDS));
    // both wait behind the one slot until close() fails them
    CompletableFuture<GeneratedTokens> a = one.generate(new int[] {3}, endless);
    CompletableFuture<GeneratedTokens> b = one.generate(new int[] {4}, endless);
    one.close();
    Throwable ea = assertThrows(CompletionException.class, a::join).getCause();
    Throwable eb = assertThrows(CompletionException.class, b::join).getCause();
    assertInstanceOf(IllegalStateException.class, ea);
    assertInstanceOf(IllegalStateException.class, eb);
    assertTrue(ea != eb, "two requests share one exception instance: " + ea);
    assertThrows(CompletionException.class, running::join);
  }

  @Test
  void deadline_passed_failsWithDeadlineExceeded() {
    CompletableFuture<GeneratedTokens> f = lm.generate(new int[] {5, 6},
        GenerationConfig.builder().timeout(Duration.ofNanos(1)).build());
    CompletionException e = assertThrows(CompletionException.class, f::join);
    assertInstanceOf(DeadlineExceededException.class, e.getCause());
  }

  @Test
  void timeout_tooLongForNanoseconds_isNoLimit() {
    // ChronoUnit.FOREVER's duration is how some callers say "no limit"; it passed the config's
    // check and then failed generate() with an ArithmeticException (long overflow).
    for (Duration forever : List.of(java.time.temporal.ChronoUnit.FOREVER.getDuration(),
        Duration.ofDays(365L * 1000))) {
      GeneratedTokens out = lm.generate(new int[] {5, 6}, GenerationConfig.builder()
          .maxNewTokens(3).eosTokenIds(NEVER).timeout(forever).build()).join();
      assertEquals(3, out.size(), forever.toString());
    }
  }

  @Test
  void badPrompts_rejectedWithTheValue() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> lm.generate(new int[] {1, 512}, greedy()));
    assertTrue(e.getMessage().contains("prompt token 1 is 512"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> lm.generate(new int[0], greedy()));
    assertTrue(e.getMessage().contains("at least one token"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> lm.generate(new int[129], greedy()));
    assertTrue(e.getMessage().contains("129 tokens"), e.getMessage());
    // An encoder input for a decoder-only model: the message named neither.
    e = assertThrows(IllegalArgumentException.class,
        () -> lm.generate(new int[] {1}, new float[3], greedy()));
    assertEquals("generator 'tiny' has no encoder: an encoder input of 3 floats was given to"
        + " a decoder-only model", e.getMessage());
  }

  @Test
  void notADecoder_refusedAtLoad() {
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> TokenGenerator.builder(
        Fixtures.fixture("identity.pt")).device(Device.cpu()).build());
    assertTrue(e.getMessage().contains("nos_generation"), e.getMessage());
  }

  /**
   * A model given as an artifact with a digest is loaded only if its bytes are the pinned ones;
   * the right digest loads; an http URL is refused by name (a generator reads local files).
   */
  @Test
  void builder_artifactWithSha256_otherBytesRefused_pinnedBytesLoad() throws Exception {
    String sha256 = java.util.HexFormat.of().formatHex(java.security.MessageDigest
        .getInstance("SHA-256").digest(java.nio.file.Files.readAllBytes(MODEL)));
    String other = "0".repeat(64);
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> TokenGenerator.builder(
        ai.nos.Artifact.of(MODEL).withSha256(other)).device(Device.cpu()).build());
    assertTrue(e.getMessage().contains("artifact file " + MODEL.toRealPath() + " has sha256 "
        + sha256 + " but the spec expects " + other), e.getMessage());
    try (TokenGenerator g = TokenGenerator.builder(ai.nos.Artifact.of(MODEL).withSha256(sha256))
        .device(Device.cpu()).maxSequences(1).build()) {
      assertEquals(1, g.maxSequences());
    }
    IllegalArgumentException remote = assertThrows(IllegalArgumentException.class,
        () -> TokenGenerator.builder(ai.nos.Artifact.of("https://example.org/model.pt")));
    assertEquals("the model of a generator must be a local file but was"
        + " https://example.org/model.pt", remote.getMessage());
  }

  @Test
  void operatorThisLibtorchLacks_refusedAtLoad_namingIt(@TempDir Path dir) throws Exception {
    Path file = TorchScriptArchives.withRenamedCall(MODEL, dir.resolve("newer.pt"),
        "torch.cos(", "torch.cos_v99(");
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> TokenGenerator.builder(file).device(Device.cpu()).build());
    assertTrue(e.getMessage().contains("Unknown builtin op: aten::cos_v99")
        && e.getMessage().contains("newer torch"), e.getMessage());
  }

  @Test
  void close_failsWhatRuns() throws Exception {
    TokenGenerator g = TokenGenerator.builder(MODEL).device(Device.cpu()).maxSequences(1).build();
    CountDownLatch started = new CountDownLatch(1);
    CompletableFuture<GeneratedTokens> f = g.stream(new int[] {7}, GenerationConfig.builder()
        .maxNewTokens(10_000).eosTokenIds(NEVER).build(), id -> started.countDown());
    assertTrue(started.await(30, TimeUnit.SECONDS));
    g.close();
    g.close();
    CompletionException e = assertThrows(CompletionException.class, f::join);
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertThrows(IllegalStateException.class, () -> g.generate(new int[] {1}, greedy()));
  }

  @Test
  void twoThousandSteps_keepJavaCppMemoryFlat() throws Exception {
    int[] prompt = {10, 20, 30};
    GenerationConfig config = GenerationConfig.builder().maxNewTokens(100).temperature(0.7f)
        .topP(0.9f).repetitionPenalty(1.1f).seed(3).eosTokenIds(NEVER).build();
    lm.generate(prompt, config).join();
    System.gc();
    long bytes = Pointer.totalBytes();
    long count = Pointer.totalCount();
    List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
    // 60 x 100 tokens on 3 slots: about 2,000 decode steps and 60 prefills.
    for (int i = 0; i < 60; i++) {
      all.add(lm.generate(prompt, config));
    }
    all.forEach(CompletableFuture::join);
    System.gc();
    // Process-wide counts: pointers of earlier tests that the GC frees meanwhile lower them, so
    // a leak is growth, not any change.
    assertTrue(Pointer.totalBytes() <= bytes,
        "JavaCPP bytes after 2,000 steps: " + bytes + " -> " + Pointer.totalBytes());
    assertTrue(Pointer.totalCount() <= count,
        "JavaCPP pointers after 2,000 steps: " + count + " -> " + Pointer.totalCount());
  }
}
