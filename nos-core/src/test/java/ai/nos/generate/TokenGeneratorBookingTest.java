package ai.nos.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static ai.nos.testing.TinyLlama.greedy;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.ModelInfo;
import ai.nos.ModelManager;
import ai.nos.ModelState;
import ai.nos.NosException;
import ai.nos.Tensor;
import ai.nos.testing.Await;
import ai.nos.testing.TinyLlama;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A TokenGenerator booked with a ModelManager (CPU, models/llm-tiny): its weights and cache count
 * in the manager's books, a busy generator is never evicted, an idle one is and comes back with
 * the same tokens, and closing either side leaves the books empty.
 */
final class TokenGeneratorBookingTest {
  private static final int SLOTS = 2;
  private static final int LENGTH = 64;
  private static final Tensor IDS = Tensor.of(new long[] {1, 2, 3}, 1, 3);
  /** The tokens fixture: a 100 x 8 fp32 table. */
  private static final long TOKENS_BYTES = 4 * 100 * 8;
  /** The digits fixture's parameters: conv 16+32 channels and a 512x10 linear, fp32. */
  private static final long DIGITS_BYTES = 4 * (16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * 10 + 10);

  private static JsonNode reference;
  private static long weightBytes;
  private static long cacheBytesPerSequence;

  @BeforeAll
  static void sizes() throws Exception {
    reference = TinyLlama.reference();
    JsonNode c = new ObjectMapper().readTree(TinyLlama.DIR.resolve("config.json").toFile());
    long h = c.get("hidden_size").asLong();
    long v = c.get("vocab_size").asLong();
    long inter = c.get("intermediate_size").asLong();
    long layers = c.get("num_hidden_layers").asLong();
    long headDim = h / c.get("num_attention_heads").asLong();
    long kv = c.get("num_key_value_heads").asLong() * headDim;
    // make_tiny_llama.py: embedding, per layer q/k/v/o, SwiGLU, two RMSNorms; final norm, head.
    long perLayer = h * h + 2 * h * kv + h * h + 3 * h * inter + 2 * h;
    weightBytes = 4 * (v * h + layers * perLayer + h + h * v);
    // Keys and values of every layer for LENGTH positions, fp32, plus a seen-token row (bool).
    cacheBytesPerSequence = 2 * layers * LENGTH * kv * 4 + v;
  }

  private static long generatorBytes() {
    return weightBytes + SLOTS * cacheBytesPerSequence;
  }

  private static ModelManager manager(long budget, Duration loadTimeout) {
    return ModelManager.builder().devices(Device.cpu()).memoryBudget(Device.cpu(), budget)
        .noFootprintCatalog().loadTimeout(loadTimeout).build();
  }

  private static TokenGenerator.Builder generator(ModelManager m) {
    return TokenGenerator.builder(TinyLlama.MODEL).id("tiny").device(Device.cpu())
        .maxSequences(SLOTS).maxLength(LENGTH).manager(m);
  }

  private static ModelInfo info(ModelManager m, String id) {
    return m.models().stream().filter(i -> i.id().equals(id)).findFirst().orElseThrow(
        () -> new AssertionError("no '" + id + "' in " + m.models()));
  }

  private static GenerationConfig endless() {
    return GenerationConfig.builder().maxNewTokens(10_000).eosTokenIds(NEVER).build();
  }

  /**
   * The engine's clock, which parks every thread but the test's own while paused: the engine's
   * scheduler stops at its next step, so its requests stay inside the engine (their sequences
   * neither end nor fail) until {@link #resume}. An interrupt (the engine closing) lets the
   * parked thread go on.
   */
  private static final class Pause implements java.util.function.LongSupplier {
    private final Thread owner = Thread.currentThread();
    private boolean paused;
    private int parked;

    @Override
    public long getAsLong() {
      if (Thread.currentThread() != owner) {
        synchronized (this) {
          while (paused) {
            parked++;
            notifyAll();
            try {
              wait();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              parked--;
              break;
            }
            parked--;
          }
        }
      }
      return System.nanoTime();
    }

    synchronized void pause() {
      paused = true;
    }

    synchronized void resume() {
      paused = false;
      notifyAll();
    }

    /** Waits until a thread (the engine's scheduler) is parked. */
    synchronized void awaitParked() throws InterruptedException {
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (parked == 0) {
        long left = end - System.nanoTime();
        assertTrue(left > 0, "the engine's scheduler never read the clock");
        TimeUnit.NANOSECONDS.timedWait(this, left);
      }
    }
  }

  /**
   * A request that holds the generator until {@code pause} resumes: the engine is paused with the
   * request inside it (its future open, its reference on the copy held). Returns once the
   * engine's scheduler is parked.
   */
  private static CompletableFuture<GeneratedTokens> held(TokenGenerator lm, Pause pause)
      throws InterruptedException {
    pause.pause();
    CompletableFuture<GeneratedTokens> f = lm.generate(new int[] {1, 2}, endless());
    pause.awaitParked();
    return f;
  }

  /** Greedy tokens for case 0 of reference.json, checked. */
  private static void generatesReference(TokenGenerator lm) {
    JsonNode c = reference.get("cases").get(0);
    assertArrayEquals(ints(c.get("greedy_ids")),
        lm.generate(ints(c.get("prompt_ids")), greedy()).join().tokens());
  }

  @Test
  void booked_bytesAreTheWeightsPlusTheCache_andGoneAfterClose() {
    try (ModelManager m = manager(100_000_000, Duration.ofSeconds(30))) {
      TokenGenerator lm = generator(m).build();
      assertEquals(SLOTS * cacheBytesPerSequence, lm.cacheBytes());
      assertEquals(cacheBytesPerSequence, lm.cacheBytesPerSequence());
      assertEquals(weightBytes + lm.cacheBytes(), lm.deviceBytes());
      DeviceStats cpu = m.stats().get(0);
      assertEquals(lm.deviceBytes(), cpu.usedBytes(), cpu.toString());
      assertEquals(List.of("tiny"), cpu.models());
      ModelInfo tiny = info(m, "tiny");
      assertEquals(ModelState.READY, tiny.state());
      assertEquals(lm.deviceBytes(), tiny.bytes());
      assertTrue(tiny.measured());
      // A booked generator answers from its live copy (this threw a NullPointerException).
      assertArrayEquals(new int[0], lm.cudaGraphBatchSizes());
      generatesReference(lm);
      assertEquals(1, info(m, "tiny").requests());

      lm.close();
      cpu = m.stats().get(0);
      assertEquals(0, cpu.usedBytes(), cpu.toString());
      assertEquals(List.of(), cpu.models());
      assertEquals(List.of(), m.models());
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> lm.generate(new int[] {1}, greedy()));
      assertTrue(e.getMessage().contains("'tiny' is closed"), e.getMessage());
    }
  }

  @Test
  void requestCount_isBookedBeforeTheFutureCompletes() throws Exception {
    Pause pause = new Pause();
    // A stage added after submission runs before one the generator added at submission (a
    // future's stages run last in, first out), so with the count kept in a whenComplete it saw
    // 0; the GPU suite's 16 cores also caught it through join().
    try (ModelManager m = manager(100_000_000, Duration.ofSeconds(30));
        TokenGenerator lm = generator(m).clock(pause).build()) {
      CompletableFuture<GeneratedTokens> f = held(lm, pause);
      CompletableFuture<Long> seen = f.thenApply(r -> info(m, "tiny").requests());
      assertFalse(f.isDone());
      pause.resume();
      assertEquals(1L, seen.get(30, TimeUnit.SECONDS));
    }
  }

  @Test
  void failingSinkAndCancellation_eachCountedOnce_beforeTheFutureCompletes() throws Exception {
    Pause pause = new Pause();
    try (ModelManager m = manager(100_000_000, Duration.ofSeconds(30));
        TokenGenerator lm = generator(m).clock(pause).build()) {
      // a consumer that throws fails its request: counted once, as a failure, before a stage
      // added after submission runs
      CompletableFuture<GeneratedTokens> failing = lm.stream(new int[] {1, 2}, endless(), id -> {
        throw new IllegalStateException("the consumer's own bug");
      });
      CompletableFuture<long[]> seen = failing.handle((r, e) -> new long[] {
          info(m, "tiny").requests(), info(m, "tiny").failures()});
      assertArrayEquals(new long[] {1, 1}, seen.get(30, TimeUnit.SECONDS));
      // a cancelled request: counted once more, not as a failure, and its reference back, so
      // the generator closes without waiting for it
      CompletableFuture<GeneratedTokens> held = held(lm, pause);
      assertTrue(held.cancel(true));
      pause.resume();
      assertEquals(2, info(m, "tiny").requests());
      assertEquals(1, info(m, "tiny").failures());
      generatesReference(lm);
      long closing = System.nanoTime();
      lm.close();
      assertTrue(System.nanoTime() - closing < TimeUnit.SECONDS.toNanos(10),
          "close waited for a reference the cancelled request kept");
      assertEquals(List.of(), m.models());
    }
  }

  @Test
  void busyGenerator_leavesNoRoom_modelRefused() throws Exception {
    Pause pause = new Pause();
    // Room for the generator and less than the tokens model beside it.
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofMillis(300));
        TokenGenerator lm = generator(m).clock(pause).build()) {
      assertEquals(generatorBytes(), lm.deviceBytes());
      CompletableFuture<GeneratedTokens> running = held(lm, pause);
      NosException e = assertThrows(NosException.class, () -> m.load(Fixtures.tokens()));
      assertTrue(e.getMessage().contains("no room"), e.getMessage());
      assertEquals(ModelState.READY, info(m, "tiny").state());
      assertEquals(1, info(m, "tiny").inFlight());
      assertEquals(0, m.stats().get(0).evictions());
      assertFalse(running.isDone());
      pause.resume();
      running.join();
      // Idle now: the same load evicts it.
      try (Model tokens = m.load(Fixtures.tokens())) {
        assertEquals(ModelState.EVICTED, info(m, "tiny").state());
      }
    }
  }

  /**
   * A stream consumer that blocks for ever holds its own request, not the copy: once the
   * sequence has left the engine, the generator is evictable and closes at once (before, the
   * reference went back only behind the consumer: the load found no room, close() waited 30 s).
   */
  @Test
  void consumerBlockedForEver_holdsNoCopyOnceItsSequenceEnded() throws Exception {
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofMillis(300))) {
      TokenGenerator lm = generator(m).build();
      CountDownLatch letGo = new CountDownLatch(1);
      List<Integer> seen = java.util.Collections.synchronizedList(new ArrayList<>());
      CompletableFuture<GeneratedTokens> f =
          TinyLlama.streamBlockedOnFirstToken(lm, letGo, seen::add);
      // The sequence runs on to the cache's end while its consumer blocks on the first token;
      // then the copy is back (a timeout here: the ended sequence kept its copy).
      ai.nos.testing.Await.awaitTrue(() -> info(m, "tiny").inFlight() == 0);
      assertFalse(f.isDone());
      assertEquals(0, info(m, "tiny").requests(), "counted only when settled");
      try (Model tokens = m.load(Fixtures.tokens())) {
        assertEquals(ModelState.EVICTED, info(m, "tiny").state());
      }
      long closing = System.nanoTime();
      lm.close();
      assertTrue(System.nanoTime() - closing < TimeUnit.SECONDS.toNanos(5),
          "close waited for a consumer that blocks");
      assertEquals(List.of(), m.models());
      assertEquals(0, m.stats().get(0).usedBytes(), m.stats().get(0).toString());
      // Let go, the consumer still gets every token, then the result.
      letGo.countDown();
      GeneratedTokens r = f.get(30, TimeUnit.SECONDS);
      assertTrue(r.size() > LENGTH / 2, "ran to the cache's end: " + r.size());
      assertArrayEquals(r.tokens(), seen.stream().mapToInt(Integer::intValue).toArray());
    }
  }

  /**
   * The three ways a request's reference goes back (its sequence ending, the engine settling
   * its future, the caller cancelling it) racing, under evictions: every request is counted
   * exactly once, as a failure only when it failed, and every reference comes back.
   */
  @Test
  void endingSettlingAndCancelling_race_eachRequestCountedOnce_everyReferenceBack()
      throws Exception {
    int requests = 120;
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofSeconds(60));
        TokenGenerator lm = generator(m).build();
        Model tokens = m.load(Fixtures.tokens())) {
      java.util.Random random = new java.util.Random(7);
      List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
      int sinkFailures = 0;
      for (int i = 0; i < requests; i++) {
        int kind = random.nextInt(4);
        GenerationConfig c = GenerationConfig.builder().maxNewTokens(1 + random.nextInt(20))
            .eosTokenIds(NEVER).build();
        CompletableFuture<GeneratedTokens> f;
        if (kind == 0) {
          // a consumer that dawdles on every token: the sequence ends long before it settles
          f = lm.stream(new int[] {1 + i % 50}, c, id -> java.util.concurrent.locks.LockSupport
              .parkNanos(200_000));
        } else if (kind == 1) {
          sinkFailures++;
          f = lm.stream(new int[] {1 + i % 50}, c, id -> {
            throw new IllegalStateException("the consumer's own bug");
          });
        } else {
          f = lm.generate(new int[] {1 + i % 50}, c);
          if (kind == 2) {
            f.cancel(true);
          }
        }
        all.add(f);
        if (i % 10 == 0) {
          // the model evicts the generator whenever it is idle
          assertEquals(8, tokens.infer(IDS).get("embedding").toFloatArray().length);
        }
      }
      int failed = 0;
      for (CompletableFuture<GeneratedTokens> f : all) {
        try {
          f.get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
          assertInstanceOf(IllegalStateException.class, e.getCause());
          failed++;
        } catch (java.util.concurrent.CancellationException e) {
          // counted, not as a failure
        }
      }
      assertEquals(sinkFailures, failed);
      ModelInfo tiny = info(m, "tiny");
      assertEquals(requests, tiny.requests(), tiny.toString());
      assertEquals(sinkFailures, tiny.failures(), tiny.toString());
      assertEquals(0, tiny.inFlight(), tiny.toString());
      long closing = System.nanoTime();
      lm.close();
      assertTrue(System.nanoTime() - closing < TimeUnit.SECONDS.toNanos(10),
          "close waited for a reference not given back");
    }
  }

  @Test
  void idleGenerator_evictedForAModel_thenReloadedWithTheSameTokens() {
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofSeconds(30));
        TokenGenerator lm = generator(m).build()) {
      generatesReference(lm);
      try (Model tokens = m.load(Fixtures.tokens())) {
        assertEquals(ModelState.EVICTED, info(m, "tiny").state());
        assertEquals(TOKENS_BYTES, m.stats().get(0).usedBytes());
        assertEquals(1, m.stats().get(0).evictions());
        assertEquals(0, lm.activeSequences());

        // The next request loads it again (evicting the idle model) and generates the same.
        generatesReference(lm);
        assertEquals(ModelState.READY, info(m, "tiny").state());
        assertEquals(ModelState.EVICTED, info(m, "tokens").state());
        assertEquals(2, info(m, "tiny").loads());
        assertEquals(lm.deviceBytes(), m.stats().get(0).usedBytes());
        // And the model comes back in turn.
        assertEquals(8, tokens.infer(IDS).get("embedding").toFloatArray().length);
        assertEquals(ModelState.EVICTED, info(m, "tiny").state());
      }
    }
    // Both closed: nothing of the generator is left to free twice or leak.
  }

  /**
   * A booked generator whose model is pinned by its digest checks the bytes again on the reload
   * after an eviction: the file rewritten at its size meanwhile (a weight changed) is refused,
   * naming both digests, and the generator does not serve.
   */
  @Test
  void pinnedGenerator_fileRewrittenWhileEvicted_reloadRefused(@TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path file = java.nio.file.Files.copy(TinyLlama.MODEL, dir.resolve("model.pt"));
    byte[] bytes = java.nio.file.Files.readAllBytes(file);
    String sha256 = sha256(bytes);
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofSeconds(30));
        TokenGenerator lm = TokenGenerator.builder(ai.nos.Artifact.of(file).withSha256(sha256))
            .id("tiny").device(Device.cpu()).maxSequences(SLOTS).maxLength(LENGTH).manager(m)
            .build()) {
      generatesReference(lm);
      try (Model tokens = m.load(Fixtures.tokens())) {
        assertEquals(ModelState.EVICTED, info(m, "tiny").state());
        // A byte inside the first weight record, stored uncompressed; libtorch checks no CRC.
        int at = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1)
            .indexOf("model/data/0") + 4096;
        bytes[at] ^= 0x40;
        java.nio.file.Files.write(file, bytes);
        JsonNode c = reference.get("cases").get(0);
        ExecutionException e = assertThrows(ExecutionException.class, () -> lm.generate(
            ints(c.get("prompt_ids")), greedy()).get(30, TimeUnit.SECONDS));
        assertInstanceOf(ai.nos.ModelLoadException.class, e.getCause());
        assertTrue(e.getCause().getMessage().contains("has sha256 " + sha256(bytes)
            + " but the spec expects " + sha256), e.getCause().getMessage());
      }
    }
  }

  private static String sha256(byte[] bytes) throws java.security.NoSuchAlgorithmException {
    return java.util.HexFormat.of().formatHex(
        java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
  }

  @Test
  void busyGenerator_keptWhileAnIdleModelIsEvicted() throws Exception {
    Pause pause = new Pause();
    // Room for the digits model and the generator; the tokens model needs one of them to go.
    try (ModelManager m = manager(generatorBytes() + DIGITS_BYTES + 1000, Duration.ofSeconds(30));
        Model digits = m.load(Fixtures.digitsOn("cpu"));
        TokenGenerator lm = generator(m).clock(pause).build()) {
      assertEquals(DIGITS_BYTES + generatorBytes(), m.stats().get(0).usedBytes());
      CompletableFuture<GeneratedTokens> running = held(lm, pause);
      // The generator is the least recently used copy (loaded before the digits model was
      // used) but busy: only the idle model may go.
      digits.infer(Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 1));
      try (Model tokens = m.load(Fixtures.tokens())) {
        assertEquals(ModelState.EVICTED, info(m, "digits").state());
        assertEquals(ModelState.READY, info(m, "tiny").state());
        assertEquals(1, m.stats().get(0).evictions());
        assertEquals(1, info(m, "tiny").inFlight());
        assertFalse(running.isDone());
      }
      pause.resume();
      running.join();
    }
  }

  /**
   * A request to an evicted generator that waits for room (the only room held by a busy
   * generator) past its timeout fails with DeadlineExceededException, as its timeout counts from
   * submission. Before, the deadline was taken when the engine saw the request, after the wait
   * and the reload: the request ran late and succeeded, the wait not counted.
   */
  @Test
  void waitForRoomPastTheTimeout_failsTheRequestsDeadline() throws Exception {
    Pause pause = new Pause();
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofSeconds(60));
        TokenGenerator idle = generator(m).id("idle").build();
        TokenGenerator busy = generator(m).id("busy").clock(pause).build()) {
      assertEquals(ModelState.EVICTED, info(m, "idle").state());
      CompletableFuture<GeneratedTokens> running = held(busy, pause);
      long timeoutMs = 200;
      AtomicLong submitted = new AtomicLong();
      CompletableFuture<CompletableFuture<GeneratedTokens>> late =
          CompletableFuture.supplyAsync(() -> {
            submitted.set(System.nanoTime());
            return idle.generate(new int[] {1, 2}, GenerationConfig.builder().maxNewTokens(4)
                .timeout(Duration.ofMillis(timeoutMs)).build());
          });
      // The idle generator's caller waits for room past its timeout; then the room comes.
      Await.awaitTrue(() -> submitted.get() != 0
          && System.nanoTime() - submitted.get() > TimeUnit.MILLISECONDS.toNanos(2 * timeoutMs));
      pause.resume();
      running.join();
      pastItsDeadline(late, "200.000 ms");
      // The generator serves on: a request within its time runs.
      assertEquals(4, idle.generate(new int[] {1, 2}, GenerationConfig.builder()
          .maxNewTokens(4).eosTokenIds(NEVER).build()).get(30, TimeUnit.SECONDS).size());
    }
  }

  /**
   * A request to an evicted generator waits for room no longer than its timeout: with the room
   * held by a busy generator, it fails with DeadlineExceededException at its deadline, not
   * after the manager's load timeout (a minute here), which it used to block the caller for.
   */
  @Test
  void noRoomWithinTheTimeout_failsAtTheDeadline_notAtTheLoadTimeout() throws Exception {
    Pause pause = new Pause();
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofSeconds(60));
        TokenGenerator idle = generator(m).id("idle").build();
        TokenGenerator busy = generator(m).id("busy").clock(pause).build()) {
      CompletableFuture<GeneratedTokens> running = held(busy, pause);
      CompletableFuture<CompletableFuture<GeneratedTokens>> late =
          CompletableFuture.supplyAsync(() -> idle.generate(new int[] {1, 2},
              GenerationConfig.builder().maxNewTokens(4).timeout(Duration.ofMillis(200)).build()));
      ExecutionException e = pastItsDeadline(late, "200.000 ms");
      assertInstanceOf(NosException.class, e.getCause().getCause());
      assertFalse(running.isDone());
      assertEquals(ModelState.EVICTED, info(m, "idle").state());
      pause.resume();
      running.join();
    }
  }

  @Test
  void closingTheManager_failsRunningRequests_andLaterOnes() throws Exception {
    ModelManager m = manager(100_000_000, Duration.ofSeconds(30));
    try (TokenGenerator lm = generator(m).build()) {
      // 2 slots, 100 requests of 63 tokens each: most still wait in the engine at the close.
      CountDownLatch started = new CountDownLatch(1);
      List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
      all.add(lm.stream(new int[] {5}, endless(), id -> started.countDown()));
      for (int i = 0; i < 99; i++) {
        all.add(lm.generate(new int[] {5}, endless()));
      }
      assertTrue(started.await(30, TimeUnit.SECONDS));
      m.close();
      int failed = 0;
      for (CompletableFuture<GeneratedTokens> f : all) {
        try {
          assertEquals(LENGTH, f.get(30, TimeUnit.SECONDS).size() + 1);
        } catch (ExecutionException e) {
          assertInstanceOf(IllegalStateException.class, e.getCause());
          assertTrue(e.getCause().getMessage().contains("'tiny' is closed"),
              e.getCause().getMessage());
          failed++;
        }
      }
      assertTrue(failed > 0, "no request was left to fail at the close");
      IllegalStateException later = assertThrows(IllegalStateException.class,
          () -> lm.generate(new int[] {1}, greedy()));
      assertTrue(later.getMessage().contains("closed"), later.getMessage());
      assertEquals(0, lm.activeSequences());
      // Each request hands its copy back as its future completes, and the generator's close
      // waits for that: then the manager's books are empty.
      lm.close();
      assertEquals(0, m.stats().get(0).usedBytes(), m.stats().get(0).toString());
    }
  }

  /**
   * A callback executor that runs tasks on the submitting thread delivers on the engine's
   * scheduler. Closing the generator (or the manager) with a request live then returned at once,
   * not after the engine's 30 s close timeout: the scheduler's delivery waited for the ending
   * task's release, which waited for the manager's lock, held by the close waiting for that
   * scheduler. Each request is still counted once and every reference comes back.
   */
  @Test
  void runOnSubmittingThreadExecutor_closeWithRequestsLive_doesNotWaitForTheScheduler()
      throws Exception {
    for (boolean closeManager : new boolean[] {false, true}) {
      ModelManager m = manager(100_000_000, Duration.ofSeconds(30));
      try {
        TokenGenerator lm = generator(m).executor(Runnable::run).build();
        CountDownLatch started = new CountDownLatch(1);
        List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
        all.add(lm.stream(new int[] {1, 2}, endless(), id -> started.countDown()));
        all.add(lm.generate(new int[] {3}, endless()));
        all.add(lm.generate(new int[] {4}, endless()));
        assertTrue(started.await(30, TimeUnit.SECONDS));
        long closing = System.nanoTime();
        if (closeManager) {
          m.close();
        }
        lm.close();
        long took = System.nanoTime() - closing;
        assertTrue(took < TimeUnit.SECONDS.toNanos(10), "close took " + took / 1_000_000
            + " ms (manager closed: " + closeManager + ")");
        for (CompletableFuture<GeneratedTokens> f : all) {
          ExecutionException e = assertThrows(ExecutionException.class,
              () -> f.get(30, TimeUnit.SECONDS));
          assertTrue(e.getCause().getMessage().contains("'tiny' is closed"),
              e.getCause().toString());
        }
        assertEquals(0, m.stats().get(0).usedBytes(), m.stats().get(0).toString());
      } finally {
        m.close();
      }
    }
  }

  /**
   * close() from a consumer that such an executor runs on the scheduler returns at once: the
   * requests give their copy back once the consumer returns and the scheduler stops, so waiting
   * for them there waited for its own thread, its whole 30 s, with every sequence held up. The
   * consumer's thread is not left interrupted (the engine's close interrupted it, which cut
   * that wait short), and the copy is unbooked soon after.
   */
  @Test
  void runOnSubmittingThreadExecutor_closeFromTheConsumer_returnsAtOnce() throws Exception {
    ModelManager m = manager(100_000_000, Duration.ofSeconds(30));
    try {
      TokenGenerator lm = generator(m).executor(Runnable::run).build();
      AtomicBoolean closed = new AtomicBoolean();
      AtomicLong took = new AtomicLong(-1);
      AtomicBoolean interrupted = new AtomicBoolean(true);
      CompletableFuture<GeneratedTokens> f = lm.stream(new int[] {1, 2}, endless(), id -> {
        if (!closed.getAndSet(true)) {
          long closing = System.nanoTime();
          lm.close();
          took.set(System.nanoTime() - closing);
          interrupted.set(Thread.currentThread().isInterrupted());
        }
      });
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> f.get(60, TimeUnit.SECONDS));
      assertTrue(e.getCause().getMessage().contains("'tiny' is closed"), e.getCause().toString());
      assertTrue(took.get() < TimeUnit.SECONDS.toNanos(10), "close took " + took.get() / 1_000_000
          + " ms");
      assertFalse(interrupted.get(), "the consumer's thread was left interrupted by close()");
      Await.awaitTrue(() -> m.stats().get(0).usedBytes() == 0);
    } finally {
      m.close();
    }
  }

  /**
   * A request the engine refuses as it is submitted (QueueFullException) is no request, as a
   * model's refused call is none: neither ModelInfo.requests nor failures counts it, and its
   * reference comes back. It was counted as a failed request (a storm's failures were mostly
   * refusals).
   */
  @Test
  void queueFullRefusal_notCountedAsARequest_referenceBack() throws Exception {
    Pause pause = new Pause();
    try (ModelManager m = manager(100_000_000, Duration.ofSeconds(30));
        TokenGenerator lm = generator(m).maxQueued(0).clock(pause).build()) {
      List<CompletableFuture<GeneratedTokens>> accepted = new ArrayList<>();
      accepted.add(held(lm, pause));
      int refusals = 0;
      for (int i = 0; i < 10 && refusals == 0; i++) {
        try {
          accepted.add(lm.generate(new int[] {3 + i}, greedy()));
        } catch (ai.nos.QueueFullException e) {
          refusals++;
        }
      }
      assertEquals(1, refusals, "the queue never filled: " + accepted.size() + " accepted");
      assertEquals(accepted.size(), info(m, "tiny").inFlight(), info(m, "tiny").toString());
      pause.resume();
      for (CompletableFuture<GeneratedTokens> f : accepted) {
        f.get(60, TimeUnit.SECONDS);
      }
      ModelInfo tiny = info(m, "tiny");
      assertEquals(accepted.size(), tiny.requests(), tiny.toString());
      assertEquals(0, tiny.failures(), tiny.toString());
      assertEquals(0, tiny.inFlight(), tiny.toString());
    }
  }

  @Test
  void sameIdAsALoadedModel_refused() {
    try (ModelManager m = manager(100_000_000, Duration.ofSeconds(30));
        Model tokens = m.load(Fixtures.tokens())) {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> generator(m).id("tokens").build());
      assertTrue(e.getMessage().contains("'tokens' is already loaded"), e.getMessage());
      assertEquals(TOKENS_BYTES, m.stats().get(0).usedBytes());
    }
  }

  /**
   * Requests racing evictions: the generator and the tokens model never fit together, so each
   * model call evicts the idle generator and each request may find it evicted and reload it. No
   * request is lost or fails, and each gives the reference tokens.
   */
  @Test
  void submitsRacingEvictions_noRequestLostOrWrong() throws Exception {
    int threads = 3;
    int perThread = 5;
    try (ModelManager m = manager(generatorBytes() + 1000, Duration.ofSeconds(60));
        TokenGenerator lm = generator(m).build();
        Model tokens = m.load(Fixtures.tokens())) {
      assertEquals(ModelState.EVICTED, info(m, "tiny").state());
      ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
      try {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<?>> work = new ArrayList<>();
        work.add(pool.submit(() -> {
          go.await();
          for (int i = 0; i < 12; i++) {
            assertEquals(8, tokens.infer(IDS).get("embedding").toFloatArray().length);
          }
          return null;
        }));
        for (int t = 0; t < threads; t++) {
          JsonNode c = reference.get("cases").get(t % reference.get("cases").size());
          work.add(pool.submit(() -> {
            go.await();
            for (int i = 0; i < perThread; i++) {
              assertArrayEquals(ints(c.get("greedy_ids")),
                  lm.generate(ints(c.get("prompt_ids")), greedy()).get(60, TimeUnit.SECONDS)
                      .tokens());
            }
            return null;
          }));
        }
        go.countDown();
        for (Future<?> f : work) {
          f.get(120, TimeUnit.SECONDS);
        }
      } finally {
        pool.shutdownNow();
      }
      ModelInfo tiny = info(m, "tiny");
      assertEquals(threads * perThread, tiny.requests());
      assertEquals(0, tiny.failures());
      assertTrue(tiny.loads() >= 2, "evicted by the model at least once: " + tiny);
      assertTrue(m.stats().get(0).usedBytes() <= generatorBytes() + 1000);
    }
  }

  /** The failure of {@code late}'s request: a DeadlineExceededException past {@code deadline}. */
  private static ExecutionException pastItsDeadline(
      CompletableFuture<CompletableFuture<GeneratedTokens>> late, String deadline) {
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> late.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS));
    assertInstanceOf(ai.nos.DeadlineExceededException.class, e.getCause(),
        String.valueOf(e.getCause()));
    assertTrue(e.getCause().getMessage().contains("past its deadline of " + deadline),
        e.getCause().getMessage());
    return e;
  }
}
