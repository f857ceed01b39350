package ai.nos.generate;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.QueueFullException;
import ai.nos.internal.generate.DecoderModel;
import ai.nos.internal.generate.GenerationEngine;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
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
 * <p>Thread-safe: any thread may submit; one scheduler thread per generator runs the model.
 * Token consumers and futures' dependent actions run on the callback executor (a cached pool of
 * daemon threads by default, or the builder's), never on the scheduler. {@link #close()} fails
 * what is queued or running with {@link IllegalStateException} and frees the cache and model.
 */
public final class TokenGenerator implements AutoCloseable {
  private final GenerationEngine engine;
  private final ExecutorService ownedCallbacks;
  private final AtomicBoolean closed = new AtomicBoolean();

  private TokenGenerator(GenerationEngine engine, ExecutorService ownedCallbacks) {
    this.engine = engine;
    this.ownedCallbacks = ownedCallbacks;
  }

  /** A builder for the exported decoder in {@code model}. */
  public static Builder builder(Path model) {
    Objects.requireNonNull(model, "model path must not be null");
    return new Builder(model);
  }

  /**
   * Generates from {@code prompt}; completes when the generation ends (its finish reason says
   * why), exceptionally with {@link ai.nos.DeadlineExceededException} past the config's timeout,
   * with {@link ai.nos.InferenceException} if a step fails, or with
   * {@link IllegalStateException} if the generator closes first. Cancelling the future stops the
   * generation and frees its cache slot before the next step.
   *
   * @throws IllegalArgumentException if the prompt is empty, holds an id outside the
   *     vocabulary, or is longer than {@link #maxLength()}
   * @throws QueueFullException if {@code maxQueued} requests already wait for a slot
   * @throws IllegalStateException if closed
   */
  public CompletableFuture<GeneratedTokens> generate(int[] prompt, GenerationConfig config) {
    return engine.submit(prompt, config, null);
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
    return engine.submit(prompt, config, onToken);
  }

  /** The model's own end-of-sequence id. */
  public int eosTokenId() {
    return engine.model().eosTokenId();
  }

  public int vocabSize() {
    return engine.model().vocabSize();
  }

  /** Positions per sequence: prompt plus generated tokens. */
  public int maxLength() {
    return engine.length();
  }

  /** Sequences generated at once. */
  public int maxSequences() {
    return engine.slots();
  }

  /** Sequences generating now. */
  public int activeSequences() {
    return engine.active();
  }

  /** Requests waiting for a free sequence slot. */
  public int queuedRequests() {
    return engine.queued();
  }

  /**
   * Device bytes the key/value cache holds for all sequences, allocated at build; with CUDA
   * graphs one slot more than {@link #maxSequences()}, where padding rows of a step write.
   */
  public long cacheBytes() {
    return engine.cacheBytes();
  }

  /**
   * The batch sizes whose decode steps replay CUDA graphs (a step of fewer sequences is padded
   * to the next); empty on the CPU, with {@link Builder#cudaGraphs} off, or where the model could
   * not be captured (logged when built).
   */
  public int[] cudaGraphBatchSizes() {
    return engine.decodeGraphSizes();
  }

  /** Device bytes of one sequence's cache slot. */
  public long cacheBytesPerSequence() {
    return engine.cacheBytesPerSequence();
  }

  /** Idempotent; see the class notes. */
  @Override
  public void close() {
    if (!closed.getAndSet(true)) {
      engine.close();
      if (ownedCallbacks != null) {
        ownedCallbacks.shutdown();
      }
    }
  }

  /** Settings of a {@link TokenGenerator}; validated as set. Not thread-safe. */
  public static final class Builder {
    private final Path model;
    private String id;
    private Device device = Device.auto();
    private Precision precision = Precision.FP32;
    private int maxSequences = 8;
    private int maxLength = -1;
    private int maxQueued = 256;
    private boolean cudaGraphs = true;
    private Executor executor;

    private Builder(Path model) {
      this.model = model;
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

    /** Where the model and its cache live; {@link Device#auto()} by default. */
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

    /** Runs token consumers and completes futures; a cached daemon pool by default. */
    public Builder executor(Executor executor) {
      Objects.requireNonNull(executor, "executor must not be null");
      this.executor = executor;
      return this;
    }

    /**
     * Loads the model and allocates its cache.
     *
     * @throws ai.nos.ModelLoadException if the file is not an exported decoder
     * @throws IllegalArgumentException if maxLength exceeds the model's positions
     */
    public TokenGenerator build() {
      String name = id != null ? id : String.valueOf(model.getFileName());
      DecoderModel decoder = DecoderModel.load(name, model, device, precision);
      ExecutorService owned = null;
      try {
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
        return new TokenGenerator(new GenerationEngine(name, decoder, maxSequences, length,
            maxQueued, callbacks, System::nanoTime, cudaGraphs), owned);
      } catch (RuntimeException | Error e) {
        decoder.close();
        if (owned != null) {
          owned.shutdown();
        }
        throw e;
      }
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
