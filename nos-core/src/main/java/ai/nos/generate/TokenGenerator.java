package ai.nos.generate;

import ai.nos.Artifact;
import ai.nos.Device;
import ai.nos.ModelManager;
import ai.nos.Precision;
import ai.nos.QueueFullException;
import ai.nos.ModelLoadException;
import ai.nos.internal.generate.DecoderModel;
import ai.nos.internal.generate.EncoderModel;
import ai.nos.internal.generate.GenerationEngine;
import ai.nos.internal.manager.ManagerAccess;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.Map;
import java.util.Objects;

/**
 * A decoder-only language model generating token ids for many requests at once: each request's
 * key/value cache stays on the model's device between steps, requests join and leave the running
 * batch between decode steps (continuous batching), and tokens are chosen on the device.
 *
 * <pre>{@code
 * try (TokenGenerator lm = TokenGenerator.builder(Path.of("models/llm-tiny/model.pt"))
 *     .maxSequences(8).build()) {
 *   GeneratedTokens out = lm.generate(promptIds, GenerationConfig.defaults()).join();
 * }
 * }</pre>
 *
 * <p>The model is a decoder exported by {@code scripts/models/make_tiny_llama.py} (TorchScript
 * with explicit cache tensors). Text, tokenizers and stop strings: nos-hub's
 * {@code TextGenerator}.
 *
 * <p><b>Encoder-decoder models</b> (Whisper, exported by {@code scripts/models/make_whisper.py}):
 * give the encoder with {@link Builder#encoder} and each request's encoder input with
 * {@link #generate(int[], float[], GenerationConfig)}. The encoder runs once per request when it
 * is admitted, its output's cross-attention keys and values stay on the device in a cache row
 * of the request's slot (counted in {@link #cacheBytes()}), and requests share decode steps as
 * decoder-only ones do. With {@link Builder#whisperPcm} the encoder input is a 30 s window of
 * 16 kHz mono PCM and Whisper's log-mel features are computed on the model's device for all
 * the windows admitted together. Speech in, text out: nos-hub's {@code SpeechRecognizer}.
 *
 * <p><b>With a {@link ModelManager}</b> ({@link Builder#manager}), the manager books the
 * generator as it books a model: it places it (the builder's device is the preference, as a
 * spec's), counts its {@link #deviceBytes()} (weights, the whole cache, the decode graphs) on
 * that device, so that other models' placement and {@link ModelManager#stats()} see them, and
 * lists it in {@link ModelManager#models()} under its id. A generator with a request queued or
 * generating is never evicted; an idle one may be (least recently used first, as models are): its
 * cache and model are freed, and its next request loads it again where the manager places it, on
 * the submitting thread (the caller sees the load's latency; a load that fails fails that request).
 * Closing the generator frees and unbooks it before {@code close} returns. Closing the manager
 * (or {@link ModelManager#unload} of its id) fails the generator's queued and running requests
 * with {@link IllegalStateException} and frees it at once; later requests throw
 * {@link IllegalStateException}. Without a manager, nothing is booked anywhere.
 *
 * <p>Thread-safe: any thread may submit; one scheduler thread per generator runs the model.
 * Token consumers and futures' dependent actions run on the callback executor (a cached pool of
 * daemon threads by default, or the builder's), never on the scheduler. {@link #close()} fails
 * what is queued or running with {@link IllegalStateException} and frees the cache and model.
 */
public final class TokenGenerator implements AutoCloseable {
  /** Standalone: the one engine; null when a manager books the generator. */
  private final GenerationEngine engine;
  /** The manager's booking and the engine it loads; null standalone. */
  private final BookedEngine booked;
  private final String id;
  private final Shape shape;
  private final ExecutorService ownedCallbacks;
  private final AtomicBoolean closed = new AtomicBoolean();

  private TokenGenerator(String id, GenerationEngine engine, BookedEngine booked, Shape shape,
      ExecutorService ownedCallbacks) {
    this.id = id;
    this.engine = engine;
    this.booked = booked;
    this.shape = shape;
    this.ownedCallbacks = ownedCallbacks;
  }

  /** What a load of the decoder gives: the same for every load of the same file and settings. */
  record Shape(int eosTokenId, int vocabSize, int length, int slots, long cacheBytes,
      long cacheBytesPerSequence, long weightBytes, long graphBytes, int[] encoderInput,
      Map<String, Long> info) {
    /** {@code weightBytes}: the decoder's and the encoder's, if any. */
    static Shape of(GenerationEngine engine, long weightBytes) {
      EncoderModel encoder = engine.encoder();
      return new Shape(engine.model().eosTokenId(), engine.model().vocabSize(), engine.length(),
          engine.slots(), engine.cacheBytes(), engine.cacheBytesPerSequence(), weightBytes,
          engine.graphBytes(), encoder == null ? new int[0] : encoder.inputShape(),
          engine.model().info());
    }

    long deviceBytes() {
      return weightBytes + cacheBytes + graphBytes;
    }

    /** Whether a reload gives the same model (the graphs' measured bytes may differ a little). */
    boolean sameModel(Shape other) {
      return eosTokenId == other.eosTokenId && vocabSize == other.vocabSize
          && length == other.length && slots == other.slots && cacheBytes == other.cacheBytes
          && cacheBytesPerSequence == other.cacheBytesPerSequence
          && weightBytes == other.weightBytes
          && java.util.Arrays.equals(encoderInput, other.encoderInput)
          && info.equals(other.info);
    }

    /** The engine's own checks of a request, with its messages, before any load. */
    void check(String id, int[] prompt, GenerationConfig config) {
      if (config == null) {
        throw new IllegalArgumentException("generator '" + id + "': config must not be null");
      }
      if (prompt == null || prompt.length == 0) {
        throw new IllegalArgumentException("generator '" + id + "': the prompt must hold at"
            + " least one token id, got " + (prompt == null ? "null" : "none"));
      }
      if (prompt.length > length) {
        throw new IllegalArgumentException("generator '" + id + "': a prompt of "
            + prompt.length + " tokens does not fit the cache length of " + length
            + " positions");
      }
      for (int i = 0; i < prompt.length; i++) {
        if (prompt[i] < 0 || prompt[i] >= vocabSize) {
          throw new IllegalArgumentException("generator '" + id + "': prompt token " + i
              + " is " + prompt[i] + ", outside the vocabulary [0, " + vocabSize + ")");
        }
      }
      GenerationEngine.checkSuppressed(id, config, vocabSize);
    }
  }

  /** A builder for the exported decoder in {@code model}. */
  public static Builder builder(Path model) {
    Objects.requireNonNull(model, "model path must not be null");
    return new Builder(model, null);
  }

  /**
   * A builder for the exported decoder in {@code model}, a local file. With a digest
   * ({@link Artifact#withSha256}), every load (the first, and each reload after its manager
   * evicted it) reads the file into a private copy and refuses bytes that are not the ones it
   * pins, as a spec's artifact is checked; nos-hub's generators pin their catalog's digests so.
   *
   * @throws NullPointerException if {@code model} is null
   * @throws IllegalArgumentException if {@code model} is not a local file (an http URL)
   */
  public static Builder builder(Artifact model) {
    Objects.requireNonNull(model, "model must not be null");
    return new Builder(localPath(model, "model"), model.sha256().orElse(null));
  }

  /** The artifact's file; a generator reads no URL. */
  private static Path localPath(Artifact artifact, String what) {
    return artifact.localPath().orElseThrow(() -> new IllegalArgumentException("the " + what
        + " of a generator must be a local file but was " + artifact.uri()));
  }

  /**
   * Generates from {@code prompt}; completes when the generation ends (its finish reason says
   * why), exceptionally with {@link ai.nos.DeadlineExceededException} past the config's timeout,
   * with {@link ai.nos.InferenceException} if a step fails, or with
   * {@link IllegalStateException} if the generator closes first. Cancelling the future stops the
   * generation and frees its cache slot before the next step.
   *
   * @throws IllegalArgumentException if the prompt is empty, holds an id outside the
   *     vocabulary, or is longer than {@link #maxLength()}, or the config suppresses an id
   *     outside the vocabulary (or every id), or its timestamp rules' first timestamp id is
   *     outside it
   * @throws QueueFullException if {@code maxQueued} requests already wait for a slot
   * @throws IllegalStateException if closed
   */
  public CompletableFuture<GeneratedTokens> generate(int[] prompt, GenerationConfig config) {
    return submit(prompt, null, config, null);
  }

  /**
   * As {@link #generate(int[], GenerationConfig)}, for an encoder-decoder model (see the class
   * notes): {@code encoderInput} is the request's encoder input, {@link #encoderInputShape()}
   * row-major (for Whisper, a 30 s window's log-mel features, or with
   * {@link Builder#whisperPcm} the window's 480,000 samples, zero-padded), copied.
   *
   * @throws IllegalArgumentException also if the model has no encoder, or
   *     {@code encoderInput} is null or not of the encoder input's size, or (PCM input) holds
   *     a NaN or an infinity (the message gives its index)
   */
  public CompletableFuture<GeneratedTokens> generate(int[] prompt, float[] encoderInput,
      GenerationConfig config) {
    if (shape.encoderInput().length == 0) {
      throw new IllegalArgumentException("generator '" + id + "' has no encoder: an encoder"
          + " input of " + (encoderInput == null ? "null" : encoderInput.length + " floats")
          + " was given to a decoder-only model");
    }
    if (encoderInput == null) {
      throw new IllegalArgumentException("generator '" + id + "': the encoder input must not be"
          + " null; it takes " + java.util.Arrays.toString(shape.encoderInput())
          + " floats, row-major");
    }
    return submit(prompt, encoderInput, config, null);
  }

  private CompletableFuture<GeneratedTokens> submit(int[] prompt, float[] encoderInput,
      GenerationConfig config, IntConsumer sink) {
    return engine != null ? engine.submit(prompt, encoderInput, config, sink)
        : booked.submit(prompt, encoderInput, config, sink);
  }

  /**
   * As {@link #generate}, handing each token to {@code onToken} as it is produced, in order, on
   * the callback executor; every token is handed over before the future completes. A consumer
   * that throws ends the generation with its exception.
   */
  public CompletableFuture<GeneratedTokens> stream(int[] prompt, GenerationConfig config,
      IntConsumer onToken) {
    if (onToken == null) {
      throw new IllegalArgumentException("onToken must not be null");
    }
    return submit(prompt, null, config, onToken);
  }

  /**
   * The shape of one request's encoder input: what {@link #generate(int[], float[],
   * GenerationConfig)} takes. For Whisper {@code [mel bins, frames]}, or {@code [480000]} with
   * {@link Builder#whisperPcm}; empty for a decoder-only model.
   */
  public int[] encoderInputShape() {
    return shape.encoderInput().clone();
  }

  /**
   * The integer entries of the export's {@code nos_generation()}: sizes and special token ids
   * (for Whisper, {@code decoder_start_token_id}, {@code en_token_id}, ...), to build prompts.
   */
  public Map<String, Long> modelInfo() {
    return shape.info();
  }

  /**
   * Decode steps so far that served more than one sequence: how much continuous batching
   * shared. Counts the current engine's steps only (with a manager, a reload starts at 0).
   */
  public long sharedDecodeSteps() {
    return engine != null ? engine.sharedSteps() : booked.sharedSteps();
  }

  /**
   * Counts and times of the generator's prefills (with their encoder runs) and decode steps so
   * far: where its time went ({@link GenerationStats}). Counts the current engine's steps only
   * (with a manager, of the replicas loaded now; a reload starts at 0).
   */
  public GenerationStats stats() {
    return engine != null ? engine.stats() : booked.stats();
  }

  /**
   * The name in messages and thread names ({@link Builder#id}, the model file's name by default);
   * with a manager, the id it lists the generator under.
   */
  public String id() {
    return id;
  }

  /** The model's own end-of-sequence id. */
  public int eosTokenId() {
    return shape.eosTokenId();
  }

  public int vocabSize() {
    return shape.vocabSize();
  }

  /** Positions per sequence: prompt plus generated tokens. */
  public int maxLength() {
    return shape.length();
  }

  /** Sequences generated at once. */
  public int maxSequences() {
    return shape.slots();
  }

  /** Sequences generating now. */
  public int activeSequences() {
    return engine != null ? engine.active() : booked.active();
  }

  /** Requests waiting for a free sequence slot. */
  public int queuedRequests() {
    return engine != null ? engine.queued() : booked.queued();
  }

  /**
   * Device bytes the key/value cache holds for all sequences, allocated at load; with CUDA
   * graphs one slot more than {@link #maxSequences()}, where padding rows of a step write.
   */
  public long cacheBytes() {
    return shape.cacheBytes();
  }

  /**
   * The batch sizes whose decode steps replay CUDA graphs (a step of fewer sequences is padded
   * to the next); empty on the CPU, with {@link Builder#cudaGraphs} off, where the model could
   * not be captured (logged when built), or while a generator booked by a manager is evicted.
   */
  public int[] cudaGraphBatchSizes() {
    return engine != null ? engine.decodeGraphSizes() : booked.decodeGraphSizes();
  }

  /** Device bytes of one sequence's cache slot. */
  public long cacheBytesPerSequence() {
    return shape.cacheBytesPerSequence();
  }

  /**
   * Device bytes while loaded: the decoder's parameters and buffers, {@link #cacheBytes()}, and
   * on CUDA what the decode steps' graphs hold (measured when they are recorded); what a
   * {@link ModelManager} books for the generator. An eager step's working memory (prefills,
   * steps without graphs) is not counted.
   */
  public long deviceBytes() {
    return shape.deviceBytes();
  }

  /**
   * Idempotent; see the class notes. With a manager, waits up to 30 s for the requests it fails
   * to hand their copy back, so that the manager's books no longer count the generator when it
   * returns (not when a consumer that the {@link Builder#executor} runs on the scheduler calls
   * it: they hand it back just after).
   */
  @Override
  public void close() {
    if (!closed.getAndSet(true)) {
      if (engine != null) {
        engine.close();
      } else {
        booked.close();
      }
      if (ownedCallbacks != null) {
        ownedCallbacks.shutdown();
      }
    }
  }

  /** Settings of a {@link TokenGenerator}; validated as set. Not thread-safe. */
  public static final class Builder {
    private final Path model;
    /** The digest the model's bytes must have; null: not pinned. */
    private final String modelSha256;
    private Path encoder;
    private String encoderSha256;
    private boolean whisperPcm;
    private String id;
    private Device device = Device.auto();
    private Precision precision = Precision.FP32;
    private int maxSequences = 8;
    private int maxLength = -1;
    private int maxQueued = 256;
    private boolean cudaGraphs = true;
    /** Nanoseconds for the engine's deadlines; tests give their own (see {@link #clock}). */
    private java.util.function.LongSupplier clock = System::nanoTime;
    private Executor executor;
    private ModelManager manager;

    private Builder(Path model, String modelSha256) {
      this.model = model;
      this.modelSha256 = modelSha256;
    }

    /** The name in messages and thread names; the file name by default. */
    public Builder id(String id) {
      Objects.requireNonNull(id, "id must not be null");
      if (id.isBlank()) {
        throw new IllegalArgumentException("id must not be blank, was '" + id + "'");
      }
      this.id = id;
      return this;
    }

    /**
     * Where the model and its cache live; {@link Device#auto()} by default. With a
     * {@link #manager}, the preference the manager places by, as a spec's device.
     */
    public Builder device(Device device) {
      Objects.requireNonNull(device, "device must not be null");
      this.device = device;
      return this;
    }

    public Builder precision(Precision precision) {
      Objects.requireNonNull(precision, "precision must not be null");
      this.precision = precision;
      return this;
    }

    /**
     * The encoder of an encoder-decoder export ({@code make_whisper.py}'s {@code encoder.pt}),
     * loaded beside the decoder on its device in its precision; required when the decoder has
     * cross-attention, refused at build when it has none.
     */
    public Builder encoder(Path encoder) {
      Objects.requireNonNull(encoder, "encoder path must not be null");
      this.encoder = encoder;
      this.encoderSha256 = null;
      return this;
    }

    /**
     * As {@link #encoder(Path)}, a local file whose bytes every load checks against its digest
     * when it has one (see {@link TokenGenerator#builder(Artifact)}).
     *
     * @throws NullPointerException if {@code encoder} is null
     * @throws IllegalArgumentException if {@code encoder} is not a local file
     */
    public Builder encoder(Artifact encoder) {
      Objects.requireNonNull(encoder, "encoder must not be null");
      this.encoder = localPath(encoder, "encoder");
      this.encoderSha256 = encoder.sha256().orElse(null);
      return this;
    }

    /**
     * Whether a request's encoder input is a 30 s window of 16 kHz mono PCM (480,000 floats,
     * zero-padded: {@link #encoderInputShape()} {@code [480000]}) rather than its log-mel
     * features; the features are then computed on the model's device, in float32, as
     * transformers' {@code WhisperFeatureExtractor} computes them with torch (80 or 128 bins,
     * from the model), for all the windows of an admission at once, and never cross to the
     * host. Off by default. Needs an {@link #encoder} whose input is Whisper's 3000 frames.
     */
    public Builder whisperPcm(boolean on) {
      this.whisperPcm = on;
      return this;
    }

    /** Sequences generated at once: the cache holds one slot each. 8 by default. */
    public Builder maxSequences(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("maxSequences must be at least 1, was " + n);
      }
      this.maxSequences = n;
      return this;
    }

    /** Positions per sequence (prompt plus new tokens); the model's maximum by default. */
    public Builder maxLength(int n) {
      if (n < 2) {
        throw new IllegalArgumentException("maxLength must be at least 2, was " + n);
      }
      this.maxLength = n;
      return this;
    }

    /** Requests that may wait for a slot; beyond, QueueFullException. 256 by default. */
    public Builder maxQueued(int n) {
      if (n < 0) {
        throw new IllegalArgumentException("maxQueued must be at least 0, was " + n);
      }
      this.maxQueued = n;
      return this;
    }

    /**
     * Whether decode steps on a CUDA device replay CUDA graphs, one per batch bucket (on by
     * default; recorded when the generator is built). Off runs every step eagerly. No effect on
     * the CPU.
     */
    public Builder cudaGraphs(boolean on) {
      this.cudaGraphs = on;
      return this;
    }

    /**
     * For tests of this package: the engine's clock (read by submitting threads and by the
     * engine's scheduler at every step), {@code System::nanoTime} by default. A clock that
     * blocks the scheduler holds a request inside the engine.
     */
    Builder clock(java.util.function.LongSupplier clock) {
      this.clock = Objects.requireNonNull(clock, "clock must not be null");
      return this;
    }

    /**
     * Books the generator with {@code manager}: placed, counted and evicted when idle as its
     * models are (see the class notes). Without it, nothing is booked. If the manager has an
     * application {@link java.util.concurrent.ThreadFactory} ({@code ModelManager.Builder
     * .threadFactory} or its runtime's), the generator's threads come from it: its scheduler,
     * the default callback pool, and the thread a delivery falls back to when the callback
     * executor refuses it; without a manager they are NOS's daemon threads.
     */
    public Builder manager(ModelManager manager) {
      Objects.requireNonNull(manager, "manager must not be null");
      this.manager = manager;
      return this;
    }

    /**
     * Runs token consumers and completes futures; a cached daemon pool by default (of the
     * manager's application thread factory's threads, if it has one). One that runs tasks on
     * the submitting thread ({@code Runnable::run}) runs consumers on the generator's scheduler,
     * holding up every sequence while they run; with a {@link #manager}, a request's copy then
     * goes back to the manager just after its future completes instead of before.
     */
    public Builder executor(Executor executor) {
      Objects.requireNonNull(executor, "executor must not be null");
      this.executor = executor;
      return this;
    }

    /**
     * Loads the model and allocates its cache (with a manager, on the device it places them).
     *
     * @throws ai.nos.ModelLoadException if the file is not an exported decoder, the decoder
     *     has cross-attention and no {@link #encoder} was given (or the other way round), the
     *     encoder's output does not fit the decoder, or {@link #whisperPcm} is on and the
     *     encoder's input is not 3000 frames
     * @throws IllegalArgumentException if maxLength exceeds the model's positions
     * @throws IllegalStateException if {@link #whisperPcm} is on without an {@link #encoder}
     * @throws IllegalStateException with a manager: if it is closed, or has a model or
     *     generator of this id, or its application thread factory gives no thread for the
     *     generator's scheduler (returns null or throws: the cause)
     * @throws ai.nos.NosException with a manager: if no room can be made for the generator
     */
    public TokenGenerator build() {
      String name = id != null ? id : String.valueOf(model.getFileName());
      if (whisperPcm && encoder == null) {
        throw new IllegalStateException("whisperPcm(true) needs an encoder: give it with"
            + " encoder(path)");
      }
      if (manager != null) {
        return buildBooked(name);
      }
      DecoderModel decoder = DecoderModel.load(name, model, modelSha256, device, precision);
      ExecutorService owned = null;
      EncoderModel enc = null;
      try {
        enc = loadEncoder(name, model, encoder, encoderSha256, whisperPcm, decoder);
        int length = maxLength > 0 ? maxLength : decoder.maxPositions();
        if (length > decoder.maxPositions()) {
          throw new IllegalArgumentException("maxLength " + length + " exceeds the "
              + decoder.maxPositions() + " positions model " + model + " was exported for");
        }
        Executor callbacks = executor;
        if (callbacks == null) {
          owned = Executors.newCachedThreadPool(daemons("nos-generate-" + name + "-callback-"));
          callbacks = owned;
        }
        long weights = decoder.parameterBytes() + (enc == null ? 0 : enc.parameterBytes());
        GenerationEngine engine = new GenerationEngine(name, decoder, enc, maxSequences, length,
            maxQueued, callbacks, clock, cudaGraphs);
        return new TokenGenerator(name, engine, null, Shape.of(engine, weights), owned);
      } catch (RuntimeException | Error e) {
        decoder.close();
        if (enc != null) {
          enc.close();
        }
        if (owned != null) {
          owned.shutdown();
        }
        throw e;
      }
    }

    private TokenGenerator buildBooked(String name) {
      ExecutorService owned = null;
      Executor callbacks = executor;
      if (callbacks == null) {
        ThreadFactory app = ManagerAccess.door().core(manager).applicationThreads();
        owned = Executors.newCachedThreadPool(app != null ? app
            : daemons("nos-generate-" + name + "-callback-"));
        callbacks = owned;
      }
      try {
        BookedEngine b = BookedEngine.open(manager, name, new BookedEngine.Files(model,
            modelSha256, encoder, encoderSha256), whisperPcm, device, precision, maxSequences,
            maxLength, maxQueued, callbacks, cudaGraphs, clock);
        return new TokenGenerator(name, null, b, b.shape(), owned);
      } catch (RuntimeException | Error e) {
        if (owned != null) {
          owned.shutdown();
        }
        throw e;
      }
    }

    /**
     * The encoder in {@code file} for {@code decoder} (taking PCM input if {@code pcm}), or null
     * for a decoder-only one; a mismatch (cross-attention without an encoder, or an encoder
     * without it) fails the load.
     */
    static EncoderModel loadEncoder(String name, Path model, Path file, String sha256,
        boolean pcm, DecoderModel decoder) {
      if (file == null) {
        if (decoder.crossAttention()) {
          throw new ModelLoadException("generator '" + name + "': " + model + " attends to an"
              + " encoder's output (it has cross_kv); give its encoder with"
              + " TokenGenerator.Builder.encoder(path)");
        }
        return null;
      }
      return EncoderModel.load(name, file, sha256, decoder, pcm);
    }

    private static ThreadFactory daemons(String prefix) {
      AtomicInteger n = new AtomicInteger();
      return r -> {
        Thread t = new Thread(r, prefix + n.incrementAndGet());
        t.setDaemon(true);
        return t;
      };
    }
  }
}
