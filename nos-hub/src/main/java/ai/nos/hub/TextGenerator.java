package ai.nos.hub;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.nos.generate.FinishReason;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * A language model that writes text: a {@link TokenGenerator} (continuous batching, the cache on
 * the device) with the model's HuggingFace {@code tokenizer.json}.
 *
 * <pre>{@code
 * try (TextGenerator lm = TextGenerator.load(Path.of("models/llm-tiny"))) {
 *   String text = lm.generate("Once upon a time",
 *       GenerationConfig.builder().maxNewTokens(64).build());
 *   lm.stream(prompt, config, piece -> System.out.print(piece)).join();
 *   try (TextPieces pieces = lm.pieces(prompt, config)) {   // close() stops it
 *     pieces.forEachRemaining(System.out::print);
 *   }
 *   CompletableFuture<Generation> f = lm.generateAsync(prompt, config);   // cancel() stops it
 * }
 * try (TextGenerator lm = TextGenerator.load(hub, "nos/llm-tiny", downloader)) { ... }
 * }</pre>
 *
 * <p>Streaming comes two ways, each piece whole UTF-8 characters (a character split across
 * tokens waits for its last byte): a callback on the generator's callback threads, in order
 * ({@link #stream}), or a blocking iterator the caller's own thread reads ({@link #pieces}; why
 * an iterator rather than a {@code Flow.Publisher}: see {@link TextPieces}). The engine sets the
 * pace of a generation (a decode step serves every running sequence), so neither applies
 * back-pressure: a slow consumer's pieces wait for it, at most one per generated token. Stop
 * strings are found in the text: the result and the stream end before the first one in it, and the
 * generation is cancelled at once (its cache slot freed before the next step).
 *
 * <p>Thread-safe; {@link #close()} is idempotent and may be called while calls and generations
 * run: they end (generations fail with {@link IllegalStateException}), later calls throw
 * {@link IllegalStateException}, and the tokenizer is freed once no call uses it.
 */
public final class TextGenerator implements AutoCloseable {
  private final TokenGenerator tokens;
  /** Freed by close() only once no call and no generation's delivery is inside it. */
  private final SharedTokenizer tokenizer;
  private final java.util.concurrent.atomic.AtomicBoolean closed =
      new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * The end-of-sequence ids a request whose config names none stops on (the folder's
   * generation_config.json); null for the model's own one.
   */
  private final int[] eosTokenIds;

  private TextGenerator(TokenGenerator tokens, HuggingFaceTokenizer tokenizer,
      int[] eosTokenIds) {
    this.tokens = tokens;
    this.tokenizer = new SharedTokenizer(tokenizer, "text generator '" + tokens.id() + "'");
    this.eosTokenIds = eosTokenIds;
  }

  /**
   * Loads {@code directory}/model.pt (an export of scripts/models/make_tiny_llama.py) with
   * {@code directory}/tokenizer.json, on the best device, 8 sequences at once. Where the folder
   * holds a generation_config.json (the export writes the pretrained model's), its
   * {@code eos_token_id}s (one or a list: an instruction-tuned model's end of turn and end of
   * text) are where a request stops whose config names none.
   *
   * @throws IllegalArgumentException if {@code directory} is null or is not a folder (the
   *     message names it), or if generation_config.json is not JSON or names an id outside the
   *     model's vocabulary
   */
  public static TextGenerator load(Path directory) {
    if (directory == null) {
      throw new IllegalArgumentException("directory must not be null");
    }
    Checks.modelDirectory(directory, "text generator",
        "model.pt and tokenizer.json (scripts/models/make_tiny_llama.py)");
    return load(TokenGenerator.builder(directory.resolve("model.pt")),
        directory.resolve("tokenizer.json"), null,
        directory.resolve(GenerationConfigFile.FILE));
  }

  /**
   * Fetches a catalog model of task {@link Task#TEXT_GENERATION} (its
   * {@value CatalogArtifact#MODEL} and {@value CatalogEntry#TOKENIZER} artifacts, verified as the
   * hub's trust rules say) and loads it on the entry's device in its precision, 8 sequences at
   * once.
   *
   * @throws IllegalArgumentException if an argument is null, the id is unknown, or its entry has
   *     another task (checked before anything is downloaded)
   * @throws DownloadException if a file cannot be fetched or verified
   * @throws ai.nos.ModelLoadException if the model is not an exported decoder
   */
  public static TextGenerator load(Hub hub, String id, Downloader downloader) {
    return load(hub, id, downloader, UnaryOperator.identity());
  }

  /**
   * As {@link #load(Hub, String, Downloader)}, with the generator's settings changed by
   * {@code settings} (it gets a builder holding the entry's id, device and precision, and
   * returns the builder to build, e.g. {@code b -> b.maxSequences(32).device(Device.cpu())}).
   *
   * @throws IllegalArgumentException also if {@code settings} is null or returns null, or the
   *     entry's signature names a vocabulary size other than the model's
   */
  public static TextGenerator load(Hub hub, String id, Downloader downloader,
      UnaryOperator<TokenGenerator.Builder> settings) {
    TaskModel.Configured<TokenGenerator.Builder> c = TaskModel.configure("TextGenerator",
        Task.TEXT_GENERATION, hub, id, downloader, settings,
        (entry, pinned) -> TokenGenerator.builder(pinned.get(CatalogArtifact.MODEL)).id(id)
            .device(entry.device()).precision(entry.precision()));
    // The tokenizer's bytes are read once and checked against the catalog's pin: the cache
    // checks a file's size only.
    ai.nos.Artifact file = c.files().get(CatalogEntry.TOKENIZER);
    Path path = PinnedFiles.path(file);
    byte[] json = PinnedFiles.check(id, CatalogEntry.TOKENIZER, file, TextTokenizer.read(path));
    TextGenerator lm = load(c.builder(), path, json, null);
    String mismatch = TaskModel.vocabularyMismatch(c.entry(), lm.tokens.vocabSize());
    if (mismatch != null) {
      lm.close();
      throw new IllegalArgumentException(mismatch);
    }
    return lm;
  }

  /** Builds {@code generator} (its settings as given) with the tokenizer in {@code tokenizer}. */
  public static TextGenerator load(TokenGenerator.Builder generator, Path tokenizer) {
    return load(generator, tokenizer, null, null);
  }

  /**
   * As above, with the default end-of-sequence ids of {@code generationConfig} (nullable), and
   * the tokenizer from {@code tokenizerJson}, the bytes of {@code tokenizer} read and checked
   * already (null: read the file).
   */
  private static TextGenerator load(TokenGenerator.Builder generator, Path tokenizer,
      byte[] tokenizerJson, Path generationConfig) {
    if (generator == null || tokenizer == null) {
      throw new IllegalArgumentException("generator and tokenizer must not be null");
    }
    Map<String, String> options = Map.of("addSpecialTokens", "false", "truncation", "false",
        "padding", "false");
    HuggingFaceTokenizer tk = tokenizerJson == null ? TextTokenizer.load(tokenizer, options)
        : TextTokenizer.load(tokenizer, tokenizerJson, options);
    TokenGenerator built = null;
    try {
      built = generator.build();
      int[] eos = GenerationConfigFile.eosTokenIds(generationConfig, built.vocabSize());
      return new TextGenerator(built, tk, eos.length == 0 ? null : eos);
    } catch (RuntimeException | Error e) {
      if (built != null) {
        built.close();
      }
      tk.close();
      throw e;
    }
  }

  /**
   * The prompt's token ids, as the model sees them.
   *
   * @throws IllegalStateException if closed
   */
  public int[] encode(String text) {
    if (text == null) {
      throw new IllegalArgumentException("text must not be null");
    }
    long[] ids = tokenizer.encode(text);
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  /**
   * The text of {@code ids}, special tokens (EOS) left out.
   *
   * @throws IllegalStateException if closed
   */
  public String decode(int[] ids) {
    if (ids == null) {
      throw new IllegalArgumentException("ids must not be null");
    }
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      l[i] = ids[i];
    }
    return tokenizer.decode(l);
  }

  /**
   * Generates and waits for the text.
   *
   * @throws CompletionException wrapping what failed the generation (a deadline, a step)
   */
  public String generate(String prompt, GenerationConfig config) {
    return generateAsync(prompt, config).join().text();
  }

  /** Generates; the future completes with the text, or cancelled, stops the generation. */
  public CompletableFuture<Generation> generateAsync(String prompt, GenerationConfig config) {
    return stream(prompt, config, null);
  }

  /**
   * Generates, handing text to {@code onText} (may be null) as it is produced; see the class
   * notes. Exceptions: those of {@link TokenGenerator#stream}.
   */
  public CompletableFuture<Generation> stream(String prompt, GenerationConfig config,
      Consumer<String> onText) {
    if (config == null) {
      throw new IllegalArgumentException("config must not be null");
    }
    if (closed.get()) {
      throw tokenizer.closedException();
    }
    if (eosTokenIds != null && config.eosTokenIds().length == 0) {
      config = config.toBuilder().eosTokenIds(eosTokenIds).build();
    }
    TextStream text = new TextStream(tokenizer::decode, config.stopStrings());
    CompletableFuture<Generation> result = new CompletableFuture<>();
    // Runs on the generator's callback thread, one token at a time, in order.
    CompletableFuture<GeneratedTokens> running = tokens.stream(encode(prompt), config, id -> {
      String piece = text.add(id);
      if (!piece.isEmpty() && onText != null) {
        onText.accept(piece);
      }
      if (text.stopped()) {
        result.complete(new Generation(text.text(), text.ids(), FinishReason.STOP_STRING));
      }
    });
    running.whenComplete((done, error) -> {
      if (done != null) {
        // Whatever the last piece's callback or decoding throws (an Error too) fails the
        // generation: left uncaught here it left the future open for ever.
        try {
          String rest = text.finish();
          if (!rest.isEmpty() && onText != null) {
            onText.accept(rest);
          }
          result.complete(new Generation(text.text(), done.tokens(),
              text.stopped() ? FinishReason.STOP_STRING : done.finishReason()));
        } catch (RuntimeException | Error e) {
          result.completeExceptionally(e);
        }
      } else if (!result.isDone()) {
        result.completeExceptionally(error instanceof CompletionException c
            && c.getCause() != null ? c.getCause() : error);
      }
    });
    // Settled first (stop string, caller's cancel or timeout): the generation stops.
    result.whenComplete((r, e) -> running.cancel(false));
    return result;
  }

  /**
   * Generates, returning the text as an iterator of pieces that the caller's thread reads as
   * they are produced; closing it early stops the generation and frees its slot. See
   * {@link TextPieces}. Exceptions: those of {@link TokenGenerator#stream}.
   */
  public TextPieces pieces(String prompt, GenerationConfig config) {
    TextPieces pieces = new TextPieces();
    pieces.start(stream(prompt, config, pieces::offer));
    return pieces;
  }

  /** The token-level generator underneath (cache and queue sizes). */
  public TokenGenerator tokens() {
    return tokens;
  }

  @Override
  public void close() {
    if (!closed.getAndSet(true)) {
      tokens.close();
      tokenizer.close();
    }
  }
}
