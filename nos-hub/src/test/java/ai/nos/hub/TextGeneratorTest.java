package ai.nos.hub;

import static ai.nos.testing.TinyLlama.NEVER;
import static ai.nos.testing.TinyLlama.greedy;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.generate.FinishReason;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import ai.nos.testing.TinyLlama;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The committed tiny Llama with its byte-level BPE tokenizer.json, end to end on the CPU. */
final class TextGeneratorTest {
  static final Path MODELS = TinyLlama.DIR.getParent();
  static final Path DIR = TinyLlama.DIR;
  private static JsonNode reference;
  private static TextGenerator lm;

  @BeforeAll
  static void load() throws Exception {
    reference = TinyLlama.reference();
    lm = TextGenerator.load(TokenGenerator.builder(DIR.resolve("model.pt")).id("tiny-text")
        .device(Device.cpu()).maxSequences(2), DIR.resolve("tokenizer.json"));
  }

  @AfterAll
  static void close() {
    lm.close();
    lm.close();
  }

  /**
   * A new user's first call, TextGenerator.load(Path.of("models/llama")) on a folder that was not
   * there, said "tokenizer file models/llama/tokenizer.json does not exist": the folder is named.
   */
  @Test
  void load_folderNotThere_namesTheFolder(@TempDir Path dir) throws Exception {
    String holds = "; it must hold model.pt and tokenizer.json (scripts/models/make_tiny_llama.py)";
    Path missing = dir.resolve("llama");
    assertEquals("text generator directory " + missing + " does not exist" + holds,
        assertThrows(IllegalArgumentException.class, () -> TextGenerator.load(missing))
            .getMessage());
    Path relative = Path.of("models", "no-such-llama");
    assertEquals("text generator directory " + relative + " (" + relative.toAbsolutePath()
        + ") does not exist" + holds, assertThrows(IllegalArgumentException.class,
            () -> TextGenerator.load(relative)).getMessage());
    Path file = Files.writeString(dir.resolve("model.pt"), "x");
    assertEquals("text generator directory " + file + " is not a directory" + holds,
        assertThrows(IllegalArgumentException.class, () -> TextGenerator.load(file))
            .getMessage());
  }

  @Test
  void prompts_encodeAsThePythonExport() {
    for (JsonNode c : reference.get("cases")) {
      assertArrayEquals(ints(c.get("prompt_ids")), lm.encode(c.get("prompt").asText()),
          c.get("prompt").asText());
    }
  }

  @Test
  void generate_textOfTheReferenceTokens_streamedPiecesAddUp() {
    GenerationConfig config = GenerationConfig.builder()
        .maxNewTokens(reference.get("max_new_tokens").asInt()).build();
    for (JsonNode c : reference.get("cases")) {
      int[] expected = ints(c.get("greedy_ids"));
      List<String> pieces = Collections.synchronizedList(new ArrayList<>());
      Generation g = lm.stream(c.get("prompt").asText(), config, pieces::add).join();
      assertArrayEquals(expected, g.tokens());
      assertEquals(lm.decode(expected), g.text());
      // Random weights write arbitrary bytes, invalid UTF-8 included (U+FFFD in the text):
      // whole characters across tokens are textStream_multiByteCharacters...'s to check.
      assertEquals(g.text(), String.join("", pieces));
    }
  }

  @Test
  void textStream_multiByteCharactersSplitAcrossTokens_comeOutWhole() {
    String text = "caf\u00e9 \uD83D\uDE42 \u4E16\u754C and more \uD83D\uDE80!";
    int[] ids = lm.encode(text);
    // The tokenizer's merges know no multi-byte character: each is several byte tokens.
    assertTrue(ids.length > text.length(), ids.length + " ids for " + text.length() + " chars");
    TextStream stream = new TextStream(i -> lm.decode(toInts(i)), List.of());
    StringBuilder out = new StringBuilder();
    int silent = 0;
    for (int id : ids) {
      String piece = stream.add(id);
      assertFalse(piece.contains("\uFFFD"), piece);
      silent += piece.isEmpty() ? 1 : 0;
      out.append(piece);
    }
    out.append(stream.finish());
    assertEquals(text, out.toString());
    assertTrue(silent > 0, "no token held back part of a character");
  }

  @Test
  void stopString_endsTheTextBeforeIt_andTheGeneration() {
    JsonNode c = reference.get("cases").get(0);
    GenerationConfig plain = GenerationConfig.builder().maxNewTokens(40).build();
    String full = lm.generateAsync(c.get("prompt").asText(), plain).join().text();
    // A stop string from the middle of the known continuation.
    String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
    List<String> pieces = Collections.synchronizedList(new ArrayList<>());
    Generation g = lm.stream(c.get("prompt").asText(), plain.toBuilder().stopStrings(stop)
        .build(), pieces::add).join();
    assertEquals(FinishReason.STOP_STRING, g.finishReason());
    assertEquals(full.substring(0, full.indexOf(stop)), g.text());
    assertEquals(g.text(), String.join("", pieces));
  }

  /**
   * Of several stop strings, the text ends before the one that starts first in it, whatever
   * their order in the config. The first one listed that a piece completed won: a token that
   * brought in two of them, the later one listed first, left the other in the text and the
   * stream.
   */
  @Test
  void stopStrings_twoInOneToken_textEndsBeforeTheEarlierOne() {
    String prompt = reference.get("cases").get(0).get("prompt").asText();
    GenerationConfig plain = GenerationConfig.builder().maxNewTokens(40).build();
    int[] ids = lm.generateAsync(prompt, plain).join().tokens();
    // A token whose text brings two characters not in the text before it.
    String before = null;
    String early = null;
    String late = null;
    for (int k = 1; k <= ids.length && late == null; k++) {
      String upTo = lm.decode(java.util.Arrays.copyOf(ids, k));
      String prior = lm.decode(java.util.Arrays.copyOf(ids, k - 1));
      if (!upTo.startsWith(prior) || upTo.endsWith("\uFFFD") || prior.endsWith("\uFFFD")) {
        continue;
      }
      String added = upTo.substring(prior.length());
      for (int i = 0; i < added.length() && late == null; i++) {
        String a = added.substring(i, i + 1);
        String b = added.substring(added.length() - 1);
        if (!a.equals(b) && !prior.contains(a) && !prior.contains(b) && !a.equals("\uFFFD")
            && !b.equals("\uFFFD") && added.indexOf(b) > i) {
          before = prior + added.substring(0, i);
          early = a;
          late = b;
        }
      }
    }
    assertTrue(late != null, "no token of the greedy text brings two new characters");
    List<String> pieces = Collections.synchronizedList(new ArrayList<>());
    Generation g = lm.stream(prompt, plain.toBuilder().stopStrings(late, early).build(),
        pieces::add).join();
    assertEquals(FinishReason.STOP_STRING, g.finishReason());
    assertEquals(before, g.text(), "stops '" + late + "', '" + early + "'");
    assertEquals(before, String.join("", pieces));
  }

  /**
   * A stop string in the text that the generation's end flushes (the last ids' window was held
   * back, ending in part of a character) ends the text too: it was appended unchecked. Byte-level
   * BPE has such tokens, e.g. "f" and the first byte of "\u00e9" merged.
   */
  @Test
  void textStream_stopStringInTheTextFlushedAtTheEnd_cutsIt() {
    byte[][] tokens = {"ab".getBytes(StandardCharsets.UTF_8), {'f', (byte) 0xC3}};
    TextStream stream = new TextStream(ids -> {
      java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
      for (long id : ids) {
        bytes.writeBytes(tokens[(int) id]);
      }
      return bytes.toString(StandardCharsets.UTF_8);
    }, List.of("f"));
    assertEquals("ab", stream.add(0));
    assertEquals("", stream.add(1)); // "f\uFFFD": held back, a character is incomplete
    assertEquals("", stream.finish());
    assertTrue(stream.stopped());
    assertEquals("ab", stream.text());
  }

  /**
   * A SentencePiece tokenizer's decoder (Llama 2's, TinyLlama's, Mistral's: "\u2581" is a space,
   * and the text's leading space is dropped, by Strip(' ', 1, 0) or Metaspace) drops the space
   * of a window's first word: the text was decoded a window of new ids at a time, so every word
   * lost its space ("t419t416t307" for "t419 t416 t307"), in the result as in the stream.
   */
  @ParameterizedTest
  @ValueSource(strings = {"strip", "metaspace"})
  void sentencePieceDecoder_wordsKeepTheirSpaces(String decoder, @TempDir Path dir)
      throws Exception {
    // 512 ids as the tiny Llama's: three specials, then the words t3 .. t511 ("\u2581t3", ...).
    StringBuilder vocab = new StringBuilder("\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2");
    for (int id = 3; id < 512; id++) {
      vocab.append(", \"\u2581t").append(id).append("\": ").append(id);
    }
    String special = "\"single_word\": false, \"lstrip\": false, \"rstrip\": false,"
        + " \"normalized\": false, \"special\": true}";
    Files.writeString(dir.resolve("tokenizer.json"), "{\"version\": \"1.0\", \"added_tokens\": ["
        + "{\"id\": 0, \"content\": \"<unk>\", " + special + ", {\"id\": 1, \"content\":"
        + " \"<s>\", " + special + ", {\"id\": 2, \"content\": \"</s>\", " + special + "],"
        + " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\","
        + " \"prepend\": \"\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
        + " \"content\": \"\u2581\"}]}, \"pre_tokenizer\": null, \"post_processor\": null,"
        + " \"decoder\": " + (decoder.equals("strip") ? "{\"type\": \"Sequence\", \"decoders\":"
            + " [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\u2581\"}, \"content\":"
            + " \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\":"
            + " \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}"
            : "{\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\":"
            + " \"first\", \"split\": false}")
        + ", \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true,"
        + " \"byte_fallback\": false, \"vocab\": {" + vocab + "}, \"merges\": []}}");
    try (TextGenerator sp = TextGenerator.load(TokenGenerator.builder(DIR.resolve("model.pt"))
        .id("sentencepiece").device(Device.cpu()).maxSequences(1),
        dir.resolve("tokenizer.json"))) {
      List<String> pieces = Collections.synchronizedList(new ArrayList<>());
      Generation g = sp.stream("Hello", GenerationConfig.builder().maxNewTokens(12)
          .eosTokenIds(NEVER).build(), pieces::add).join();
      String text = sp.decode(g.tokens());
      assertTrue(text.matches("t\\d+( t\\d+)+"), text);
      assertEquals(text, g.text());
      assertEquals(text, String.join("", pieces));
    }
  }

  /** As above with WordPiece's decoder: a "##" piece decoded alone kept its "##". */
  @Test
  void textStream_wordPieceDecoder_piecesAddUpToTheDecodedText() throws Exception {
    Path file = Files.writeString(Files.createTempFile("minilm", ".json"),
        TokenizerJsonTest.minilm());
    try (ai.djl.huggingface.tokenizers.HuggingFaceTokenizer wordPiece = TextTokenizer.load(file,
        java.util.Map.of("addSpecialTokens", "false"))) {
      long[] ids = wordPiece.encode("a photo of unaffable tokenizers, caf\u00e9 \uD83D\uDE42 ok",
          false, false).getIds();
      TextStream stream = new TextStream(i -> wordPiece.decode(i, true), List.of());
      StringBuilder out = new StringBuilder();
      for (long id : ids) {
        out.append(stream.add((int) id));
      }
      out.append(stream.finish());
      // Before: "aphotoofu##n##a##f##f##a##b##letokenizers,cafeo##k".
      assertEquals(wordPiece.decode(ids, true), out.toString());
    } finally {
      Files.delete(file);
    }
  }

  /** Runs until the slot's length limit (about 250 tokens) unless stopped. */
  private static GenerationConfig endless() {
    return GenerationConfig.builder().maxNewTokens(10_000).eosTokenIds(NEVER).build();
  }

  @Test
  void pieces_wholeGeneration_isTheTextOfGenerate() {
    for (JsonNode c : reference.get("cases")) {
      String prompt = c.get("prompt").asText();
      StringBuilder text = new StringBuilder();
      int count = 0;
      try (TextPieces pieces = lm.pieces(prompt, greedy())) {
        while (pieces.hasNext()) {
          text.append(pieces.next());
          count++;
        }
        assertFalse(pieces.hasNext());
        assertThrows(NoSuchElementException.class, pieces::next);
        Generation g = pieces.result().join();
        assertArrayEquals(ints(c.get("greedy_ids")), g.tokens(), prompt);
        assertEquals(g.text(), text.toString());
      }
      assertTrue(count > 1, "one piece for a whole generation: " + prompt);
      assertEquals(lm.generate(prompt, greedy()), text.toString());
    }
    try (Stream<String> s = lm.pieces(reference.get("cases").get(1).get("prompt").asText(),
        greedy()).stream()) {
      assertEquals(lm.decode(ints(reference.get("cases").get(1).get("greedy_ids"))),
          s.collect(Collectors.joining()));
    }
  }

  @Test
  void pieces_closedAfterHasNext_hasNextFalseFromThenOn_thePieceLookedAheadDropped() {
    String prompt = reference.get("cases").get(0).get("prompt").asText();
    TextPieces pieces = lm.pieces(prompt, greedy());
    // hasNext() is idempotent: it waits for one piece and keeps it until next().
    assertTrue(pieces.hasNext());
    assertTrue(pieces.hasNext());
    pieces.close();
    // As the class documents: after close(), hasNext() is false; it was true once more, handing
    // over the piece hasNext() had looked ahead at.
    assertFalse(pieces.hasNext());
    assertThrows(NoSuchElementException.class, pieces::next);
  }

  @Test
  void pieces_failedGeneration_throwsTheCause() {
    TextPieces pieces = lm.pieces("Once", GenerationConfig.builder()
        .timeout(Duration.ofNanos(1)).build());
    CompletionException e = assertThrows(CompletionException.class, () -> {
      while (pieces.hasNext()) {
        pieces.next();
      }
    });
    assertInstanceOf(DeadlineExceededException.class, e.getCause());
    pieces.close();
  }

  /**
   * Delivers on the engine's own thread (the builder allows any executor), so every token of a
   * request is one execute() call: counts the first request's tokens once marked, and can hold
   * the engine at the first request's token {@code holdAt} until released.
   */
  static final class Watch implements Executor {
    private final AtomicReference<Runnable> first = new AtomicReference<>();
    private final AtomicInteger tokens = new AtomicInteger();
    private final AtomicInteger afterMark = new AtomicInteger();
    private final CountDownLatch release = new CountDownLatch(1);
    private final int holdAt;
    private volatile boolean marked;

    Watch(int holdAt) {
      this.holdAt = holdAt;
    }

    @Override
    public void execute(Runnable r) {
      first.compareAndSet(null, r);
      if (r == first.get()) {
        if (marked) {
          afterMark.incrementAndGet();
        }
        if (tokens.incrementAndGet() == holdAt) {
          try {
            release.await(60, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
      }
      r.run();
    }

    /** From now on, count the first request's deliveries; let a held engine go on. */
    void markAndRelease() {
      marked = true;
      release.countDown();
    }

    int afterMark() {
      return afterMark.get();
    }
  }

  private static TextGenerator oneSlot(Watch watch) {
    return TextGenerator.load(TokenGenerator.builder(DIR.resolve("model.pt")).id("one")
        .device(Device.cpu()).maxSequences(1).executor(watch), DIR.resolve("tokenizer.json"));
  }

  /** How many of the case's greedy tokens make its first {@code n} pieces. */
  private static int tokensForPieces(JsonNode c, int n) {
    TextStream stream = new TextStream(i -> lm.decode(toInts(i)), List.of());
    int[] ids = ints(c.get("greedy_ids"));
    for (int i = 0, pieces = 0; i < ids.length; i++) {
      if (!stream.add(ids[i]).isEmpty() && ++pieces == n) {
        return i + 1;
      }
    }
    throw new AssertionError("the reference has fewer than " + n + " pieces");
  }

  @Test
  void pieces_closedAfterThree_freeTheSlot_theQueuedRequestRuns() {
    JsonNode c = reference.get("cases").get(0);
    String prompt = c.get("prompt").asText();
    // The engine waits at the token after the third piece's until the iterator is closed, so
    // the endless generation cannot end on its own first.
    Watch watch = new Watch(tokensForPieces(c, 3) + 1);
    try (TextGenerator one = oneSlot(watch)) {
      TextPieces pieces = one.pieces(prompt, endless());
      CompletableFuture<Generation> queued = one.generateAsync(prompt, greedy());
      try {
        for (int i = 0; i < 3; i++) {
          assertFalse(pieces.next().isEmpty());
        }
        assertFalse(queued.isDone());
        pieces.close();
        assertTrue(pieces.result().isCancelled());
        assertFalse(pieces.hasNext());
      } finally {
        watch.markAndRelease();
      }
      // The one slot was the closed generation's: the queued request runs only once it is free.
      assertArrayEquals(ints(c.get("greedy_ids")), queued.join().tokens());
      // Without the cancel it would have gone on for some 200 tokens before the queued one.
      assertTrue(watch.afterMark() <= 1, watch.afterMark() + " tokens after close");
    }
  }

  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void consumerThrows_endsOnlyItsGeneration_slotFreed(boolean callback) {
    JsonNode c = reference.get("cases").get(2);
    String prompt = c.get("prompt").asText();
    // As above: the engine cannot run the endless generation past the third piece's token
    // until the throw was dealt with.
    Watch watch = new Watch(tokensForPieces(c, 3) + 1);
    RuntimeException bug = new IllegalStateException("consumer bug");
    try (TextGenerator one = oneSlot(watch)) {
      CompletableFuture<Generation> queued;
      if (callback) {
        AtomicInteger n = new AtomicInteger();
        CompletableFuture<Generation> f = one.stream(prompt, endless(), piece -> {
          if (n.incrementAndGet() == 3) {
            watch.markAndRelease();
            throw bug;
          }
        });
        queued = one.generateAsync(prompt, greedy());
        CompletionException e = assertThrows(CompletionException.class, f::join);
        assertSame(bug, e.getCause());
      } else {
        try (TextPieces pieces = one.pieces(prompt, endless())) {
          queued = one.generateAsync(prompt, greedy());
          RuntimeException thrown = assertThrows(IllegalStateException.class, () -> {
            for (int n = 1; pieces.hasNext(); n++) {
              pieces.next();
              if (n == 3) {
                throw bug;
              }
            }
          });
          assertSame(bug, thrown);
        } finally {
          watch.markAndRelease();
        }
      }
      assertArrayEquals(ints(c.get("greedy_ids")), queued.join().tokens());
      // The failed generation's slot was freed at once, not after its ~250 tokens.
      int after = watch.afterMark();
      assertTrue(after <= 1, after + " tokens after the throw");
      assertEquals(one.decode(ints(c.get("greedy_ids"))), one.generate(prompt, greedy()));
    }
  }

  private static TextGenerator ownGenerator(String id) {
    return TextGenerator.load(TokenGenerator.builder(DIR.resolve("model.pt")).id(id)
        .device(Device.cpu()).maxSequences(1), DIR.resolve("tokenizer.json"));
  }

  @Test
  void closed_everyCallRefused_namingTheGenerator() {
    // The tokenizer was freed by close: calls got DJL's "Native resource has been release
    // already." from encode or decode.
    TextGenerator closed = ownGenerator("closed-text");
    closed.close();
    closed.close();
    GenerationConfig config = GenerationConfig.builder().maxNewTokens(2).build();
    List<org.junit.jupiter.api.function.Executable> calls = List.of(
        () -> closed.encode("a"), () -> closed.decode(new int[] {1}),
        () -> closed.generate("a", config), () -> closed.generateAsync("a", config),
        () -> closed.stream("a", config, piece -> { }), () -> closed.pieces("a", config));
    for (org.junit.jupiter.api.function.Executable call : calls) {
      IllegalStateException e = assertThrows(IllegalStateException.class, call);
      assertEquals("text generator 'closed-text' is closed", e.getMessage());
    }
  }

  @Test
  void closeWhileCallsDecode_callsEndOrAreRefused_neverTouchAFreedTokenizer() throws Exception {
    // DJL reads the tokenizer's native handle and then uses it: a close between the two freed
    // the tokenizer under a running decode (a use after free in native code).
    TextGenerator racing = ownGenerator("racing-text");
    int[] ids = new int[4096];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = 3 + i % 200;
    }
    String expected = racing.decode(ids);
    int threads = 4;
    CountDownLatch decoding = new CountDownLatch(threads);
    List<CompletableFuture<Integer>> workers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      workers.add(CompletableFuture.supplyAsync(() -> {
        int done = 0;
        decoding.countDown();
        while (true) {
          try {
            assertEquals(expected, racing.decode(ids));
            done++;
          } catch (IllegalStateException e) {
            assertEquals("text generator 'racing-text' is closed", e.getMessage());
            return done;
          }
        }
      }, java.util.concurrent.Executors.newSingleThreadExecutor()));
    }
    assertTrue(decoding.await(30, TimeUnit.SECONDS));
    racing.close();
    for (CompletableFuture<Integer> w : workers) {
      w.get(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void lastPieceCallbackThrowsAnError_theGenerationFails_insteadOfNeverEnding() throws Exception {
    // The text held back at the end (here: a possible start of the stop string) is handed over
    // when the generation completes; an Error from the callback there left the future open for
    // ever, and pieces() waiting on it.
    JsonNode c = reference.get("cases").get(0);
    String prompt = c.get("prompt").asText();
    GenerationConfig plain = GenerationConfig.builder().maxNewTokens(20).eosTokenIds(NEVER)
        .build();
    String full = lm.generate(prompt, plain);
    GenerationConfig holdsLast = plain.toBuilder()
        .stopStrings(full.substring(full.length() - 1) + "\u0001").build();
    List<String> pieces = Collections.synchronizedList(new ArrayList<>());
    assertEquals(full, lm.stream(prompt, holdsLast, pieces::add).join().text());
    String last = pieces.get(pieces.size() - 1);
    AssertionError bug = new AssertionError("consumer bug");
    AtomicInteger n = new AtomicInteger();
    CompletableFuture<Generation> f = lm.stream(prompt, holdsLast, piece -> {
      if (n.incrementAndGet() == pieces.size()) {
        assertEquals(last, piece);
        throw bug;
      }
    });
    java.util.concurrent.ExecutionException e = assertThrows(
        java.util.concurrent.ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
    assertSame(bug, e.getCause());
  }

  @Test
  void load_byHubId_fromAFileBase_verifiedThenOffline(@TempDir Path cache) {
    Hub hub = Hub.builder().baseUri(MODELS.toUri()).build();
    Downloader downloader = Downloader.builder().cacheDir(cache).retries(0).build();
    JsonNode c = reference.get("cases").get(1);
    try (TextGenerator g = TextGenerator.load(hub, "nos/llm-tiny", downloader,
        b -> b.device(Device.cpu()).maxSequences(2))) {
      assertEquals(2, g.tokens().maxSequences());
      Generation out = g.generateAsync(c.get("prompt").asText(), greedy()).join();
      assertArrayEquals(ints(c.get("greedy_ids")), out.tokens());
    }
    // The files are in the cache now, verified: the same load needs neither base nor network.
    Hub nowhere = Hub.builder().baseUri(cache.resolve("gone").toUri()).build();
    Downloader offline = Downloader.builder().cacheDir(cache).offline(true).build();
    try (TextGenerator g = TextGenerator.load(nowhere, "nos/llm-tiny", offline)) {
      assertEquals(lm.decode(ints(c.get("greedy_ids"))),
          g.generate(c.get("prompt").asText(), greedy()));
    }
  }

  /**
   * A folder's generation_config.json names where a request stops when its config names no
   * end-of-sequence id (an instruction-tuned model's list: end of turn, end of text): here the
   * model's own EOS and a token case 0's greedy text reaches partway, so it stops there; a
   * config's own ids win; an id outside the vocabulary is refused by file.
   */
  @Test
  void load_folder_generationConfigsEosIds_stopWhereItSays(@TempDir Path dir) throws Exception {
    Files.copy(DIR.resolve("model.pt"), dir.resolve("model.pt"));
    Files.copy(DIR.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
    JsonNode c = reference.get("cases").get(0);
    int[] greedy = ints(c.get("greedy_ids"));
    // the first token past the third that the text has not produced before
    int at = 3;
    while (seenBefore(greedy, at)) {
      at++;
    }
    int stop = greedy[at];
    int[] expected = java.util.Arrays.copyOf(greedy, at + 1);
    Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": ["
        + reference.get("eos_token_id").asInt() + ", " + stop + "], \"use_cache\": true}");
    try (TextGenerator g = TextGenerator.load(dir)) {
      Generation out = g.generateAsync(c.get("prompt").asText(), greedy()).join();
      assertArrayEquals(expected, out.tokens());
      assertEquals(FinishReason.EOS_TOKEN, out.finishReason());
      // the request's own ids win over the folder's
      GenerationConfig own = GenerationConfig.builder().maxNewTokens(greedy.length)
          .eosTokenIds(NEVER).build();
      assertArrayEquals(greedy, g.generateAsync(c.get("prompt").asText(), own).join()
          .tokens());
    }
    Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": 512}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TextGenerator.load(dir));
    assertTrue(e.getMessage().contains("generation_config.json"), e.getMessage());
    assertTrue(e.getMessage().contains("eos_token_id is 512"), e.getMessage());
  }

  private static boolean seenBefore(int[] ids, int at) {
    for (int i = 0; i < at; i++) {
      if (ids[i] == ids[at]) {
        return true;
      }
    }
    return false;
  }

  @Test
  void load_byHubId_fileNotThePinnedOne_refused(@TempDir Path base, @TempDir Path cache)
      throws Exception {
    Path copy = Files.createDirectories(base.resolve("llm-tiny"));
    Files.copy(DIR.resolve("model.pt"), copy.resolve("model.pt"));
    String json = Files.readString(DIR.resolve("tokenizer.json"));
    // Same size, still valid JSON, other bytes: only the digest tells.
    String moved = json.replace("\"padding\": null,", "\"padding\":null ,");
    assertNotEquals(json, moved);
    Files.writeString(copy.resolve("tokenizer.json"), moved);
    Hub hub = Hub.builder().baseUri(base.toUri()).build();
    DownloadException e = assertThrows(DownloadException.class, () -> TextGenerator.load(hub,
        "nos/llm-tiny", Downloader.builder().cacheDir(cache).retries(0).build()));
    assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
    assertTrue(e.getMessage().contains("04c91d489d935fd4"), e.getMessage());
  }

  /**
   * The catalog pins the model's SHA-256, and every load checks it on the bytes it opens, as
   * nos-core checks a spec from {@link Hub#spec}: a model in the download cache rewritten at its
   * size (one weight changed; a cached blob's size is all a fetch checks) is refused when loaded
   * again. It was loaded: the generator's model took the path alone, without the pin.
   */
  @Test
  void load_byHubId_cachedModelRewrittenAtItsSize_refused(@TempDir Path cache) throws Exception {
    Hub hub = Hub.builder().baseUri(MODELS.toUri()).build();
    Downloader downloader = Downloader.builder().cacheDir(cache).retries(0).build();
    java.util.function.UnaryOperator<TokenGenerator.Builder> cpu =
        b -> b.device(Device.cpu()).maxSequences(1);
    TextGenerator.load(hub, "nos/llm-tiny", downloader, cpu).close();
    String sha256 = hub.entry("nos/llm-tiny").artifact(CatalogArtifact.MODEL).orElseThrow()
        .sha256().orElseThrow();
    Path blob = downloader.cached(sha256).orElseThrow();
    byte[] bytes = Files.readAllBytes(blob);
    // A byte well inside the first weight record, stored uncompressed; libtorch checks no CRC.
    int at = new String(bytes, StandardCharsets.ISO_8859_1).indexOf("model/data/0") + 4096;
    bytes[at] ^= 0x40;
    Files.write(blob, bytes);
    ai.nos.ModelLoadException e = assertThrows(ai.nos.ModelLoadException.class,
        () -> TextGenerator.load(hub, "nos/llm-tiny", downloader, cpu).close(),
        "the rewritten model was loaded");
    assertTrue(e.getMessage().contains("artifact file " + blob.toRealPath() + " has sha256 "
        + sha256(bytes) + " but the spec expects " + sha256), e.getMessage());
  }

  @Test
  void load_byHubId_cachedTokenizerRewrittenAtItsSize_refused(@TempDir Path cache)
      throws Exception {
    Hub hub = Hub.builder().baseUri(MODELS.toUri()).build();
    Downloader downloader = Downloader.builder().cacheDir(cache).retries(0).build();
    java.util.function.UnaryOperator<TokenGenerator.Builder> cpu =
        b -> b.device(Device.cpu()).maxSequences(1);
    TextGenerator.load(hub, "nos/llm-tiny", downloader, cpu).close();
    String sha256 = hub.entry("nos/llm-tiny").artifact(CatalogEntry.TOKENIZER).orElseThrow()
        .sha256().orElseThrow();
    Path blob = downloader.cached(sha256).orElseThrow();
    byte[] bytes = FacadesPinnedFilesTest.respaced(Files.readAllBytes(blob));
    Files.write(blob, bytes);
    DownloadException e = assertThrows(DownloadException.class,
        () -> TextGenerator.load(hub, "nos/llm-tiny", downloader, cpu).close(),
        "the rewritten tokenizer was loaded");
    assertTrue(e.getMessage().contains("nos/llm-tiny: artifact 'tokenizer' file " + blob
        + " has sha256 " + sha256(bytes) + " but the catalog pins " + sha256), e.getMessage());
  }

  @Test
  void load_byHubId_entrySaysAnotherVocabulary_refused(@TempDir Path cache) {
    Hub hub = Hub.builder().baseUri(MODELS.toUri()).build();
    CatalogEntry tiny = hub.entry("nos/llm-tiny");
    ai.nos.Signature.Builder wrong = ai.nos.Signature.builder();
    tiny.signature().inputs().forEach(wrong::input);
    hub.register(tiny.toBuilder().id("test/llm-wrong").signature(
        wrong.output("logits", ai.nos.DType.FLOAT32, -1, 500).build()).build());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TextGenerator.load(hub, "test/llm-wrong", Downloader.builder().cacheDir(cache)
            .build(), b -> b.device(Device.cpu())));
    assertTrue(e.getMessage().contains("the model's vocabulary holds 512 tokens"),
        e.getMessage());
  }

  @Test
  void load_byHubId_otherTask_refusedBeforeDownloading(@TempDir Path cache) {
    Hub hub = Hub.builder().build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TextGenerator.load(hub, "torchvision/resnet50",
            Downloader.builder().cacheDir(cache).offline(true).build()));
    assertEquals("TextGenerator needs an entry of task text_generation but"
        + " 'torchvision/resnet50' has task image_classification", e.getMessage());
  }

  private static String sha256(byte[] bytes) throws java.security.NoSuchAlgorithmException {
    return java.util.HexFormat.of().formatHex(
        java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
  }

  private static int[] toInts(long[] ids) {
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }
}
