package ai.nos.generate;

import ai.nos.DType;
import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Signature;
import ai.nos.internal.generate.DecoderModel;
import ai.nos.internal.generate.EncoderModel;
import ai.nos.internal.generate.GenerationEngine;
import ai.nos.internal.manager.ManagedResource;
import ai.nos.internal.manager.ManagerAccess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntConsumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * A TokenGenerator whose engine a ModelManager books: its copy (decoder weights plus key/value
 * cache, GeneratorReplica) is placed, counted, evicted and freed by the manager like a model's.
 *
 * Booking
 * The manager places the copy by the builder's device preference, as a spec's, and books what it
 * can know before the first load (the file's size, as for a model); the loaded copy reports the
 * decoder's parameter and buffer bytes plus cacheBytes(), and the manager books that measurement
 * instead (evicting idle copies if it is larger, refusing it if no room can be made), and books
 * it exactly for every later load. The decode step's working memory is not booked (on the CPU the
 * manager books no model's; on a GPU it is not measured yet).
 *
 * Requests hold the copy
 * Each request holds one reference on the copy's lease (ManagedResource) from before its engine
 * sees it until the engine is done with it: given back when its sequence leaves the engine
 * (finished or failed there: Delivery's ending hook, handed from the engine's scheduler to the
 * manager's deadline thread, since freeing the copy there would close the engine from its own
 * thread), or when the future is settled before that (the caller cancels it, a consumer
 * throws), whichever is first. It does not wait for the result's delivery: a stream consumer
 * that blocks for ever holds its own request's future, not the copy, which stays evictable and
 * does not hold up close(). The request is counted (ModelInfo.requests, failures) when its
 * future is settled, just before the engine completes it (Delivery's settling hook, which also
 * gives the reference back if the ending hook's task has not yet, or waits for that task), so
 * the books are settled when join() returns. A request the engine refuses as it is submitted
 * (QueueFullException, a closed engine) gives its reference back and is not counted, as a
 * model's refused call is not. The manager evicts
 * only a copy whose lease it can close at zero references (Lease.closeIfIdle), so a generator
 * with a request queued or generating is never evicted; an idle one is, least recently used
 * first, and its engine closes under the manager's lock (GenerationEngine.close: the scheduler
 * frees the cache and module and exits, at most one step later) before the bytes are unbooked.
 *
 * Submit racing eviction
 * A submit takes its reference first (one CAS); if the eviction won, the copy is no longer
 * serving and the submit books and loads a fresh one on its own thread (the caller sees only the
 * load's latency, which counts in the request's deadline: that is taken before the reference,
 * as GenerationConfig.timeout says, and room is waited for no longer than it, so a request whose
 * wait or reload passed it fails with DeadlineExceededException instead of running late or
 * blocking its caller for the manager's load timeout; a load that fails fails that request).
 * If the submit won, the eviction skips the copy. A request therefore reaches only an engine
 * whose lease it holds, which no eviction can close; it is never lost: it either reaches an
 * engine or its caller gets the exception.
 *
 * Closing
 * TokenGenerator.close() unloads the entry (the manager closes the copy's lease and runs
 * closeEngines: what is queued or generating fails with IllegalStateException), then waits up
 * to 30 s for every request's reference to come back, so that when close returns the copy is
 * freed and unbooked; but not on the engine's scheduler (a consumer an executor such as
 * Runnable::run runs there), where the references come back only once the close returns.
 * Closing the manager (or unloading the id) does the same to the generator (requests fail, the
 * engine closes at once rather than after the manager's drain, since a generation may run for
 * minutes); the generator then refuses requests with IllegalStateException, and its close()
 * only releases what it owns.
 *
 * Threads
 * Loads run on the thread that needs the copy (the builder's, a submitting caller's). A request's
 * reference is given back on the manager's deadline thread (ManagerCore.runElsewhere; a new
 * thread once the manager is closed; a NOS daemon where the application's factory gives the
 * deadline pool no thread, ManagerCore.orDaemon), on
 * the thread that delivers its result (the callback executor's), or on a caller that cancels:
 * never on the engine's scheduler. An executor that runs tasks on the submitting thread
 * (Runnable::run, a saturated pool's CallerRunsPolicy) delivers on the engine's scheduler; the
 * settling hook then hands the release to the manager's thread too and does not wait for it
 * (it waited there for the deadline thread's release, which waited for the manager's lock,
 * held by a closer waiting for this scheduler: every close with a request live took its 30 s
 * timeout), so on that path the reference may come back just after join() returns. The
 * engine's scheduler (and Delivery's fallback thread) come from the
 * manager's application ThreadFactory when it has one, as the manager's own threads do.
 */
final class BookedEngine {
  private static final Logger LOG = LoggerFactory.getLogger(TokenGenerator.class);
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);
  /** GenerationConfig's "no limit": a timeout from a long's nanoseconds on. */
  private static final Duration LONGEST_TIMEOUT = Duration.ofNanos(Long.MAX_VALUE);

  private final String id;
  /** The decoder's file and, in {@link Files#encoder}, an encoder-decoder export's encoder. */
  private final Files files;
  /** Whether the encoder takes PCM windows (TokenGenerator.Builder.whisperPcm). */
  private final boolean whisperPcm;
  private final Precision precision;
  private final int slots;
  private final int maxLength;
  private final int maxQueued;
  private final Executor callbacks;
  /** Engines loaded and not yet closed: one, or none while evicted. */
  private final Set<GeneratorReplica> live = ConcurrentHashMap.newKeySet();
  /** The first load's figures; a reload must give the same. Guarded by {@code this}. */
  private TokenGenerator.Shape shape;
  private ManagedResource<GeneratorReplica> resource;
  /** The manager's core: the loader books its engine thread's library state there. */
  private ai.nos.internal.manager.ManagerCore core;
  private volatile boolean closed;
  private final boolean cudaGraphs;
  /** The engine's clock: System::nanoTime but in tests. */
  private final LongSupplier clock;
  /** Requests between acquire and release; guarded by {@link #pendingLock}. */
  private int pending;
  private final Object pendingLock = new Object();

  /**
   * A generator's files and the digests their bytes must have (null: not pinned), checked on
   * every load; {@code encoder} is null for a decoder-only export.
   */
  record Files(Path model, String modelSha256, Path encoder, String encoderSha256) {}

  private BookedEngine(String id, Files files, boolean whisperPcm,
      Precision precision, int slots, int maxLength, int maxQueued, Executor callbacks,
      boolean cudaGraphs, LongSupplier clock) {
    this.cudaGraphs = cudaGraphs;
    this.clock = clock;
    this.whisperPcm = whisperPcm;
    this.id = id;
    this.files = files;
    this.precision = precision;
    this.slots = slots;
    this.maxLength = maxLength;
    this.maxQueued = maxQueued;
    this.callbacks = callbacks;
  }

  /** Registers the generator with {@code manager} and loads its first copy where it places it. */
  static BookedEngine open(ModelManager manager, String id, Files files,
      boolean whisperPcm, Device device, Precision precision, int slots, int maxLength,
      int maxQueued, Executor callbacks, boolean cudaGraphs, LongSupplier clock) {
    ModelSpec spec = ModelSpec.builder().id(id).artifact(files.model()).device(device)
        .precision(precision).signature(Signature.builder()
            .input("input_ids", DType.INT64, -1, -1).input("positions", DType.INT64, -1, -1)
            .input("slots", DType.INT64, -1).output("logits", DType.FLOAT32, -1, -1).build())
        .build();
    // The encoder is opened too: it is held to the manager's allowed directories as the
    // decoder is, on every load (before, only the decoder was checked).
    ModelSpec encoderSpec = files.encoder() == null ? null
        : spec.toBuilder().id(id + "-encoder").artifact(files.encoder()).build();
    ManagerAccess.Door door = ManagerAccess.door();
    checkAllowed(door, manager, spec, encoderSpec);
    BookedEngine b = new BookedEngine(id, files, whisperPcm, precision, slots,
        maxLength, maxQueued, callbacks, cudaGraphs, clock);
    b.core = door.core(manager);
    b.resource = ManagedResource.open(b.core, spec, GeneratorReplica.class,
        placed -> {
          // Every load checks, as the manager's own loads do: the file is read again.
          checkAllowed(door, manager, spec, encoderSpec);
          return b.load(placed);
        }, b::closeEngines);
    return b;
  }

  private static void checkAllowed(ManagerAccess.Door door, ModelManager manager,
      ModelSpec decoder, ModelSpec encoder) {
    door.checkAllowed(manager, decoder);
    if (encoder != null) {
      door.checkAllowed(manager, encoder);
    }
  }

  /** Loads the decoder and starts an engine on {@code placed}: the manager's loader. */
  private GeneratorReplica load(Device placed) {
    DecoderModel decoder = DecoderModel.load(id, files.model(), files.modelSha256(), placed,
        precision);
    GenerationEngine engine;
    long weights;
    EncoderModel enc = null;
    try {
      enc = TokenGenerator.Builder.loadEncoder(id, files.model(), files.encoder(),
          files.encoderSha256(), whisperPcm, decoder);
      int length = maxLength > 0 ? maxLength : decoder.maxPositions();
      if (length > decoder.maxPositions()) {
        throw new IllegalArgumentException("maxLength " + length + " exceeds the "
            + decoder.maxPositions() + " positions model " + files.model() + " was exported for");
      }
      weights = decoder.parameterBytes() + (enc == null ? 0 : enc.parameterBytes());
      engine = new GenerationEngine(id, decoder, enc, slots, length, maxQueued, callbacks,
          clock, cudaGraphs, core.applicationThreads());
    } catch (RuntimeException | Error e) {
      decoder.close();
      if (enc != null) {
        enc.close();
      }
      throw e;
    }
    // The scheduler thread's cuBLAS state outlives the engine: the device's, not the copy's.
    core.addLibraryBytes(placed, engine.threadStateBytes());
    TokenGenerator.Shape loaded = TokenGenerator.Shape.of(engine, weights);
    synchronized (this) {
      if (shape == null) {
        shape = loaded;
      } else if (!shape.sameModel(loaded)) {
        engine.close();
        throw new ModelLoadException("generator '" + id + "': " + files.model() + " changed"
            + " since the generator was built; it loads now as " + loaded + ", it was " + shape);
      }
    }
    GeneratorReplica replica = new GeneratorReplica(id, engine, loaded.deviceBytes(),
        live::remove);
    live.add(replica);
    return replica;
  }

  /** The first load's figures (set before {@link #open} returns). */
  synchronized TokenGenerator.Shape shape() {
    return shape;
  }

  /** See the class notes, "Submit racing eviction". */
  CompletableFuture<GeneratedTokens> submit(int[] prompt, float[] encoderInput,
      GenerationConfig config, IntConsumer sink) {
    if (closed) {
      throw new IllegalStateException("generator '" + id + "' is closed");
    }
    // Refused before a reload is paid for; the engine checks the same again.
    shape().check(id, prompt, config);
    if (encoderInput != null) {
      EncoderModel.checkInput(id, encoderInput, whisperPcm, shape().encoderInput());
    }
    // The deadline counts from here: a reload (and its wait for room) is the request's time.
    long submitted = clock.getAsLong();
    synchronized (pendingLock) {
      pending++;
    }
    ManagedResource.Held<GeneratorReplica> held;
    long timeout = config.timeout().filter(t -> t.compareTo(LONGEST_TIMEOUT) < 0)
        .map(Duration::toNanos).orElse(Long.MAX_VALUE);
    try {
      // Room is waited for no longer than the request may wait.
      held = resource.acquire(timeout);
    } catch (IllegalArgumentException | IllegalStateException e) {
      done();
      throw e;
    } catch (RuntimeException | Error e) {
      // No copy could be loaded (no room in time, the file is gone): this request fails, past
      // its deadline if that is what ended the wait.
      done();
      long waited = clock.getAsLong() - submitted;
      if (e instanceof ai.nos.NosException && waited - timeout >= 0) {
        DeadlineExceededException late = new DeadlineExceededException(id,
            Duration.ofNanos(waited), config.timeout().orElseThrow());
        late.initCause(e);
        return CompletableFuture.failedFuture(late);
      }
      return CompletableFuture.failedFuture(e);
    }
    Request request = new Request(held);
    CompletableFuture<GeneratedTokens> future;
    try {
      future = held.replica().engine.submit(prompt, encoderInput, config, sink, request::settle,
          request::ended, submitted);
    } catch (RuntimeException | Error e) {
      // Refused before it was queued (a full queue, an encoder input of the wrong length, the
      // engine closed): no request, as a model's refused call is none; the reference goes back.
      request.refused();
      throw e;
    }
    future.whenComplete((result, failure) -> request.settle(failure));
    return future;
  }

  /**
   * One request's reference on the copy and its count; see the class notes, "Requests hold the
   * copy". The reference goes back at the first of: the sequence leaving the engine ({@link
   * #ended}, handed to the manager's thread), the engine settling the future (Delivery's
   * settling hook), the caller settling it. The count is taken when the future is settled.
   */
  private final class Request {
    private final ManagedResource.Held<GeneratorReplica> held;
    private final AtomicBoolean releasing = new AtomicBoolean();
    private final CountDownLatch released = new CountDownLatch(1);

    Request(ManagedResource.Held<GeneratorReplica> held) {
      this.held = held;
    }

    /**
     * Before a waiter on the future wakes: the request is counted, and its reference is back
     * (given back here, or waited for if {@link #ended}'s task is giving it back right now),
     * so a caller's join() sees the books settled.
     */
    void settle(Throwable failure) {
      held.count(failure);
      giveBack();
    }

    /** The engine refused the request as it was submitted: given back, not counted. */
    void refused() {
      giveBack();
    }

    private void giveBack() {
      if (held.replica().engine.onScheduler()) {
        // Delivered on the engine's scheduler (an executor that runs tasks on the submitting
        // thread): giving the reference back may close this engine, and waiting for the
        // ending task's release waits for the manager's lock, which a closer holds while it
        // waits for this scheduler; both on the manager's thread instead, not waited for.
        if (!releasing.get()) {
          core.runElsewhere(this::release);
        }
        return;
      }
      if (!release()) {
        awaitReleased();
      }
    }

    /**
     * The engine's hook, on its scheduler: the sequence is over. Giving the reference back may
     * free the copy and so close this very engine, which waits for its scheduler: never here,
     * on the manager's thread instead.
     */
    void ended() {
      if (!releasing.get()) {
        core.runElsewhere(this::release);
      }
    }

    /** Gives the reference back if nobody has; true if this call did. */
    private boolean release() {
      if (!releasing.compareAndSet(false, true)) {
        return false;
      }
      try {
        held.release();
        done();
      } finally {
        released.countDown();
      }
      return true;
    }

    private void awaitReleased() {
      boolean interrupted = false;
      while (true) {
        try {
          // Short: a release takes the manager's lock, and if it frees the copy, it waits at
          // most one decode step for the engine's scheduler to stop.
          released.await();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void done() {
    synchronized (pendingLock) {
      if (--pending == 0) {
        pendingLock.notifyAll();
      }
    }
  }

  int active() {
    int n = 0;
    for (GeneratorReplica r : live) {
      n += r.engine.active();
    }
    return n;
  }

  long sharedSteps() {
    long n = 0;
    for (GeneratorReplica r : live) {
      n += r.engine.sharedSteps();
    }
    return n;
  }

  GenerationStats stats() {
    GenerationStats sum = GenerationStats.NONE;
    for (GeneratorReplica r : live) {
      sum = sum.plus(r.engine.stats());
    }
    return sum;
  }

  /** The decode graphs' batch sizes of a live copy; empty while none is loaded. */
  int[] decodeGraphSizes() {
    for (GeneratorReplica r : live) {
      return r.engine.decodeGraphSizes();
    }
    return new int[0];
  }

  int queued() {
    int n = 0;
    for (GeneratorReplica r : live) {
      n += r.engine.queued();
    }
    return n;
  }

  /** The manager's hook when the entry goes: what runs or waits fails, engines close. */
  private void closeEngines() {
    closed = true;
    for (GeneratorReplica r : live) {
      r.close();
    }
  }

  /** See the class notes, "Closing". */
  void close() {
    closed = true;
    boolean onScheduler = false;
    for (GeneratorReplica r : live) {
      onScheduler |= r.engine.onScheduler();
    }
    resource.close();
    if (onScheduler) {
      // A consumer that the callback executor runs on the engine's scheduler closes: the
      // requests give their copy back once it returns and the scheduler stops, so waiting here
      // would wait for this very thread (its whole timeout, every sequence held up).
      return;
    }
    long end = System.nanoTime() + CLOSE_TIMEOUT.toNanos();
    synchronized (pendingLock) {
      while (pending > 0) {
        long left = end - System.nanoTime();
        if (left <= 0) {
          LOG.warn("generator '{}': {} requests had not given their copy back {} after close;"
              + " the manager frees it when they do", id, pending, CLOSE_TIMEOUT);
          return;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(pendingLock, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }
}
