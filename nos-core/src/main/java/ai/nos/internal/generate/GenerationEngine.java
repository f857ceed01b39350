package ai.nos.internal.generate;

import ai.nos.DeadlineExceededException;
import ai.nos.InferenceException;
import ai.nos.QueueFullException;
import ai.nos.generate.FinishReason;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.GenerationStats;
import ai.nos.internal.torch.StepGraphs;
import ai.nos.internal.torch.TorchRuntime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import java.util.function.LongSupplier;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * Generation for many sequences at once on one decoder: continuous batching over a slot cache.
 *
 * State on the device
 * The key/value cache (KvCache) is allocated once, [layers, slots, length, kvHeads, headDim],
 * on the model's device; a sequence holds a slot from prefill to its last token (not always
 * the same one: see Compact slots). The model writes each step's keys and values into the slots
 * in place, and reads them there: per step the host sends the batch's last tokens, positions,
 * slots and sampling settings (a few longs per row) and receives the chosen ids ([B] int64).
 * The logits never leave the device (Sampler).
 *
 * Steps
 * A prefill runs the whole prompts of one or more newly admitted sequences ([k, T], T the longest
 * prompt) and draws each one's first token; a decode step runs every active sequence's last token
 * ([B, 1]) and draws one token for each. Prefills run between decode steps. Admission takes
 * waiting requests in order while slots are free and the padded prefill stays within
 * PREFILL_TOKENS (k x T; a prompt longer than that goes alone): with none active, that is
 * repeated until the slots or the queue run out; with sequences active, one prefill is admitted
 * per decode step, so running sequences wait for at most one bounded prefill per token.
 *
 * A prefill of prompts of different lengths pads the shorter ones without a mask: a prompt of
 * L tokens in a prefill of T gets T - L padding tokens (id 0) placed BEFORE its own tokens in the
 * step's rows, at positions L .. T-1. Positions, not row order, decide where keys and values go
 * in the cache and what each query sees (keys at positions <= its own), so the prompt's tokens
 * never see the padding; the model returns the logits of each row's last element, the prompt's
 * last token; and what the padding wrote at positions L .. T-1 of the slot is rewritten by the
 * decode steps at those positions before any query reads it (a step writes its own position,
 * then attends).

 * Continuous batching
 * The batch is rebuilt for every decode step from the active list: a request that was admitted
 * joins at the next step, a sequence that finished (EOS id, max new tokens, a full slot), failed,
 * was cancelled (its future cancelled or otherwise settled by the caller) or passed its deadline
 * leaves before the next step, and its slot is free for the next admission at once. A long
 * generation therefore never holds up a short one beyond sharing the step.
 *
 * Compact slots
 * Invariant, between steps: the n active sequences hold slots 0..n-1, and row i of a decode step
 * is slot i (the active list is kept in slot order; decode() refuses a step that breaks it, as a
 * bug). Why: a decode step that reads the first B slots of the caches as views ("cache[:, :B]")
 * instead of gathering each row's slot (index_select) took 0.58 ms against 1.00 ms for
 * Whisper's 64-row step on an H200 (docs/speech.md, "64 windows"); such an export is the
 * other half, and the gathering exports in use now stay correct, since slots 0..n-1 are slots
 * like any others. How: admission takes the lowest free slots (KvCache.acquire), which are n,
 * n+1, ... of a compact cache, so a batched prefill's sequences join in slot order at the end of
 * the list. Whenever sequences leave (compact() runs after dropSettled and after every prefill
 * and decode step: every path that frees a slot, a failed prefill's included, ends at one of
 * them), the active sequences in slots at or above the new n move into the freed slots below
 * it, the highest into the lowest: the KvCache's keys, values and seen rows and the CrossCache's
 * rows are copied on the device in one gather and one index_copy_ per tensor for all of that
 * compaction's moves (KvCache.move, which bounds the gather's transient copy; the slot pairs go
 * over in one [2, m] transfer), and each
 * Sequence's slot is updated. Nothing else lives per slot: the sampler's settings, suppression
 * lists and timestamp bounds are rebuilt per step from each Sequence, and its draws are keyed by
 * the request's seed and draw index, never by slot or row (Reproducible sampling), so a move
 * changes no token. A failed move fails every active sequence (their rows may be half moved) and
 * frees every slot. Concurrency: all of it on the scheduler thread between steps, on its stream,
 * so a move is ordered after the step that freed the slot and before the next one (graph
 * replays run on the calling thread's stream too). A test sees the slots after every compaction
 * through a probe (SlotProbe).
 *
 * Concurrency
 * One scheduler thread (nos-generate-<id>, or the application's: "Whose threads") owns the
 * model, the cache, the sampler and every Sequence; nothing else touches them, so none of them
 * locks. Callers reach it through the
 * bounded waiting queue and through their futures, which the scheduler polls between steps.
 * Every request passes through the queue, even one that finds a slot free, so maxQueued bounds
 * the requests beyond the free slots: submit refuses (QueueFullException, naming the counts)
 * when the queue holds maxQueued more than the free slots the scheduler last published
 * (prefill publishes them as it takes slots, before any token of theirs goes out; a slot
 * freed is published before its caller hears the outcome, so a caller woken by it may submit
 * again at once; compact() after every path that takes or frees one); the queue's
 * capacity, maxQueued + slots, is the hard bound. (Refusing at maxQueued queued requests, as it
 * did, refused every request with maxQueued 0 and a burst on free slots beyond maxQueued.) The
 * published count lags an admission in progress by at most its batch, which can only let that
 * many more requests wait, within the capacity. Tokens and results go back through
 * Delivery on the callback executor: no user code runs on the scheduler thread. close() sets a
 * flag and interrupts the scheduler, which fails what is queued and active ("closed"), frees the
 * natives itself (so they are never freed under a step) and exits; close() waits for that up to
 * its timeout. A submit racing close either is failed by the scheduler's final drain or sees the
 * flag and takes its request back out of the queue itself: never both, never neither. The
 * counters and times of GenerationStats are the scheduler's own, published after each step as
 * one immutable snapshot (a volatile field), so a reader sees a consistent set; the encoding of
 * an admission is waited for before its prefill step (a [k] copy to the host) so that the
 * encoder's device time is counted as encoding, at the cost of the prefill's launches no longer
 * overlapping the encoder's tail (once per admission, not per step).
 *
 * Whose threads
 * With an application ThreadFactory (a generator booked with a ModelManager given one:
 * BookedEngine passes the manager's), the scheduler and Delivery's fallback thread come from it,
 * as every other thread of that manager does, taken as the factory makes them (name, daemon
 * flag); without one (a standalone generator) they are NOS's daemon threads, the scheduler named
 * nos-generate-<id>. The scheduler is asked of the factory first, before anything is allocated:
 * a factory that gives no thread (null, or an exception) fails the construction with an
 * IllegalStateException that says so, with nothing to free, rather than an engine that never
 * steps. (Delivery's fallback, when the factory gives none, is a NOS daemon thread: see there.)
 *
 * Reproducible sampling
 * A request's draws depend on its seed and the draw's index only (see Sampler), so a sampled
 * request gives the same tokens alone or in any batch, in any row and any slot. Greedy requests
 * are exact argmaxes; their tokens can still differ between batch sizes where a batched kernel
 * sums in another order (a GPU-phase parity check measures that against transformers).
 *
 * Native memory
 * Every step runs in a PointerScope: the step's inputs, the model's outputs and the sampler's
 * temporaries are freed when it ends (an admission's encoder input and output too). Only the
 * caches (and cross caches), the seen rows, the sampler's vocabulary index and the modules live
 * across steps; they are freed when the scheduler exits.
 *
 * Decode steps as CUDA graphs
 * On a CUDA device a decode step is a replay: at construction the step is recorded once per
 * batch bucket (1, 2, 4, ... up to the slots) with StepGraphs, whose static inputs are the
 * step's token ids, positions and slots; the cache tensors are the same at every step, so the
 * graphs read and write them in place. A step of b sequences is padded to the smallest bucket
 * holding b: padding rows name the cache's scratch slot (KvCache), position 0 and token 0, so
 * what they write lands where no sequence reads, and their logits are never looked at. (A
 * decode export reading "cache[:, :B]" cannot point a padding row anywhere: its padding rows
 * will be the free slots n..B-1, whose keys and values they overwrite harmlessly, as a stale
 * slot needs no clearing. Their seen rows are not marked, since only the first b rows are
 * sampled, and are reset at admission anyway: prefill calls KvCache.resetSeen for every admitted
 * sequence. Their cross rows are stale but finite.) The host's inputs of a step (ids,
 * positions, slots) go to the device in one transfer; the sampler runs after the replay on the
 * first b rows of the logits, on the same stream, inside the graphs' lock (the static logits
 * are rewritten by the next replay). Prefills stay eager: their
 * lengths vary. If the recording fails (a model that cannot be captured), the engine logs why
 * and runs every step eagerly.
 *
 * Pipelined decode steps
 * A step's host work (packing its inputs, the sampler's launches, reading its ids, handing them
 * to the sequences) used to run while the device idled, since each step ended by waiting for its
 * ids: about 0.3 ms a token at one sequence of the 271 M Llama, against 0.97 ms of captured
 * step, and 0.4 ms a step of Whisper's 64 rows (H200, seventeenth session). So on CUDA, while
 * the rows stay the same, decode() launches step n+1 before it reads step n: step n+1's token
 * ids are step n's draws, copied on the device into its input; its positions and draw indexes
 * are one further, which the host knows. What a step uploads goes through pinned memory
 * asynchronously (Sampler's uploads are TorchTensors.staged: a pageable copy would wait for the
 * stream, that is for step n), and its ids come back into pinned memory behind an event, so
 * reading step n waits for step n only. Everything stays on the scheduler thread's one stream,
 * in launch order.
 * Step n+1 is launched only when every row surely goes on past step n unless its token ends it
 * (mayLookAhead): nothing waits for admission, no row is settled or past its deadline, each
 * may draw another token and has another position in its slot (so step n+1 never writes past
 * a slot), and no row has Whisper's timestamp rules (their bounds are computed on the host from
 * the ids). A row that ends with step n's token (an EOS id, a stop string) has had step n+1 run
 * for nothing: its token is dropped, and what it wrote lands in its slot's next position, which
 * a later prefill of that slot rewrites (ordered after it on the stream), or a compaction moves
 * with the rest. Then the run stops: step n+1 is read and the loop admits, drops and compacts
 * as before. The tokens are those of unpipelined steps (every input of step n+1 is the same;
 * PipelinedDecodeTest checks it on the CPU, where pipelining is off by default because a step
 * is done when launched). nos.generate.pipeline=false turns it off.
 *
 * Encoder-decoder models (Whisper)
 * With an EncoderModel the decoder also attends to an encoder's output. A request then carries
 * its encoder input (a 30 s window's log-mel features, host floats; or, with the encoder's PCM
 * input, the window's 480,000 samples, whose features the encoder computes on the device for the
 * whole admission at once, see EncoderModel); at admission the prefill first runs the encoder
 * once on the admitted requests' inputs together ([k, mels, frames] or [k, 480000], one
 * transfer), and the decoder's cross_kv writes each layer's cross-attention keys and values of
 * that output into the requests' rows of the CrossCache, indexed by the same slots as the
 * KvCache. The encoder output is freed with the prefill's scope; from then on every prefill and
 * decode step passes the cross caches as the model's two extra arguments, and the step reads
 * only its rows' slots. So a window's audio enters with its request, and requests of different
 * recordings share decode steps as text requests do. An admission runs at most ENCODER_BATCH
 * encoder inputs, which bounds what running sequences wait for (the encoder is the expensive
 * part of an admission, not the 4-token prompts); an idle engine (nothing running) admits
 * chunk after chunk until the queue or the free slots run out before its first decode step, so
 * many windows submitted at once (64 concurrent clips) decode together from the start. On CUDA
 * an admission's encoder batch is padded with zero windows to the next of bucketSizes(min(16,
 * slots)) (1, 2, 4, 8, 16 with 16 slots or more; silence for PCM input, and whatever the padding
 * is, its encoder output is dropped before cross_kv, which runs at the admitted count), and the
 * scheduler runs the encoder path once at each of those sizes before the engine is ready: the
 * first call of a shape pays cuFFT's plan, cuBLAS's and cuDNN's choices and the allocator's new
 * blocks (26-77 ms on the H200 against 3.5-25 ms warm, WhisperAdmitProbe, eighteenth session),
 * and admissions of any size from 1 to 16 met new shapes round after round. The encoder path
 * is not waited for: the prefill's decoder step (several ms of eager launches for 16 windows) is
 * queued behind it while the device encodes, and GenerationStats' encoding time comes from two
 * CUDA events around it (EncodeTimer), read once the prefill's ids are on the host. (cross_kv,
 * a few GEMMs, still meets a new count the first time; the warm-up's transient device memory is
 * allocated while the engine loads, which a load measured beside it on the same device would
 * see.) The CUDA graphs of decode steps capture the
 * cross caches as they capture the KvCache: fixed tensors, read in place; the scratch slot has a
 * cross row too (zeros), so a padding row attends to something finite.
 *
 * TorchScript's optimizing executor
 * The profiling executor specializes and fuses a module per input shape it sees: each new decode
 * bucket and each new prompt length costs a profiling run and a compilation of its fused kernels
 * (NNC) before it runs fast. Whether the engine lets it (fewer, fused kernels per step, at that
 * compile cost during the first steps of each shape) is the thread-local graph-executor switch,
 * set on the engine's own threads only (its scheduler, and the recording thread while the decode
 * step is captured, restored after): `nos.generate.jitOptimize`, false by default. Measured on an
 * H200 with the 271 M Llama (benchmarks/README.md, #17): with optimization the recording of five
 * buckets took 11.9 s (the load 4.6 s) and eager decode steps stalled on compiles (13.2 ms per
 * step in the first generator, 7.6 ms in the next); without it eight buckets recorded in about
 * 2.5 s and replayed at 2.7 ms per step, and every step's time is the same from the first one.
 */
public final class GenerationEngine implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(GenerationEngine.class);
  static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);
  /** A request's timeout from which on it has none (about 292 years). */
  private static final Duration LONGEST_TIMEOUT = Duration.ofNanos(Long.MAX_VALUE);
  /** Token budget of one prefill: admitted prompts x the longest of them (see the essay). */
  static final int PREFILL_TOKENS = 4096;
  /** Encoder inputs (30 s windows) one admission runs at most (see the essay). */
  static final int ENCODER_BATCH = 16;
  /** Whether decode steps are pipelined on CUDA (see the essay); true unless set false. */
  static final boolean PIPELINE = Boolean.parseBoolean(
      System.getProperty("nos.generate.pipeline", "true"));
  /**
   * Whether TorchScript's executor optimizes (profiles, fuses with NNC) while the decode steps
   * are recorded as CUDA graphs, and only then: the captured graphs replay the fused kernels
   * while the scheduler runs unoptimized (prefills never stall on compiles). Off unless
   * {@code nos.generate.recordOptimize=true}: an experiment for #17 (profile_step.py's `b`: 17%
   * less device time a step, 401 kernels against 508, on the gathering step; not yet measured
   * through NOS).
   */
  static final boolean RECORD_OPTIMIZE = Boolean.parseBoolean(
      System.getProperty("nos.generate.recordOptimize", "false"));
  /** Extra runs per warm-up of a bucket when {@link #RECORD_OPTIMIZE} (3 warm-ups: 12 runs). */
  static final int RECORD_OPTIMIZE_RUNS = 3;
  /** Whether TorchScript's executor optimizes (profiles, fuses) on the engine's threads. */
  static final boolean JIT_OPTIMIZE = Boolean.parseBoolean(
      System.getProperty("nos.generate.jitOptimize", "false"));

  private final String id;
  private final DecoderModel model;
  private final KvCache cache;
  /** The encoder of an encoder-decoder model, and its cross caches; both null otherwise. */
  private final EncoderModel encoder;
  private final CrossCache cross;
  private final Sampler sampler;
  /** Decode steps as CUDA graphs per bucket; null on the CPU, when off, or if not capturable. */
  private final StepGraphs graphs;
  /** The batch sizes decode steps are padded to (the graphs'), ascending; null: no padding. */
  private final int[] buckets;
  private final int maxQueued;
  private final int prefillTokens;
  private final ArrayBlockingQueue<Sequence> waiting;
  private final Executor callbacks;
  /** The application's threads, or null for NOS's daemons (see "Whose threads"). */
  private final ThreadFactory threads;
  private final LongSupplier clock;
  private final Thread scheduler;
  /** The bytes the scheduler's library state left on the device (0 on the CPU); see start(). */
  private final java.util.concurrent.CompletableFuture<Long> threadState =
      new java.util.concurrent.CompletableFuture<>();
  private final List<Sequence> active = new ArrayList<>();
  private volatile boolean closed;
  private volatile int activeCount;
  /** The cache's free slots, published by the scheduler in compact() (see the essay). */
  private volatile int freeSlots;
  /** Held by submit from its admission check to its offer, so concurrent submits count right. */
  private final Object admission = new Object();
  private volatile long steps;
  /** Decode steps that ran padding rows (for tests). */
  private volatile long paddedSteps;
  /**
   * Whether decode steps are pipelined (see the essay): on CUDA unless
   * {@code nos.generate.pipeline=false}; off on the CPU, where a step is done when launched (a
   * test turns it on there with {@link #pipelined(boolean)}).
   */
  private volatile boolean pipelined;
  /**
   * The sizes an admission's encoder batch is padded to (see the essay), or null: not an
   * encoder-decoder engine, or on the CPU (no per-shape cost to avoid) unless a test pads.
   */
  private final int[] encoderBuckets;
  /**
   * One encoder input of zeros, the padding of an admission (silence for PCM input); made on
   * first use, scheduler thread only.
   */
  private float[] silence;
  /**
   * The device time of an admission's encoder path on CUDA (two timing events; made by the
   * scheduler at its first admission, freed by stop()); null on the CPU and before then.
   */
  private EncodeTimer encodeTimer;
  /** The encoder batch sizes warmEncoder ran (for tests); written before the engine is ready. */
  private volatile int[] warmedEncoderSizes = new int[0];
  /** For tests: see {@link #afterPeekForTest}; null otherwise. */
  private volatile Consumer<Sequence> afterPeek;
  /** Decode steps launched before the previous step's ids were read (for tests). */
  private volatile long lookaheadSteps;
  /** When the last decode step was read (scheduler thread only; GenerationStats' times). */
  private long lastDecodeEnded;
  /** Decode steps that served more than one sequence. */
  private volatile long sharedSteps;
  /** Counts and times of the steps so far (see GenerationStats), replaced after each step. */
  private volatile GenerationStats stats = GenerationStats.NONE;
  /** The batch being prefilled (scheduler thread only; see admit). */
  private List<Sequence> admitting = List.of();
  /** Sequences moved into lower slots so far (see the essay's "Compact slots"; for tests). */
  private volatile long movedSequences;
  /** For tests: called after every compaction, on the scheduler thread; null for none. */
  private volatile SlotProbe probe;

  /**
   * A test's look at the slots after every compaction (see the essay), on the scheduler thread
   * between steps, so the caches may be read (in the probe's own PointerScope) and nothing else
   * runs meanwhile. {@code active} is in row order, unmodifiable; {@code cross} is null for a
   * decoder-only model. A probe must not throw: an exception stops the scheduler as a bug would.
   */
  interface SlotProbe {
    void compacted(List<Sequence> active, KvCache cache, CrossCache cross);
  }

  /**
   * Takes ownership of {@code model} (closed when the engine stops) and starts the scheduler.
   *
   * @param slots sequences generated at once (cache slots)
   * @param length positions per slot: prompt plus generated tokens, at most the model's
   * @param maxQueued requests that may wait for a slot before submit refuses more
   * @param callbacks runs stream consumers and completes futures
   * @param clock nanoseconds, for deadlines ({@code System::nanoTime} in production)
   */
  public GenerationEngine(String id, DecoderModel model, int slots, int length, int maxQueued,
      Executor callbacks, LongSupplier clock) {
    this(id, model, slots, length, maxQueued, callbacks, clock, true);
  }

  /**
   * As above; {@code decodeGraphs} false runs decode steps eagerly on CUDA too (graphs are only
   * ever used on CUDA).
   */
  public GenerationEngine(String id, DecoderModel model, int slots, int length, int maxQueued,
      Executor callbacks, LongSupplier clock, boolean decodeGraphs) {
    this(id, model, null, slots, length, maxQueued, callbacks, clock, decodeGraphs,
        PREFILL_TOKENS, true, false, null);
  }

  /**
   * An engine for an encoder-decoder model: takes ownership of {@code model} and {@code encoder}
   * (see the essay; null {@code encoder} is the decoder-only engine above).
   *
   * @throws IllegalArgumentException if the decoder has cross-attention and no encoder is
   *     given, or the other way round
   */
  public GenerationEngine(String id, DecoderModel model, EncoderModel encoder, int slots,
      int length, int maxQueued, Executor callbacks, LongSupplier clock, boolean decodeGraphs) {
    this(id, model, encoder, slots, length, maxQueued, callbacks, clock, decodeGraphs, null);
  }

  /**
   * As above, with the scheduler and Delivery's fallback thread from {@code threads} (null: NOS's
   * daemon threads; see the essay, "Whose threads").
   *
   * @throws IllegalStateException if {@code threads} gives no thread for the scheduler (returns
   *     null or throws; its exception is the cause)
   */
  public GenerationEngine(String id, DecoderModel model, EncoderModel encoder, int slots,
      int length, int maxQueued, Executor callbacks, LongSupplier clock, boolean decodeGraphs,
      ThreadFactory threads) {
    this(id, model, encoder, slots, length, maxQueued, callbacks, clock, decodeGraphs,
        PREFILL_TOKENS, true, false, threads);
  }

  /**
   * For tests: {@code prefillTokens} bounds a prefill (see the essay); with {@code start} false
   * the scheduler waits for {@link #start()}, so a test can queue requests first; with
   * {@code padEagerly} decode steps without graphs are padded to the buckets as graphed ones
   * are, and an encoder's admissions to its buckets after a warm-up, as on CUDA (the CPU can
   * then check the padding rows' isolation).
   */
  GenerationEngine(String id, DecoderModel model, int slots, int length, int maxQueued,
      Executor callbacks, LongSupplier clock, boolean decodeGraphs, int prefillTokens,
      boolean start, boolean padEagerly) {
    this(id, model, null, slots, length, maxQueued, callbacks, clock, decodeGraphs,
        prefillTokens, start, padEagerly, null);
  }

  GenerationEngine(String id, DecoderModel model, EncoderModel encoder, int slots, int length,
      int maxQueued, Executor callbacks, LongSupplier clock, boolean decodeGraphs,
      int prefillTokens, boolean start, boolean padEagerly) {
    this(id, model, encoder, slots, length, maxQueued, callbacks, clock, decodeGraphs,
        prefillTokens, start, padEagerly, null);
  }

  GenerationEngine(String id, DecoderModel model, EncoderModel encoder, int slots, int length,
      int maxQueued, Executor callbacks, LongSupplier clock, boolean decodeGraphs,
      int prefillTokens, boolean start, boolean padEagerly, ThreadFactory threads) {
    if (model.crossAttention() != (encoder != null)) {
      throw new IllegalArgumentException("generator '" + id + "': "
          + (encoder == null ? "the decoder attends to an encoder's output (it has cross_kv)"
              + " but no encoder was given" : "an encoder was given but the decoder has no"
              + " cross-attention"));
    }
    if (slots < 1 || length < 2 || length > model.maxPositions() || maxQueued < 0) {
      throw new IllegalArgumentException("generator '" + id + "': slots must be at least 1 (was "
          + slots + "), length in [2, " + model.maxPositions() + "] (was " + length
          + "), maxQueued at least 0 (was " + maxQueued + ")");
    }
    this.id = id;
    this.threads = threads;
    // First, before anything is allocated: a factory that gives no thread fails the engine here.
    this.scheduler = schedulerThread(id, threads, this::run);
    this.model = model;
    boolean graphed = decodeGraphs && model.device().isCuda();
    this.cache = new KvCache(model, slots, length, graphed || padEagerly);
    this.encoder = encoder;
    this.cross = encoder == null ? null : new CrossCache(model, cache.rows());
    this.sampler = new Sampler(model.vocabSize(), model.device());
    this.graphs = graphed ? recordDecode(id, model, cache, cross) : null;
    this.buckets = graphs != null ? graphs.sizes() : padEagerly ? bucketSizes(slots) : null;
    this.maxQueued = maxQueued;
    this.waiting = new ArrayBlockingQueue<>((int) Math.min(Integer.MAX_VALUE - 8,
        (long) maxQueued + slots));
    this.freeSlots = slots;
    this.callbacks = callbacks;
    this.clock = clock;
    this.prefillTokens = prefillTokens;
    this.pipelined = PIPELINE && model.device().isCuda();
    this.encoderBuckets = encoder != null && (model.device().isCuda() || padEagerly)
        ? bucketSizes(Math.min(ENCODER_BATCH, slots)) : null;
    if (start) {
      start();
    }
  }

  /**
   * Bytes the scheduler thread's library state left allocated on the device when it started (0
   * on the CPU, or when its cuBLAS handle and workspace were reused): not the generator's, they
   * stay after it closes (LibraryState's essay). Waits for the scheduler to have started.
   */
  public long threadStateBytes() {
    return threadState.join();
  }

  /**
   * Starts a scheduler made with {@code start} false. On CUDA, returns once the scheduler has
   * made its thread's library state, so a caller measuring the device afterwards sees it (and a
   * manager books it as the device's, not the generator's: LibraryState's essay).
   */
  void start() {
    scheduler.start();
    try {
      threadState.join();
    } catch (java.util.concurrent.CompletionException e) {
      close();
      throw new IllegalStateException("generator '" + id + "': its scheduler thread could not"
          + " start on " + model.device(), e.getCause());
    }
  }

  /** The scheduler: a thread of the application's factory, or a daemon nos-generate-<id>. */
  private static Thread schedulerThread(String id, ThreadFactory threads, Runnable loop) {
    if (threads == null) {
      Thread t = new Thread(loop, "nos-generate-" + id);
      t.setDaemon(true);
      return t;
    }
    Thread t;
    try {
      t = threads.newThread(loop);
    } catch (RuntimeException e) {
      throw new IllegalStateException("generator '" + id + "': the application's thread factory"
          + " failed to make its scheduler thread: " + e, e);
    }
    if (t == null) {
      throw new IllegalStateException("generator '" + id + "': the application's thread factory"
          + " returned no thread (null) for its scheduler");
    }
    return t;
  }

  /** Bucket sizes for {@code slots} sequences: powers of two below it, and {@code slots}. */
  static int[] bucketSizes(int slots) {
    List<Integer> sizes = new ArrayList<>();
    for (int s = 1; s < slots; s *= 2) {
      sizes.add(s);
    }
    sizes.add(slots);
    return sizes.stream().mapToInt(Integer::intValue).toArray();
  }

  /**
   * Records the decode step per bucket; null (and a warning) if it cannot be captured. Also the
   * benchmarks' DecodeSteps' recording, so that it times the step the engine replays.
   */
  static StepGraphs recordDecode(String id, DecoderModel model, KvCache cache,
      CrossCache cross) {
    int device = model.device().index().orElse(0);
    long scratch = cache.scratch();
    long started = System.nanoTime();
    // No PointerScope here: what the recording keeps (pool id, streams) must outlive this call;
    // GraphBuckets scopes its own temporaries.
    try (InferenceMode guard = new InferenceMode()) {
      StepGraphs recorded = StepGraphs.record(device, bucketSizes(cache.slots()),
          List.of(new long[] {1}, new long[] {1}, new long[0]),
          List.of(shape -> filled(model, shape, 0), shape -> filled(model, shape, 0),
              shape -> filled(model, shape, scratch)),
          in -> {
            // On the recording thread, shared with other models' captures: restored after.
            boolean before = torch.getGraphExecutorOptimize();
            boolean optimize = JIT_OPTIMIZE || RECORD_OPTIMIZE;
            torch.setGraphExecutorOptimize(optimize);
            try {
              if (RECORD_OPTIMIZE && torch_cuda.currentStreamCaptureStatusMayInitCtx() == 0) {
                // A warm-up run (not the capture): the profiling executor profiles, then
                // compiles its fused kernels, over the first runs of a shape; these extra runs
                // let it finish before the capture records the step.
                for (int i = 0; i < RECORD_OPTIMIZE_RUNS; i++) {
                  model.decodeStep(in.get(0), in.get(1), in.get(2), cache.keys(), cache.values(),
                      cross == null ? null : cross.keys(), cross == null ? null : cross.values());
                }
              }
              return List.of(model.decodeStep(in.get(0), in.get(1), in.get(2), cache.keys(),
                  cache.values(), cross == null ? null : cross.keys(),
                  cross == null ? null : cross.values()));
            } finally {
              torch.setGraphExecutorOptimize(before);
            }
          });
      LOG.info("generator '{}': decode steps recorded as CUDA graphs for batch sizes {} in {}"
          + " ms", id, java.util.Arrays.toString(recorded.sizes()),
          (System.nanoTime() - started) / 1_000_000);
      return recorded;
    } catch (RuntimeException e) {
      LOG.warn("generator '{}': decode steps run eagerly, they cannot be captured as CUDA"
          + " graphs: {}", id, DecoderModel.firstLine(e));
      return null;
    }
  }

  /** A long tensor of {@code shape} on the model's device, every element {@code value}. */
  private static Tensor filled(DecoderModel model, long[] shape, long value) {
    return torch.full(shape, new Scalar(value), new TensorOptions(torch.ScalarType.Long)
        .device(new org.bytedeco.pytorch.DeviceOptional(model.torchDevice())));
  }

  /** Device bytes the decode graphs hold beside the model and cache (0 without graphs). */
  public long graphBytes() {
    return graphs == null ? 0 : graphs.bytes();
  }

  /** The bucket sizes decode steps replay as CUDA graphs; empty when they run eagerly. */
  public int[] decodeGraphSizes() {
    return graphs == null ? new int[0] : graphs.sizes();
  }

  /**
   * Queues a request; its tokens go to {@code sink} (may be null) in order on the callback
   * executor, then the future completes. Cancelling the future stops the generation and frees
   * its slot before the next step.
   *
   * @throws IllegalArgumentException if the prompt is empty, holds an id outside the
   *     vocabulary, or does not fit a slot, or the config fails {@link #checkSuppressed}
   * @throws QueueFullException if {@code maxQueued} requests wait already beyond the free
   *     slots
   * @throws IllegalStateException if the engine is closed
   */
  public CompletableFuture<GeneratedTokens> submit(int[] prompt, GenerationConfig config,
      IntConsumer sink) {
    return submit(prompt, null, config, sink);
  }

  /**
   * As above, for an encoder-decoder model: {@code encoderInput} is the request's encoder input,
   * {@link EncoderModel#inputSize()} floats ([channels, frames] row-major, or one 30 s PCM
   * window), copied; null for a decoder-only model.
   *
   * @throws IllegalArgumentException also if {@code encoderInput} is missing, has the wrong
   *     length, holds a non-finite sample (PCM input), or is given to a decoder-only model
   */
  public CompletableFuture<GeneratedTokens> submit(int[] prompt, float[] encoderInput,
      GenerationConfig config, IntConsumer sink) {
    return submit(prompt, encoderInput, config, sink, null);
  }

  /**
   * As above; {@code settling} (nullable) runs where the request's tokens are delivered (the
   * callback executor, or Delivery's own thread if it refuses) right before the engine settles
   * the future, with null or the failure (not when the caller settles it: cancellation), so
   * what its owner books for the request is done when a waiter wakes.
   */
  public CompletableFuture<GeneratedTokens> submit(int[] prompt, float[] encoderInput,
      GenerationConfig config, IntConsumer sink, Consumer<Throwable> settling) {
    return submit(prompt, encoderInput, config, sink, settling, null);
  }

  /**
   * As above; {@code ending} (nullable) runs once the request's sequence has left the engine
   * (its result or failure handed to delivery), on the engine's scheduler thread (or the
   * closing one), before the consumer has seen the last tokens: it must be short and must not
   * wait for the engine (Delivery's class notes).
   */
  public CompletableFuture<GeneratedTokens> submit(int[] prompt, float[] encoderInput,
      GenerationConfig config, IntConsumer sink, Consumer<Throwable> settling,
      Runnable ending) {
    return submit(prompt, encoderInput, config, sink, settling, ending, clock.getAsLong());
  }

  /**
   * As above, for a request its caller submitted at {@code submittedNanos} on this engine's
   * clock: its deadline is counted from then, so what the caller spent before the engine saw
   * the request (a manager's reload of an evicted generator) is inside it, not added to it.
   */
  public CompletableFuture<GeneratedTokens> submit(int[] prompt, float[] encoderInput,
      GenerationConfig config, IntConsumer sink, Consumer<Throwable> settling,
      Runnable ending, long submittedNanos) {
    if (config == null) {
      throw new IllegalArgumentException("generator '" + id + "': config must not be null");
    }
    validate(prompt);
    checkSuppressed(id, config, model.vocabSize());
    validateEncoderInput(encoderInput);
    int[] eos = config.eosTokenIds().length > 0 ? config.eosTokenIds()
        : new int[] {model.eosTokenId()};
    long seed = config.seed().orElseGet(() -> ThreadLocalRandom.current().nextLong());
    long now = submittedNanos;
    // A timeout beyond a long's nanoseconds (ChronoUnit.FOREVER's, some say "no limit" so) is
    // none: toNanos() would throw.
    long deadline = config.timeout().filter(t -> t.compareTo(LONGEST_TIMEOUT) < 0)
        .map(t -> now + t.toNanos()).orElse(Long.MAX_VALUE);
    CompletableFuture<GeneratedTokens> future = new CompletableFuture<>();
    Sequence seq = new Sequence(prompt.clone(), config, eos, seed, now, deadline, future,
        new Delivery(callbacks, sink, future, settling, ending, threads));
    seq.encoderInput = encoderInput == null ? null : encoderInput.clone();
    if (closed) {
      throw closedException();
    }
    synchronized (admission) {
      int queued = waiting.size();
      int free = freeSlots;
      if (queued - free >= maxQueued || !waiting.offer(seq)) {
        throw new QueueFullException(id, Math.max(0, queued - free), maxQueued);
      }
    }
    if (closed && waiting.remove(seq)) {
      throw closedException();
    }
    return future;
  }

  private void validate(int[] prompt) {
    if (prompt == null || prompt.length == 0) {
      throw new IllegalArgumentException("generator '" + id + "': the prompt must hold at least"
          + " one token id, got " + (prompt == null ? "null" : "none"));
    }
    if (prompt.length > cache.length()) {
      throw new IllegalArgumentException("generator '" + id + "': a prompt of " + prompt.length
          + " tokens does not fit the cache length of " + cache.length() + " positions");
    }
    for (int i = 0; i < prompt.length; i++) {
      if (prompt[i] < 0 || prompt[i] >= model.vocabSize()) {
        throw new IllegalArgumentException("generator '" + id + "': prompt token " + i + " is "
            + prompt[i] + ", outside the vocabulary [0, " + model.vocabSize() + ")");
      }
    }
  }

  /**
   * Refuses a config whose suppressed or begin-suppressed ids fall outside a vocabulary of
   * {@code vocab}, or together leave no token to choose (every logit -inf: nothing to sample),
   * or whose timestamp rules' ids do (the others are below timestampBegin).
   */
  public static void checkSuppressed(String id, GenerationConfig config, int vocab) {
    java.util.BitSet all = new java.util.BitSet(vocab);
    String[] names = {"suppressTokens", "beginSuppressTokens"};
    int[][] lists = {config.suppressTokens(), config.beginSuppressTokens()};
    for (int l = 0; l < 2; l++) {
      int[] ids = lists[l];
      for (int i = 0; i < ids.length; i++) {
        if (ids[i] >= vocab) {
          throw new IllegalArgumentException("generator '" + id + "': " + names[l] + "[" + i
              + "] is token id " + ids[i] + ", outside the model's vocabulary of " + vocab
              + " ids [0, " + vocab + ")");
        }
        all.set(ids[i]);
      }
    }
    if (all.cardinality() == vocab) {
      throw new IllegalArgumentException("generator '" + id + "': the suppressed and"
          + " begin-suppressed ids cover the whole vocabulary of " + vocab
          + " ids, so no token could be generated");
    }
    config.timestampRules().ifPresent(r -> {
      if (r.timestampBegin() >= vocab) {
        throw new IllegalArgumentException("generator '" + id + "': the timestamp rules'"
            + " timestampBegin is token id " + r.timestampBegin() + ", outside the model's"
            + " vocabulary of " + vocab + " ids [0, " + vocab + ")");
      }
    });
  }

  private void validateEncoderInput(float[] input) {
    if (encoder == null) {
      if (input != null) {
        throw new IllegalArgumentException("generator '" + id + "': an encoder input of "
            + input.length + " floats was given but this model is decoder-only");
      }
      return;
    }
    encoder.checkInput(id, input);
  }

  private IllegalStateException closedException() {
    return new IllegalStateException("generator '" + id + "' is closed");
  }

  private void run() {
    torch.setGraphExecutorOptimize(JIT_OPTIMIZE); // this thread is the engine's own
    try {
      long stateBytes = model.device().isCuda()
          ? TorchRuntime.prepareEngineThread(model.device().index().orElse(0)) : 0L;
      if (encoderBuckets != null) {
        warmEncoder();
      }
      threadState.complete(stateBytes);
    } catch (RuntimeException | Error e) {
      threadState.completeExceptionally(e);
      closed = true;
      stop(); // frees the cache and graphs: the scheduler's last act, as below
      return;
    }
    try (InferenceMode guard = new InferenceMode()) {
      while (!closed) {
        sweepWaiting();
        dropSettled();
        compact();
        if (active.isEmpty()) {
          Sequence first;
          try {
            first = waiting.poll(1, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            continue;
          }
          List<Sequence> batch = admissible(first);
          while (!batch.isEmpty()) {
            admit(batch);
            compact();
            batch = admissible(null);
          }
        } else {
          List<Sequence> batch = admissible(null);
          if (!batch.isEmpty()) {
            admit(batch);
            compact();
          }
        }
        if (!active.isEmpty()) {
          decode();
          compact();
        }
        activeCount = active.size();
      }
    } catch (RuntimeException | Error e) {
      LOG.error("generator '{}': scheduler stopped by a bug", id, e);
      closed = true;
    } finally {
      stop();
    }
  }

  /**
   * Prefills {@code batch}, which admissible() took off the queue: until the prefill returns,
   * those sequences are neither waiting nor active, so they are kept in {@link #admitting} for
   * stop() to fail if the loop ends inside the prefill (an Error, or a bug the prefill does not
   * catch); else their callers would wait forever.
   */
  private void admit(List<Sequence> batch) {
    admitting = batch;
    prefill(batch);
    admitting = List.of();
  }

  /** Fails what is left, frees the natives: the scheduler's last act. */
  private void stop() {
    // An exception of its own to each request: its caller (SpeechRecognizer's join, say) may
    // add suppressed entries to it, which one shared instance gathered from every caller.
    for (Sequence s : admitting) {
      if (!s.future.isDone()) {
        s.delivery.fail(closedException());
      }
    }
    admitting = List.of();
    for (Sequence s : active) {
      s.delivery.fail(closedException());
    }
    active.clear();
    activeCount = 0;
    for (Sequence s; (s = waiting.poll()) != null; ) {
      s.delivery.fail(closedException());
    }
    if (graphs != null) {
      try {
        graphs.close();
      } catch (RuntimeException e) {
        // The rest must still be freed; the graphs' memory stays with libtorch's allocator.
        LOG.error("generator '{}': cannot free its CUDA graphs", id, e);
      }
    }
    sampler.close();
    cache.close();
    model.close();
    if (encoder != null) {
      cross.close();
      encoder.close();
    }
    if (encodeTimer != null) {
      encodeTimer.close();
      encodeTimer = null;
    }
  }

  /** Drops waiting requests whose caller gave up or whose deadline passed. */
  private void sweepWaiting() {
    long now = clock.getAsLong();
    for (Iterator<Sequence> it = waiting.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.future.isDone()) {
        it.remove();
      } else if (now - s.deadlineNanos >= 0) {
        it.remove();
        s.delivery.fail(deadline(s, now));
      }
    }
  }

  /** Ends active sequences whose caller gave up or whose deadline passed; frees their slots. */
  private void dropSettled() {
    long now = clock.getAsLong();
    for (Iterator<Sequence> it = active.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.future.isDone()) {
        it.remove();
        release(s);
      } else if (now - s.deadlineNanos >= 0) {
        it.remove();
        release(s);
        s.delivery.fail(deadline(s, now));
      }
    }
  }

  /**
   * Restores the compact-slots invariant after sequences left (see the essay): the active
   * sequences in slots at or above n (the active count) move into the free slots below n, the
   * highest into the lowest, every per-slot device state with them, and {@link #active} is put
   * back in slot order. A no-op when nothing is out of place. If the move fails on the device,
   * every active sequence fails (their rows may be half moved), as after a failed decode step.
   */
  private void compact() {
    int n = active.size();
    int m = 0;
    for (Sequence s : active) {
      if (s.slot >= n) {
        m++;
      }
    }
    if (m > 0) {
      int[] from = new int[m];
      int[] to = new int[m];
      Sequence[] movers = new Sequence[m];
      int k = 0;
      for (Sequence s : active) {
        if (s.slot >= n) {
          movers[k++] = s;
        }
      }
      java.util.Arrays.sort(movers, (a, b) -> Integer.compare(b.slot, a.slot));
      k = 0;
      for (int slot = 0; slot < n && k < m; slot++) {
        if (!cache.isTaken(slot)) {
          from[k] = movers[k].slot;
          to[k++] = slot;
        }
      }
      try (PointerScope scope = new PointerScope()) {
        long[] packed = new long[2 * m];
        for (int i = 0; i < m; i++) {
          packed[i] = from[i];
          packed[m + i] = to[i];
        }
        Tensor ids = Sampler.longs(packed, new long[] {2, m}, model.torchDevice());
        Tensor fromIds = ids.select(0, 0);
        Tensor toIds = ids.select(0, 1);
        cache.move(from, to, fromIds, toIds); // checks the slots first, then copies
        if (cross != null) {
          cross.move(fromIds, toIds);
        }
      } catch (RuntimeException e) {
        cache.releaseAll(); // the active sequences held every taken slot, moved or not
        freeSlots = cache.freeSlots(); // before the callers hear of it (see release)
        for (Sequence s : active) {
          s.slot = -1;
          s.delivery.fail(new InferenceException(id, DecoderModel.firstLine(e),
              "generator '" + id + "': moving " + m + " of " + n + " sequences into lower cache"
              + " slots failed: " + DecoderModel.firstLine(e), e));
        }
        active.clear();
        return;
      }
      for (int i = 0; i < m; i++) {
        movers[i].slot = to[i];
      }
      active.sort((a, b) -> Integer.compare(a.slot, b.slot));
      movedSequences += m;
    }
    freeSlots = cache.freeSlots();
    SlotProbe p = probe;
    if (p != null) {
      p.compacted(java.util.Collections.unmodifiableList(active), cache, cross);
    }
  }

  private DeadlineExceededException deadline(Sequence s, long now) {
    return new DeadlineExceededException(id, Duration.ofNanos(now - s.submittedNanos),
        s.config.timeout().orElseThrow());
  }

  /**
   * The next prefill's sequences: {@code first} (if not null) then waiting requests in order,
   * while slots are free and the padded prefill stays within the token budget. Requests whose
   * caller gave up are dropped and ones past their deadline failed on the way.
   */
  private List<Sequence> admissible(Sequence first) {
    List<Sequence> batch = new ArrayList<>();
    int longest = 0;
    long now = clock.getAsLong();
    for (Sequence s = first != null ? first : waiting.peek(); s != null; s = waiting.peek()) {
      if (s != first) {
        if (batch.size() >= cache.freeSlots()
            || (encoder != null && batch.size() >= ENCODER_BATCH)) {
          break;
        }
        int t = Math.max(longest, s.prompt.length);
        if (!batch.isEmpty() && (long) t * (batch.size() + 1) > prefillTokens) {
          break;
        }
        Consumer<Sequence> hook = afterPeek;
        if (hook != null) {
          hook.accept(s);
        }
        if (!waiting.remove(s)) {
          // taken back since the peek by a submit that found the engine closed (it threw to
          // its caller): take nothing in its place (a poll() here took the next request, which
          // was then neither waiting nor admitted, and never completed)
          continue;
        }
      }
      first = null;
      if (s.future.isDone()) {
        continue;
      }
      if (now - s.deadlineNanos >= 0) {
        s.delivery.fail(deadline(s, now));
        continue;
      }
      batch.add(s);
      longest = Math.max(longest, s.prompt.length);
    }
    return batch;
  }

  /**
   * Prefills the sequences of {@code batch} together in free slots (padded as the essay says)
   * and draws each one's first token.
   */
  private void prefill(List<Sequence> batch) {
    long started = System.nanoTime();
    long encodeNanos = 0;
    int k = batch.size();
    int t = 0;
    for (Sequence s : batch) {
      t = Math.max(t, s.prompt.length);
      s.slot = cache.acquire();
    }
    // Published before the first tokens go out: a caller woken by one and submitting at once
    // must see these slots taken (compact() publishes them too, only after the admission).
    freeSlots = cache.freeSlots();
    long[] drawn;
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Device dev = model.torchDevice();
      // ids [k, t], positions [k, t] and slots [k] in one transfer
      long[] packed = new long[2 * k * t + k];
      Sampler.Rows rows = new Sampler.Rows(k);
      for (int r = 0; r < k; r++) {
        Sequence s = batch.get(r);
        int n = s.prompt.length;
        int pad = t - n;
        for (int i = 0; i < pad; i++) {
          packed[k * t + r * t + i] = n + i; // id 0 at positions n .. t-1
        }
        for (int i = 0; i < n; i++) {
          packed[r * t + pad + i] = s.prompt[i];
          packed[k * t + r * t + pad + i] = i;
        }
        packed[2 * k * t + r] = s.slot;
        setRow(rows, r, s);
      }
      Tensor all = Sampler.longs(packed, new long[] {packed.length}, dev);
      Tensor ids = all.narrow(0, 0, (long) k * t).view(k, t);
      Tensor slots = all.narrow(0, 2L * k * t, k);
      for (int r = 0; r < k; r++) {
        Sequence s = batch.get(r);
        cache.resetSeen(s.slot, ids.select(0, r).narrow(0, t - s.prompt.length,
            s.prompt.length));
      }
      EncodeTimer timer = null;
      if (encoder != null) {
        long encodeStarted = System.nanoTime();
        timer = model.device().isCuda() ? encodeTimer() : null;
        if (timer != null) {
          timer.start();
        }
        encode(batch, slots);
        if (timer != null) {
          timer.end();
        } else {
          encodeNanos = System.nanoTime() - encodeStarted; // the CPU computes as it is called
        }
      }
      Tensor logits = model.step(ids, all.narrow(0, (long) k * t, (long) k * t).view(k, t),
          slots, cache.keys(), cache.values(), crossKeys(), crossValues());
      drawn = toHost(choose(logits, slots, rows));
      if (timer != null) {
        encodeNanos = timer.elapsedNanos(); // done: toHost waited for the stream
      }
    } catch (RuntimeException e) {
      for (Sequence s : batch) {
        release(s);
        s.delivery.fail(new InferenceException(id, DecoderModel.firstLine(e), "generator '" + id
            + "': the prefill of a " + s.prompt.length + "-token prompt (with " + (k - 1)
            + " others) failed: " + DecoderModel.firstLine(e), e));
      }
      return;
    }
    steps++;
    stats = stats.plus(new GenerationStats(1, k, encoder == null ? 0 : k,
        System.nanoTime() - started, encodeNanos, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    for (int r = 0; r < k; r++) {
      Sequence s = batch.get(r);
      FinishReason done = s.add((int) drawn[r], cache.length());
      if (done != null) {
        finish(s, done);
      } else {
        active.add(s);
      }
    }
  }

  /**
   * One token for every active sequence; with pipelining, a run of steps while the rows stay the
   * same (see the essay's "Pipelined decode steps"): step n+1 is launched, its token ids taken
   * from step n's on the device, before step n's ids are read, so the host's work of a step runs
   * while the device computes the one before.
   */
  private void decode() {
    List<Sequence> rows = List.copyOf(active);
    Launched step;
    try {
      step = launch(rows, null);
    } catch (RuntimeException e) {
      failDecode(e, rows.size());
      return;
    }
    while (true) {
      Launched ahead = null;
      if (mayLookAhead(rows)) {
        try {
          ahead = launch(rows, step);
          lookaheadSteps++;
        } catch (RuntimeException e) {
          step.release();
          failDecode(e, rows.size());
          return;
        }
      }
      long[] drawn;
      try {
        drawn = step.read();
      } catch (RuntimeException e) {
        if (ahead != null) {
          ahead.release();
        }
        failDecode(e, rows.size());
        return;
      } finally {
        step.release();
      }
      boolean allGoOn = record(step, drawn);
      if (ahead == null) {
        return;
      }
      if (!allGoOn) { // the rows changed: read the step in flight, then back to the loop
        try {
          drawn = ahead.read();
        } catch (RuntimeException e) {
          failDecode(e, rows.size());
          return;
        } finally {
          ahead.release();
        }
        record(ahead, drawn);
        return;
      }
      step = ahead;
    }
  }

  /**
   * Whether the step after the one just launched for {@code rows} may be launched before its ids
   * are read: pipelining is on, nothing waits for admission (a waiting request ends the run, so
   * the loop sweeps and admits it), and every row will surely go on past the step in flight
   * except by its token (an EOS id or a stop the host finds): not settled by its caller, before
   * its deadline, with another token allowed and another position in its slot, and no Whisper
   * timestamp rules (their bounds come from the ids on the host).
   */
  private boolean mayLookAhead(List<Sequence> rows) {
    if (!pipelined || closed || !waiting.isEmpty()) {
      return false;
    }
    boolean deadlines = false;
    for (Sequence s : rows) {
      if (s.slot < 0 || s.future.isDone() || s.config.timestampRules().isPresent()
          || s.count() + 1 >= s.config.maxNewTokens() || s.position() + 1 >= cache.length()) {
        return false;
      }
      deadlines |= s.deadlineNanos != Long.MAX_VALUE;
    }
    if (deadlines) {
      long now = clock.getAsLong();
      for (Sequence s : rows) {
        if (now - s.deadlineNanos >= 0) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * A decode step launched on the device and not read yet: its rows (a snapshot: the active list
   * may change before it is read), the ids it draws (on the device, held for the next step's
   * input, and copied into a pinned host tensor behind an event on CUDA), and its times.
   */
  private final class Launched {
    final List<Sequence> rows;
    final int padded;
    final Tensor next;
    final Tensor host;
    final org.bytedeco.cuda.cudart.CUevent_st done;
    final boolean replayed;
    final long started;
    /** Launched before the step before it was read (pipelined). */
    final boolean ahead;
    /** The host's time in launch(): packing, uploads, the replay, the sampler, the copy back. */
    final long launchNanos;
    /** When read() began: the step's wait, in its GenerationStats. */
    long readStarted;

    Launched(List<Sequence> rows, int padded, Tensor next, Tensor host,
        org.bytedeco.cuda.cudart.CUevent_st done, boolean replayed, long started,
        boolean ahead) {
      this.rows = rows;
      this.padded = padded;
      this.next = next;
      this.host = host;
      this.done = done;
      this.replayed = replayed;
      this.started = started;
      this.ahead = ahead;
      this.launchNanos = System.nanoTime() - started;
    }

    /** The ids drawn, once the device has them (waits for this step only). */
    long[] read() {
      readStarted = System.nanoTime();
      if (done != null) {
        ai.nos.internal.torch.CudaStatus.check(
            org.bytedeco.cuda.global.cudart.cudaEventSynchronize(done), "wait for a decode step");
      }
      long[] out = new long[rows.size()];
      new LongPointer(host.data_ptr()).get(out);
      return out;
    }

    /** Frees what the step held past its scope. Once. */
    void release() {
      next.releaseReference();
      host.releaseReference();
      if (done != null) {
        org.bytedeco.cuda.global.cudart.cudaEventDestroy(done);
      }
    }
  }

  /**
   * Launches one decode step for {@code rows} (row i in slot i) and returns without waiting for
   * it. Without {@code previous}, each row's last token, position and sampling settings come
   * from the host; with it, the step is the one after {@code previous}: ids from its draws on
   * the device, positions and draw indexes one further.
   */
  private Launched launch(List<Sequence> rows, Launched previous) {
    long started = System.nanoTime();
    int b = rows.size();
    for (int i = 0; i < b; i++) {
      if (rows.get(i).slot != i) {
        throw new IllegalStateException("generator '" + id + "': row " + i + " of a decode step"
            + " of " + b + " names slot " + rows.get(i).slot + ", not " + i
            + " (the slots were not compacted)");
      }
    }
    int padded = buckets == null ? b : bucketFor(b);
    if (padded > b) {
      paddedSteps++;
    }
    int ahead = previous == null ? 0 : 1;
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Device dev = model.torchDevice();
      // ids, positions and slots of the step in one transfer; padding rows (graphs only) run
      // token 0 at position 0 in the scratch slot
      long[] packed = new long[3 * padded];
      java.util.Arrays.fill(packed, 2 * padded + b, 3 * padded, cache.scratch());
      Sampler.Rows settings = new Sampler.Rows(b);
      for (int i = 0; i < b; i++) {
        Sequence s = rows.get(i);
        packed[i] = previous == null ? s.last() : 0;
        packed[padded + i] = s.position() + ahead;
        packed[2 * padded + i] = s.slot;
        setRow(settings, i, s, ahead);
      }
      Tensor all = Sampler.longs(packed, new long[] {3, padded}, dev);
      Tensor ids = all.select(0, 0).view(padded, 1);
      if (previous != null) {
        ids.narrow(0, 0, b).copy_(previous.next.view(b, 1));
      }
      Tensor positions = all.select(0, 1).view(padded, 1);
      Tensor slots = all.select(0, 2);
      Tensor realSlots = padded == b ? slots : slots.narrow(0, 0, b);
      Tensor next = graphs == null ? null : graphs.run(List.of(ids, positions, slots),
          out -> choose(out.get(0).narrow(0, 0, b), realSlots, settings));
      boolean replayed = next != null;
      if (next == null) {
        next = choose(model.decodeStep(ids, positions, slots, cache.keys(), cache.values(),
            crossKeys(), crossValues()).narrow(0, 0, b), realSlots, settings);
      }
      Readback back = Readback.of(next, model.device());
      // Both outlive the scope: the next step reads `next` on the device, read() reads `host`.
      next.retainReference();
      back.host().retainReference();
      return new Launched(rows, padded, next, back.host(), back.done(), replayed, started,
          previous != null);
    }
  }

  /**
   * The host side of a step's drawn ids. On CUDA: a pinned tensor the ids are copied into
   * asynchronously, behind an event on the current stream, so that reading it waits for this
   * step and not for a step launched after it (a copy to pageable memory would wait for the
   * whole stream). On the CPU: the ids themselves, contiguous, and no event. In the caller's
   * scope; the caller destroys the event.
   */
  record Readback(Tensor host, org.bytedeco.cuda.cudart.CUevent_st done) {
    static Readback of(Tensor ids, ai.nos.Device device) {
      if (!device.isCuda()) {
        return new Readback(ids.contiguous(), null);
      }
      Tensor host = torch.empty(ids.sizes().vec().get(), new TensorOptions(torch.ScalarType.Long)
          .pinned_memory(new org.bytedeco.pytorch.BoolOptional(true)),
          new org.bytedeco.pytorch.MemoryFormatOptional());
      host.copy_(ids, true);
      org.bytedeco.cuda.cudart.CUevent_st done = new org.bytedeco.cuda.cudart.CUevent_st();
      ai.nos.internal.torch.CudaStatus.check(org.bytedeco.cuda.global.cudart
          .cudaEventCreateWithFlags(done, org.bytedeco.cuda.global.cudart
              .cudaEventDisableTiming), "make an event");
      TorchRuntime.recordOnCurrentStream(done, device, "mark a decode step");
      return new Readback(host, done);
    }
  }

  /**
   * Hands each row still generating its token of {@code step} ({@code drawn}), finishes the
   * rows that end with it, puts the active list back to the rows that go on, and counts the
   * step; returns whether every row of the step goes on.
   */
  private boolean record(Launched step, long[] drawn) {
    steps++;
    int b = step.rows.size();
    if (b > 1) {
      sharedSteps++;
    }
    long ended = System.nanoTime();
    // A step launched ahead overlaps the one before: its time counts from that one's end, so
    // the steps' times add up to the wall time, as without pipelining.
    long from = Math.max(step.started, lastDecodeEnded);
    lastDecodeEnded = ended;
    stats = stats.plus(new GenerationStats(0, 0, 0, 0, 0, 1, step.replayed ? 1 : 0, b,
        step.padded - b, b, ended - from, ended - Math.max(step.readStarted, from),
        step.ahead ? 1 : 0, step.launchNanos));
    boolean all = true;
    for (int i = 0; i < b; i++) {
      Sequence s = step.rows.get(i);
      if (s.slot < 0) { // finished at the step before (a step launched ahead of its read)
        all = false;
        continue;
      }
      FinishReason done = s.add((int) drawn[i], cache.length());
      if (done != null) {
        finish(s, done);
        all = false;
      }
    }
    active.removeIf(s -> s.slot < 0);
    return all;
  }

  /** A decode step failed: every row fails with its cause, and their slots are freed. */
  private void failDecode(RuntimeException e, int b) {
    for (Sequence s : active) {
      release(s);
      // one exception a request, as in stop()
      s.delivery.fail(new InferenceException(id, DecoderModel.firstLine(e), "generator '" + id
          + "': a decode step of " + b + " sequences failed: " + DecoderModel.firstLine(e), e));
    }
    active.clear();
  }

  /**
   * Runs the encoder on the batch's inputs together and fills their slots' cross caches (see
   * the essay). In the prefill's scope; the inputs' host copies are dropped once sent.
   */
  private void encode(List<Sequence> batch, Tensor slots) {
    int k = batch.size();
    float[][] inputs = new float[encoderBuckets == null ? k : bucketFor(encoderBuckets, k)][];
    for (int r = 0; r < k; r++) {
      inputs[r] = batch.get(r).encoderInput;
      batch.get(r).encoderInput = null;
    }
    java.util.Arrays.fill(inputs, k, inputs.length, inputs.length > k ? silence() : null);
    fillCross(inputs, k, slots);
  }

  /**
   * Encodes {@code inputs} and writes the first {@code k} outputs' cross keys and values into
   * the rows {@code slots} ([k] device longs; the rest of the inputs are padding). Not waited
   * for: on CUDA the prefill's decoder step is queued behind it while the device encodes (its
   * host work, several ms of eager launches for 16 windows, used to wait for the encoder), and
   * GenerationStats' split of the admission into encoding and prefill comes from
   * {@link EncodeTimer}'s events instead of a wait.
   */
  private void fillCross(float[][] inputs, int k, Tensor slots) {
    Tensor encoded = encoder.encode(inputs);
    model.crossKv(inputs.length > k ? encoded.narrow(0, 0, k) : encoded, slots, cross.keys(),
        cross.values());
  }

  private EncodeTimer encodeTimer() {
    if (encodeTimer == null) {
      encodeTimer = new EncodeTimer(model.device());
    }
    return encodeTimer;
  }

  /**
   * Two CUDA timing events around an admission's encoder path on the scheduler's stream: the
   * device's time from the upload's start to cross_kv's end, read once the prefill's ids are on
   * the host (the stream is done by then). Scheduler thread only; one admission at a time.
   */
  private static final class EncodeTimer implements AutoCloseable {
    private final ai.nos.Device device;
    private final org.bytedeco.cuda.cudart.CUevent_st start = new org.bytedeco.cuda.cudart
        .CUevent_st();
    private final org.bytedeco.cuda.cudart.CUevent_st end = new org.bytedeco.cuda.cudart
        .CUevent_st();

    EncodeTimer(ai.nos.Device device) {
      this.device = device;
      ai.nos.internal.torch.CudaStatus.check(
          org.bytedeco.cuda.global.cudart.cudaEventCreate(start), "make a timing event");
      try {
        ai.nos.internal.torch.CudaStatus.check(
            org.bytedeco.cuda.global.cudart.cudaEventCreate(end), "make a timing event");
      } catch (RuntimeException e) {
        org.bytedeco.cuda.global.cudart.cudaEventDestroy(start);
        throw e;
      }
    }

    void start() {
      record(start);
    }

    void end() {
      record(end);
    }

    private void record(org.bytedeco.cuda.cudart.CUevent_st event) {
      TorchRuntime.recordOnCurrentStream(event, device, "mark an admission's encoding");
    }

    /** The device time between the marks; waits for the end mark (done already in prefill). */
    long elapsedNanos() {
      ai.nos.internal.torch.CudaStatus.check(
          org.bytedeco.cuda.global.cudart.cudaEventSynchronize(end), "wait for an encoding");
      float[] ms = new float[1];
      ai.nos.internal.torch.CudaStatus.check(
          org.bytedeco.cuda.global.cudart.cudaEventElapsedTime(ms, start, end),
          "time an encoding");
      return Math.round(ms[0] * 1e6);
    }

    @Override
    public void close() {
      org.bytedeco.cuda.global.cudart.cudaEventDestroy(start);
      org.bytedeco.cuda.global.cudart.cudaEventDestroy(end);
    }
  }

  /**
   * Runs an admission's encoder path (upload, features, encoder, cross_kv) on silence once at
   * each of {@link #encoderBuckets}' sizes, on the scheduler thread before the engine is ready
   * (see the essay). cross_kv writes slots 0..size-1, all free yet: an admission rewrites its
   * slots' rows. A failure is logged and leaves the shapes to the first admissions.
   */
  private void warmEncoder() {
    long started = System.nanoTime();
    try (InferenceMode guard = new InferenceMode()) {
      for (int size : encoderBuckets) {
        try (PointerScope scope = new PointerScope()) {
          float[][] inputs = new float[size][];
          java.util.Arrays.fill(inputs, silence());
          Tensor slots = torch.arange(new Scalar(size), new TensorOptions(torch.ScalarType.Long)
              .device(new org.bytedeco.pytorch.DeviceOptional(model.torchDevice())));
          fillCross(inputs, size, slots);
        }
      }
      TorchRuntime.synchronize(model.device()); // fillCross does not wait: done when ready
      warmedEncoderSizes = encoderBuckets.clone();
      LOG.info("generator '{}': encoder warmed at batch sizes {} in {} ms", id,
          java.util.Arrays.toString(encoderBuckets), (System.nanoTime() - started) / 1_000_000);
    } catch (RuntimeException e) {
      LOG.warn("generator '{}': warming the encoder failed; admissions of a new size pay their"
          + " shape's first call: {}", id, DecoderModel.firstLine(e));
    }
  }

  private float[] silence() {
    if (silence == null) {
      silence = new float[encoder.inputSize()];
    }
    return silence;
  }

  private Tensor crossKeys() {
    return cross == null ? null : cross.keys();
  }

  private Tensor crossValues() {
    return cross == null ? null : cross.values();
  }

  /** The smallest bucket holding {@code b} rows (the slots bound b, and are the largest). */
  private int bucketFor(int b) {
    return bucketFor(buckets, b);
  }

  /**
   * The smallest of {@code sizes} (ascending) holding {@code n}, or n above the largest (which
   * the callers' bounds rule out: the slots for decode steps, min(slots, ENCODER_BATCH) for
   * admissions).
   */
  private static int bucketFor(int[] sizes, int n) {
    for (int size : sizes) {
      if (size >= n) {
        return size;
      }
    }
    return n;
  }

  /** Draws each row's token from its logits and marks it seen in its slot. */
  private Tensor choose(Tensor logits, Tensor slots, Sampler.Rows rows) {
    Tensor next = sampler.choose(logits, seen(rows, slots), rows);
    cache.markSeen(slots, next);
    return next;
  }

  /** The seen rows of {@code slots} when a row needs them for its penalty, else null. */
  private Tensor seen(Sampler.Rows rows, Tensor slots) {
    return Sampler.anyPenalty(rows) ? cache.seenRows(slots) : null;
  }

  private void finish(Sequence s, FinishReason reason) {
    if (s.slot >= 0) {
      release(s);
    }
    s.delivery.finish(s.result(reason));
  }

  /**
   * Frees {@code s}'s slot and publishes the free slots at once, before its caller hears the
   * outcome: a caller woken by it may submit its next request right away (from the callback
   * itself where the executor runs it on this thread), which submit checks against the
   * published count. Published only at the next compaction, that request was refused while the
   * slot stood free (with maxQueued 0, even with nothing queued).
   */
  private void release(Sequence s) {
    cache.release(s.slot);
    s.slot = -1;
    freeSlots = cache.freeSlots();
  }

  private void setRow(Sampler.Rows rows, int i, Sequence s) {
    setRow(rows, i, s, 0);
  }

  /**
   * Row {@code i}'s sampling settings for the draw {@code ahead} draws after the sequence's next
   * (0 or 1: a step launched ahead; mayLookAhead keeps timestamp rows out of those).
   */
  private void setRow(Sampler.Rows rows, int i, Sequence s, int ahead) {
    GenerationConfig c = s.config;
    rows.set(i, c.temperature(), c.topK(), c.topP(), c.repetitionPenalty(), s.seed,
        s.count() + ahead, model.vocabSize());
    rows.suppress(i, ahead == 0 ? s.suppressedNow() : s.suppressed);
    rows.timestamps(i, ahead == 0 ? s.timestampBounds(model.vocabSize()) : null);
  }

  private static long[] toHost(Tensor ids) {
    Tensor host = ids.cpu().contiguous();
    long[] out = new long[(int) host.numel()];
    new LongPointer(host.data_ptr()).get(out);
    return out;
  }

  /** Sequences generating now. */
  public int active() {
    return activeCount;
  }

  /** Requests waiting for a slot. */
  public int queued() {
    return waiting.size();
  }

  /** Decode steps that ran padding rows (to a bucket) so far. */
  long paddedSteps() {
    return paddedSteps;
  }

  /** For tests: called with each request admission sees at the head of the queue. */
  void afterPeekForTest(Consumer<Sequence> hook) {
    this.afterPeek = hook;
  }

  /** For tests: takes {@code s} off the queue as a submit racing close() does. */
  boolean takeBackForTest(Sequence s) {
    return waiting.remove(s);
  }

  /** For tests: the encoder batch sizes warmed before the engine was ready (see the essay). */
  int[] warmedEncoderSizes() {
    return warmedEncoderSizes.clone();
  }

  /** For tests: pipelined decode steps on or off (set it before {@link #start}). */
  void pipelined(boolean on) {
    this.pipelined = on;
  }

  /** Decode steps launched ahead of the previous step's read so far (see the essay). */
  long lookaheadSteps() {
    return lookaheadSteps;
  }

  /** Sequences moved into lower slots so far (see the essay's "Compact slots"). */
  long movedSequences() {
    return movedSequences;
  }

  /** For tests: sets the probe called after every compaction (set it before {@link #start}). */
  void probe(SlotProbe probe) {
    this.probe = probe;
  }

  /** Prefill and decode steps run so far. */
  public long steps() {
    return steps;
  }

  /** Counts and times of the steps so far (see {@link GenerationStats}). */
  public GenerationStats stats() {
    return stats;
  }

  /** Decode steps so far that served more than one sequence (continuous batching at work). */
  public long sharedSteps() {
    return sharedSteps;
  }

  /** The cross caches' keys (tests read them while the scheduler is idle). */
  Tensor crossKeysForTest() {
    return cross.keys();
  }

  Tensor crossValuesForTest() {
    return cross.values();
  }

  /** The encoder of an encoder-decoder model; null for a decoder-only one. */
  public EncoderModel encoder() {
    return encoder;
  }

  /**
   * Device bytes of the caches: slots (one more with CUDA graphs: the scratch slot) x
   * {@link #cacheBytesPerSequence()}.
   */
  public long cacheBytes() {
    return cache.bytes() + (cross == null ? 0 : cross.bytes());
  }

  /** Device bytes of one slot: its key/value cache, and its cross cache row if any. */
  public long cacheBytesPerSequence() {
    return KvCache.bytesPerSequence(model, cache.length()) + CrossCache.bytesPerSequence(model);
  }

  public int slots() {
    return cache.slots();
  }

  /**
   * Whether the calling thread is this engine's scheduler: where a callback executor that runs
   * tasks on the submitting thread ({@code Runnable::run}, a saturated pool's CallerRunsPolicy)
   * delivers, so an owner's settling hook can tell that it must not wait for anything that
   * waits for the scheduler.
   */
  public boolean onScheduler() {
    return Thread.currentThread() == scheduler;
  }

  public int length() {
    return cache.length();
  }

  public DecoderModel model() {
    return model;
  }

  /**
   * Stops the scheduler: queued and active requests fail with IllegalStateException; waits up
   * to 30 s for the scheduler to free the natives. Idempotent. On the scheduler itself (a
   * consumer that a {@code Runnable::run} executor runs there) it only sets the flag: the loop
   * ends once the consumer returns, and neither interrupts nor waits for its own thread, which
   * runs the application's code (an interrupt left there made its next blocking call throw).
   */
  @Override
  public void close() {
    closed = true;
    if (onScheduler()) {
      return;
    }
    scheduler.interrupt();
    try {
      scheduler.join(CLOSE_TIMEOUT.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (scheduler.isAlive()) {
      LOG.warn("generator '{}': the scheduler did not stop within {} (a step still runs); it"
          + " frees the cache when it does", id, CLOSE_TIMEOUT);
    }
  }
}
