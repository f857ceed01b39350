package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.ModelInfo;
import ai.nos.ModelSpec;
import ai.nos.NosException;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.ScalingPolicy;
import ai.nos.Tensor;
import ai.nos.internal.Lease;
import ai.nos.internal.batch.DynamicBatcher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The heart of the model manager: which copy of which model lives on which device, by bytes.
 *
 * <h2>Books</h2>
 * Each device (a {@link Slot}) has a budget and books the bytes of every copy on it: the estimate
 * while a copy loads, its measurement once loaded. A copy is booked before it loads, so two loads
 * never both count on the same free bytes, and the books never exceed a budget. A measurement
 * replaces a known footprint only if no other copy ran on the device while it was taken: the
 * allocator's peak is device-wide, so a busy device makes a model look larger than it is.
 *
 * <p>What the native libraries keep on a device for the process rather than for a model (each
 * thread's cuBLAS/cuDNN workspaces, made the first time a thread runs there) is the device's own
 * overhead ({@link Backend#libraryBytes}), booked once per device beside the copies and shown
 * apart ({@link DeviceStats#overheadBytes()}). Before, the first model on a device paid for it:
 * an fp32 ResNet-50 measured 2,572 MB as the first copy on an H200 and 197 MB as the second.
 *
 * <h2>Concurrency</h2>
 * One lock guards the books, taken to place, evict, publish and free copies, never while a model
 * runs or loads. Calls pick a ready copy without the lock: the copies of a model sit in a
 * copy-on-write list, and each copy's {@link Lease} counts the calls on it (one CAS in, one out).
 * Threads that need room or a copy that is loading wait on one condition, signalled whenever a
 * copy is published or freed, or a copy goes idle while someone waits. {@link Router} picks the
 * copy of each call and holds it while the call runs; its essay says how.
 *
 * <h2>Locks and their order</h2>
 * The manager has one lock ({@link #lock}, reentrant, with its one condition): the core, {@link
 * Books}, {@link Parking}, {@link Autoscaler} and {@link Router} all take that same lock, none has
 * its own. The core takes it for the lifecycle (open, release, unload, scale, close), to book a
 * copy ({@link #bookWhenRoom}), to publish one after its load and to unbook it when freed, and for
 * the snapshots; never while a model loads or runs. The only locks below it are the batchers' and
 * the call threads' own: the core may take one while holding the manager lock (a copy freed under
 * the lock shuts its batcher down), and they never take the manager lock while holding theirs
 * (their release hook, which may signal, runs after they let go). A lease ({@link Lease}) is
 * lock-free, and its free action runs on whichever thread closes or releases it last: under the
 * manager lock when an eviction frees an idle copy, without it when a call gives back a copy's
 * last reference.
 *
 * <h2>Eviction</h2>
 * When a copy fits nowhere, idle copies are evicted least recently used first, on the device
 * where that disturbs the coldest work ({@link Placer#planEviction}). Eviction is
 * {@link Lease#closeIfIdle()}: an atomic step from "no calls" to "closed", so a copy with a call
 * in flight is never evicted. A copy unloaded while busy is freed by its last call; its batcher
 * stops intake then, so what it has queued runs at once rather than after the queue delay. After
 * evicting, the backend returns its cached blocks to the device so the next copy has the room.
 * Evicted models load again on their next call; a call waits for room up to the load timeout.
 * {@link Books} places, evicts and unbooks copies.
 *
 * <p>A token generator is booked as a model without being one ({@link #openLoaded}, {@link
 * ManagedResource}): its copy is its engine (weights plus key/value cache), loaded by its owner
 * on the device placed for it, and each of its requests holds the copy's lease until it ends,
 * so the same rules place, count and evict it; it is never scaled, parked or catalogued.
 *
 * <h2>Host tier</h2>
 * An evicted copy is parked in host memory ({@link Replica#park()}: its loaded, optimized module
 * with the weights copied off the device) when the backend can park it and the {@link HostTier}'s
 * budget holds it; least recently used parked copies leave the tier first, and then load from
 * their artifact again, as every copy did before the tier. A model's next load takes its parked
 * copy back ({@link Backend#unpark}) on whichever device it is placed: a copy of the weights, no
 * reading, passes or measurement. A parked copy whose artifact changed ({@link
 * Parked#staleReason()}, checked outside the lock) or that fails to come back is closed and the
 * model loads from its artifact. Parking runs in the lease's free action, so under the lock when
 * an eviction frees an idle copy: the device-to-host copy of the weights (milliseconds per hundred
 * megabytes over PCIe) holds the books for that long, as freeing the copy did before. The tier
 * never holds a copy of an unloaded model, nor anything after {@link #close}. {@link Parking}
 * moves copies in and out of the tier.
 *
 * <h2>Threads</h2>
 * Calls without batching run on the caller's thread on the CPU, and on a GPU on that device's
 * {@link CallThreads} (a few threads of the manager's, started with the device's first such
 * copy, ending at {@link #close}): libtorch keeps cuDNN's plans and the cuBLAS/cuDNN workspaces
 * per thread, so a first call on a fresh caller thread built plans for a second or more, and each
 * caller thread kept its workspaces on the device. Each of those threads runs a copy's warm-up
 * ({@link Replica#warmUpThread}) before the copy is READY, on every load, reload and unpark. The
 * caller waits for its call; the copy's reference is given back once, by the call thread after
 * the call or by a caller interrupted before it ran (see {@link CallThreads}). A batched copy's two
 * batcher workers run on the manager's worker pool (cached, daemon threads, ending after a minute
 * idle): a thread given back by an evicted copy serves the next one, so eviction and reload do not
 * start threads, and the per-thread state of the native libraries (cuBLAS/cuDNN handles and
 * workspaces, malloc arenas) is reused instead of made again. GPU loads run on the backend's loader
 * thread.
 *
 * <h2>Callers' futures</h2>
 * No user code runs on a worker. The batcher completes its own future for each call on a worker,
 * and only the manager's bookkeeping depends on it; {@link #inferAsync} hands the caller another
 * future, completed on the callback pool by {@link Completions} (cached like the worker pool, of
 * the same thread factory, threads named {@code nos-callback-N} by default), as Caffeine's async
 * cache completes through its executor. So a caller's {@code thenApply} may block, call the same
 * model, interrupt its thread or throw without holding up, deadlocking or stopping a batcher; a
 * callback that blocks holds one pool thread, and the next completion gets another; {@link
 * #close} does not wait for it beyond a short grace (its timeout is for the manager's own work,
 * not the application's). A synchronous
 * call joins the batcher's future itself: no hop; one that would wait alone with a worker free
 * runs on the caller's thread (on a GPU only a replay of a recorded CUDA graph; DynamicBatcher,
 * "Skipping the queue"). A caller that
 * settles its future first (cancel, orTimeout, a value of its own) cancels the batcher's, which
 * takes the call out of the queue if it waits there. Whoever settles a call, the copy's reference
 * is given back once, by the batcher's release hook: when the call leaves the queue, or when the
 * batch it is in stops running, never while the runner may still use the copy. A batcher that stops
 * by itself under a ready copy (its worker interrupted from outside, or dead of a bug) retires that
 * copy, and the call goes to a fresh one. A call with a timeout that still waits in the queue at
 * its deadline fails then ({@link ai.nos.DeadlineExceededException}), dropped by a timer on the
 * manager's one deadline thread, not when a worker next forms a batch, which behind a hung or long
 * run may be much later; that gives its copy back at once too. The same thread runs the short tasks
 * {@link #runElsewhere} hands over (a booked generator's request giving its copy back when its
 * sequence leaves the engine, off the engine's own thread). {@link #close} lets every batcher
 * drain at once for up to the close timeout, then fails what is left, so every caller wakes.
 *
 * <h2>Replicas</h2>
 * A model may want several copies, each on its own device; a call goes to the ready copy with the
 * fewest calls in flight. Copies beyond the first are loaded when asked for ({@link #scale}); a
 * model whose copies were all evicted comes back with one, on its next call.
 *
 * <h2>Scaling with traffic</h2>
 * A model with a {@link ScalingPolicy} (its spec's, else the manager's default) has its wanted
 * copies set by {@link #autoscale} ({@link Autoscaler}), one tick of a loop run every scaling
 * interval on a thread of the manager's factory (started with the first such model, ending at
 * {@link #close}); tests call it themselves with their clock. Under the lock, each model's {@link
 * Scaler} turns its signals (calls outstanding, p99) into a wanted count; a wanted count below the
 * copies retires the least busy copies, each only if idle ({@link Lease#closeIfIdle()}: never a
 * copy with a call queued or running; a busy one takes no new call, {@link Copy#draining}, and
 * is tried again next tick). A copy sharing a device is a trial ({@link Scaler}). Scale-ups then
 * load one
 * copy per model per round, the model with the most calls outstanding per copy first, until each
 * has its wanted copies or no room is left: the round order is the fairness rule when memory is
 * short. A new copy goes by the same placement as any other: a device the model is not on first;
 * the same device only for a batched model (its own batcher adds queues and workers there) and only
 * when no other device fits. It may evict idle copies of models without a policy (least recently
 * used first, as any load) and a scaled model's copies beyond its own wanted count, never one that
 * model still wants: so a model at its {@code minReplicas} is never evicted by another's scale-up,
 * and two growing models do not take each other's fresh (still idle) copies. A model with no
 * serving copy (all evicted) is not brought back by the loop; its next call loads it, as before.
 * Loads run outside the lock, on the loop's thread.
 */
public final class ManagerCore implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ManagerCore.class);

  final Backend backend;
  private final Placement placement;
  final long loadTimeoutNanos;
  private final FootprintCatalog catalog;
  final LongSupplier clock;
  /** The one lock of the books; see "Concurrency". Package-private for {@link Autoscaler}. */
  final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  /** Threads in {@link #bookWhenRoom}; read without the lock by {@link Router} to skip a signal. */
  final AtomicInteger waiters = new AtomicInteger();
  final Devices devices;
  /** Places, evicts and unbooks copies on the devices; see "Books" and "Eviction". */
  final Books books;
  final Map<String, Entry> models = new LinkedHashMap<>();
  /** Evicted copies parked in host memory; guarded by {@link #lock}. */
  private final HostTier hostTier;
  /** Moves copies between the device and {@link #hostTier}; see "Host tier". */
  private final Parking parking;
  /** Runs the batchers' workers; see "Threads" above. */
  private final ThreadPoolExecutor workerPool;
  /** Fails queued calls at their timeout; see "Callers' futures". */
  private final java.util.concurrent.ScheduledThreadPoolExecutor deadlines;
  /** Completes callers' futures, so runs their dependent actions; see "Callers' futures". */
  final Completions completions;
  /** Threads per CUDA device for calls without batching; see "Threads". */
  private final int callThreadsPerDevice;
  final ThreadFactory threadFactory;
  /** Guarded by {@link #lock}. */
  boolean closed;
  /** The scaling loop and its decisions; see "Scaling with traffic". */
  private final Autoscaler autoscaler = new Autoscaler(this);
  /** Routes calls to copies; see {@link Router}. Package-private for {@link ManagedResource}. */
  final Router router = new Router(this);
  private Duration closeTimeout = DynamicBatcher.DEFAULT_CLOSE_TIMEOUT;

  /**
   * @param budgets each device the manager may use, with its budget in bytes
   * @param catalog remembered footprints; null for none
   */
  public ManagerCore(Backend backend, Map<Backend.DeviceInfo, Long> budgets, Placement placement,
      Duration loadTimeout, FootprintCatalog catalog, LongSupplier clock) {
    this(backend, budgets, placement, loadTimeout, catalog, clock, null);
  }

  /**
   * @param threads makes the worker pool's threads; null for daemon threads named
   *     {@code nos-worker-N}
   */
  public ManagerCore(Backend backend, Map<Backend.DeviceInfo, Long> budgets, Placement placement,
      Duration loadTimeout, FootprintCatalog catalog, LongSupplier clock, ThreadFactory threads) {
    this(backend, budgets, placement, loadTimeout, catalog, clock, threads, 0);
  }

  /**
   * @param hostBytes the host tier's budget for evicted copies (see "Host tier"); 0 turns it off
   * @throws IllegalArgumentException if {@code hostBytes} is negative
   */
  public ManagerCore(Backend backend, Map<Backend.DeviceInfo, Long> budgets, Placement placement,
      Duration loadTimeout, FootprintCatalog catalog, LongSupplier clock, ThreadFactory threads,
      long hostBytes) {
    this(backend, budgets, placement, loadTimeout, catalog, clock, threads, hostBytes,
        DEFAULT_CALL_THREADS);
  }

  /** Call threads per CUDA device unless set: one runs while the other hands a call over. */
  public static final int DEFAULT_CALL_THREADS = 2;

  /**
   * @param callThreads threads per CUDA device that run calls without batching (see "Threads")
   * @throws IllegalArgumentException if {@code hostBytes} is negative or {@code callThreads}
   *     below 1
   */
  public ManagerCore(Backend backend, Map<Backend.DeviceInfo, Long> budgets, Placement placement,
      Duration loadTimeout, FootprintCatalog catalog, LongSupplier clock, ThreadFactory threads,
      long hostBytes, int callThreads) {
    if (callThreads < 1) {
      throw new IllegalArgumentException("call threads per device must be at least 1 but was "
          + callThreads);
    }
    this.callThreadsPerDevice = callThreads;
    this.threadFactory = threads;
    this.hostTier = new HostTier(hostBytes);
    this.workerPool = pool(threads, "nos-worker-");
    this.completions = new Completions(pool(threads, "nos-callback-"));
    this.deadlines = scheduler(threads);
    this.backend = backend;
    this.parking = new Parking(lock, backend, hostTier);
    this.placement = placement;
    this.loadTimeoutNanos = loadTimeout.toNanos();
    this.catalog = catalog;
    this.clock = clock;
    List<Slot> slots = new ArrayList<>();
    budgets.forEach((info, budget) -> slots.add(new Slot(info, budget)));
    this.devices = new Devices(slots);
    this.books = new Books(lock, changed, devices, placement, backend, hostTier);
  }

  /**
   * Sets the scaling policy of specs without one (null for none) and the scaling loop's interval
   * (zero: no loop thread; {@link #autoscale} runs when called). Called once, before any load.
   *
   * @throws IllegalArgumentException if {@code interval} is negative
   */
  public void scaling(ScalingPolicy defaultPolicy, Duration interval) {
    if (interval == null || interval.isNegative()) {
      throw new IllegalArgumentException("scaling interval must be zero or positive but was "
          + interval);
    }
    lock.lock();
    try {
      autoscaler.configure(defaultPolicy, interval.toNanos());
    } finally {
      lock.unlock();
    }
  }

  /**
   * Registers a model (or takes another handle on the same one) and loads its copies.
   *
   * @throws IllegalStateException if a different spec is loaded under the same id
   */
  public Entry open(ModelSpec spec) {
    Entry entry;
    lock.lock();
    try {
      checkOpen();
      entry = models.get(spec.id());
      if (entry != null && !entry.spec.equals(spec)) {
        throw new IllegalStateException("model '" + spec.id() + "' is already loaded with a"
            + " different spec; unload it first. Loaded: " + entry.spec + "; given: " + spec);
      }
      if (entry == null) {
        devices.allowed(spec);
        entry = newEntry(spec);
        models.put(spec.id(), entry);
        if (entry.scaler != null) {
          autoscaler.startLoopIfNeeded();
        }
      }
      entry.handles++;
    } finally {
      lock.unlock();
    }
    return filled(entry);
  }

  /** Fills a new handle's entry with its copies; a failure gives the handle back. */
  private Entry filled(Entry entry) {
    try {
      fill(entry);
    } catch (RuntimeException | Error e) {
      release(entry);
      throw e;
    }
    return entry;
  }

  /**
   * Registers something booked like a model without being one (a token generator, through
   * {@link ManagedResource}): placed, booked, measured, evicted when idle and freed as a model's
   * copy is, but loaded by {@code loader} on the device placed for it instead of by the backend,
   * never scaled, and kept out of the footprint catalog (its footprint depends on settings the
   * spec does not carry). The first copy loads now. {@code onRemoved} runs under the lock when it
   * is unloaded or the manager closes, after its copies' leases closed, so that its owner can end
   * what holds them. One handle only: the id must be new.
   *
   * @throws IllegalStateException if the id is loaded already, or the manager is closed
   */
  public Entry openLoaded(ModelSpec spec, java.util.function.Function<Device, ? extends Replica>
      loader, Runnable onRemoved) {
    Entry entry;
    lock.lock();
    try {
      checkOpen();
      if (models.containsKey(spec.id())) {
        throw new IllegalStateException("'" + spec.id() + "' is already loaded in this model"
            + " manager; ids must be unique. Loaded: " + models.keySet());
      }
      entry = new Entry(spec, Math.min(backend.estimateBytes(spec), largestBudget(spec)), false);
      entry.loader = loader;
      entry.onRemoved = onRemoved;
      models.put(spec.id(), entry);
      entry.handles++;
    } finally {
      lock.unlock();
    }
    return filled(entry);
  }

  /** Drops a handle; the model is unloaded when the last one goes. */
  public void release(Entry entry) {
    lock.lock();
    try {
      if (--entry.handles <= 0 && !entry.removed) {
        remove(entry);
      }
    } finally {
      lock.unlock();
    }
  }

  /** Unloads a model now, whatever handles remain; calls in flight finish first. */
  public void unload(String id) {
    lock.lock();
    try {
      remove(entry(id));
    } finally {
      lock.unlock();
    }
  }

  /**
   * Sets how many copies a model keeps, loading or unloading copies now.
   *
   * @throws IllegalArgumentException if {@code replicas} is below 1 or above the devices the
   *     model may use
   */
  public void scale(String id, int replicas) {
    Entry entry;
    lock.lock();
    try {
      entry = entry(id);
      int max = devices.allowed(entry.spec).size();
      if (Books.sharesDevices(entry)) {
        max = entry.scaler.policy().maxReplicas();
      }
      if (replicas < 1 || replicas > max) {
        throw new IllegalArgumentException("replicas of model '" + id + "' must be in [1, " + max
            + "] (" + (Books.sharesDevices(entry) ? "its scaling policy's maxReplicas"
                : "one copy per device it may use") + ") but was " + replicas);
      }
      entry.replicas = replicas;
      List<Copy> extra = new ArrayList<>(entry.copies);
      extra.removeIf(c -> c.state == Copy.State.GONE);
      extra.sort(Comparator.comparingInt(Copy::inFlight));
      for (int i = 0; i < extra.size() - replicas; i++) {
        retire(extra.get(i));
      }
    } finally {
      lock.unlock();
    }
    fill(entry);
  }

  /**
   * Queues a call on the least busy ready copy's batcher (loading a copy first if none is ready);
   * without batching, runs it here and returns a completed future. A batched call's future is
   * the caller's: it completes on the callback pool (see "Callers' futures" above), and
   * settling it first (cancel, a timeout, a value) takes the call out of the queue. Routed by
   * {@link Router}.
   */
  public CompletableFuture<Map<String, Tensor>> inferAsync(Entry entry,
      Map<String, Tensor> inputs, Priority priority, Duration timeout) {
    return router.inferAsync(entry, inputs, priority, timeout);
  }

  /**
   * Runs a call on the least busy ready copy, loading one first if none is ready. Routed by
   * {@link Router}.
   */
  public Map<String, Tensor> infer(Entry entry, Map<String, Tensor> inputs) {
    return router.infer(entry, inputs);
  }


  /**
   * Loads copies until the model has as many as it wants (each on its own device), waiting for
   * room up to the load timeout when the devices are full of busy models.
   */
  private void fill(Entry entry) {
    long deadline = clock.getAsLong() + loadTimeoutNanos;
    for (Copy copy; (copy = bookWhenRoom(entry, deadline,
        () -> entry.removed || entry.live() >= entry.replicas ? Booking.DONE : Booking.PLACE,
        () -> "no room for copy " + (entry.live() + 1) + " of model '" + entry.spec.id() + "' ("
            + entry.estimate + " bytes) within " + TimeUnit.NANOSECONDS.toMillis(loadTimeoutNanos)
            + " ms on a device it does not use yet; the others are busy")) != null; ) {
      load(copy, false);
    }
  }

  /** What a thread that wants a copy should do now. */
  enum Booking { DONE, WAIT, PLACE }

  /**
   * Under the lock, asks {@code next} what to do until it says {@link Booking#DONE} (returns
   * null) or a copy could be booked when it says {@link Booking#PLACE} (returns the booked copy,
   * to load outside the lock); otherwise waits for a change, up to {@code deadline}.
   */
  Copy bookWhenRoom(Entry entry, long deadline, Supplier<Booking> next,
      Supplier<String> timeout) {
    lock.lock();
    waiters.incrementAndGet();
    try {
      for (;;) {
        checkOpen();
        Booking step = next.get();
        if (step == Booking.DONE) {
          return null;
        }
        if (step == Booking.PLACE) {
          Copy copy = place(entry);
          if (copy != null) {
            return copy;
          }
          devices.requireFits(entry);
        }
        long left = deadline - clock.getAsLong();
        if (left <= 0) {
          throw new NosException(timeout.get() + ": "
              + Devices.describe(devices.allowed(entry.spec)));
        }
        changed.awaitNanos(left);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new NosException("interrupted while waiting for room for model '"
          + entry.spec.id() + "'", e);
    } finally {
      waiters.decrementAndGet();
      lock.unlock();
    }
  }

  private Copy place(Entry entry) {
    return books.place(entry, false);
  }

  /**
   * One tick of the scaling loop (see "Scaling with traffic" and {@link Autoscaler}): decides
   * each scaled model's wanted copies, retires idle copies above it, then loads copies up to it
   * while there is room. Runs on the loop's thread, or a test's; never throws for a model's
   * failed load (logged). Called without the lock.
   */
  public void autoscale() {
    autoscaler.tick();
  }

  /** Whether {@link #close} has begun; takes the lock. */
  boolean isClosed() {
    lock.lock();
    try {
      return closed;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Loads a booked copy outside the lock and publishes it; on failure, gives the room back.
   * Called without the lock; takes it to read and publish the books.
   */
  Copy load(Copy copy, boolean acquireForCaller) {
    Entry entry = copy.entry;
    long callsBefore;
    boolean busyBefore;
    lock.lock();
    try {
      callsBefore = copy.slot.calls.sum();
      busyBefore = copy.slot.busyBesides(copy);
    } finally {
      lock.unlock();
    }
    Parked parked = copy.parked;
    copy.parked = null;
    Replica replica;
    boolean restored = false;
    try {
      replica = parked == null ? null : parking.unpark(copy, parked);
      restored = replica != null;
      if (replica == null) {
        replica = entry.loader != null ? entry.loader.apply(copy.slot.info.device())
            : backend.load(entry.spec, copy.slot.info);
      }
    } catch (RuntimeException | Error e) {
      lock.lock();
      try {
        books.unbook(copy);
      } finally {
        lock.unlock();
      }
      throw e;
    }
    long warmStart = System.nanoTime();
    DynamicBatcher batcher;
    try {
      // A close during the load shut the worker pool: say so, rather than that it refused.
      if (isClosed()) {
        throw goneWhileLoading(entry);
      }
      batcher = startBatcher(entry, copy, replica);
      if (batcher == null && copy.slot.info.device().isCuda() && entry.loader == null) {
        warmCallThreads(entry, copy, replica);
      }
    } catch (RuntimeException | Error e) {
      lock.lock();
      try {
        books.unbook(copy);
      } finally {
        lock.unlock();
      }
      replica.close();
      throw e;
    }
    long warmUpNanos = replica.warmUpNanos()
        + (batcher == null && !copy.slot.info.device().isCuda() ? 0
            : System.nanoTime() - warmStart);
    lock.lock();
    try {
      long measured = replica.footprintBytes();
      // The device's peak counts every allocation on it, so calls of other copies during the
      // load inflate the measurement. A measurement taken while the device was quiet is adopted
      // and remembered; a noisy one only when the model had none (it can only be too large,
      // which is safe), and it is not written to the catalog.
      boolean quiet = !busyBefore && copy.slot.calls.sum() == callsBefore
          && !copy.slot.busyBesides(copy);
      if (restored) {
        // Not measured again: the copy keeps the footprint it was measured at.
        copy.slot.used += measured - copy.bytes;
        copy.bytes = measured;
      } else if (quiet || !entry.measured) {
        copy.slot.used += measured - copy.bytes;
        copy.bytes = measured;
        entry.estimate = measured;
        entry.measured = true;
        if (catalog != null && quiet && entry.loader == null) {
          catalog.put(backend.footprintKey(entry.spec, copy.slot.info), measured);
        }
      } else if (measured != copy.bytes) {
        LOG.debug("model '{}' measured {} bytes on {} while other models ran there; keeping its"
            + " known footprint of {} bytes", entry.spec.id(), measured, copy.slot.info.device(),
            copy.bytes);
      }
      // The libraries' bytes the load (and the warm-ups of new threads) made on the device:
      // booked once for the device, never in a model's footprint (see "Books").
      copy.slot.overhead = Math.max(copy.slot.overhead, backend.libraryBytes(copy.slot.info));
      if (copy.slot.over()) {
        books.evictIdle(copy.slot, -copy.slot.free(), entry);
      }
      if (copy.slot.over() || entry.removed || closed) {
        books.unbook(copy);
        if (batcher != null) {
          batcher.close(Duration.ZERO);
        }
        replica.close();
        if (entry.removed || closed) {
          throw goneWhileLoading(entry);
        }
        throw new NosException("model '" + entry.spec.id() + "' measured " + copy.bytes
            + " bytes on " + copy.slot.info.device() + ", more than its budget leaves even after"
            + " evicting idle models: " + copy.slot + ". The measurement is remembered for the"
            + " next placement.");
      }
      copy.replica = replica;
      copy.batcher = batcher;
      copy.lease = new Lease(() -> free(copy));
      if (acquireForCaller) {
        copy.lease.tryAcquire();
      }
      copy.lastUsed = clock.getAsLong();
      copy.state = Copy.State.READY;
      copy.slot.loads++;
      entry.loads++;
      entry.optimizations = replica.optimizations();
      entry.warmUpNanos = warmUpNanos;
      entry.buckets = replica.batchBuckets().sizes();
      changed.signalAll();
      LOG.info("model '{}' ready on {} ({} bytes{}; warmed up in {} ms{}; {})", entry.spec.id(),
          copy.slot.info.device(), copy.bytes, restored ? ", from host memory" : "",
          TimeUnit.NANOSECONDS.toMillis(warmUpNanos),
          batcher == null || replica.batchBuckets().isEmpty() ? ""
              : " at batch sizes " + replica.batchBuckets(), copy.slot);
      return acquireForCaller ? copy : null;
    } finally {
      lock.unlock();
    }
  }

  /**
   * The copy's batcher when the spec asks for batching, else null: its workers pad batches to
   * the replica's buckets and each warm its own thread up ({@link Replica#warmUpThread}) before
   * this returns, one worker at a time (the replica serializes them), so that no call on the
   * READY copy meets a cold worker. Waits at most the load timeout; past it the copy serves
   * (logged) while the workers finish warming up.
   */
  private DynamicBatcher startBatcher(Entry entry, Copy copy, Replica replica) {
    if (entry.spec.batching().isEmpty()) {
      return null;
    }
    DynamicBatcher.Builder built = DynamicBatcher.builder(entry.spec, replica::inferBatch)
        // Two workers: one assembles the next batch while the other's batch runs.
        .workers(2)
        // On the CPU a lone call runs on its caller, as without batching, and so does every call
        // while the batcher measures that faster (issue 20).
        .runOnCallerWhenIdle(copy.slot.info.device().isCpu())
        .buckets(replica.batchBuckets())
        .warmUp(replica::warmUpThread)
        .executor(workerPool, "nos-batcher-" + entry.spec.id() + "@" + copy.slot.info.device())
        .deadlines(deadlines);
    if (copy.slot.info.device().isCuda()) {
      // On a GPU a lone call that replays a recorded graph runs on its caller too: a replay needs
      // none of the workers' warmed per-thread state, and the hand-off cost two thread wake-ups.
      built.runOnIdleCallerIf(replica::runsColdThreadsWarm);
    }
    DynamicBatcher batcher = built.start();
    try {
      if (!batcher.awaitWarmUp(Duration.ofNanos(loadTimeoutNanos))) {
        LOG.warn("model '{}': its batch workers on {} did not warm up within {} ms; it serves"
            + " while they finish", entry.spec.id(), copy.slot.info.device(),
            TimeUnit.NANOSECONDS.toMillis(loadTimeoutNanos));
      }
    } catch (InterruptedException e) {
      // The copy serves; its workers finish warming up before their first batch.
      Thread.currentThread().interrupt();
    }
    return batcher;
  }

  /**
   * Runs the copy's warm-up on each call thread of its device (starting them with the device's
   * first copy without batching), each after the calls it has queued, so that no call on the
   * READY copy meets a cold thread. Waits at most the load timeout; past it, the threads that
   * had not started it skip it (logged) and build their plans on their first call.
   */
  private void warmCallThreads(Entry entry, Copy copy, Replica replica) {
    CallThreads threads;
    lock.lock();
    try {
      threads = copy.slot.callThreads;
      if (threads == null && !closed) {
        threads = new CallThreads(copy.slot.info.device().toString(), callThreadsPerDevice,
            threadFactory);
        copy.slot.callThreads = threads;
      }
    } finally {
      lock.unlock();
    }
    if (threads == null) {
      return;
    }
    String what = "model '" + entry.spec.id() + "' on " + copy.slot.info.device();
    int cold = threads.warmUp(replica::warmUpThread, Duration.ofNanos(loadTimeoutNanos), what);
    if (cold > 0) {
      LOG.warn("{}: {} of its call threads did not warm up within {} ms (busy); it serves, and"
          + " their first call builds its plans", what, cold,
          TimeUnit.NANOSECONDS.toMillis(loadTimeoutNanos));
    }
  }

  /** Why a copy that was loading is not published: its model or the manager went meanwhile. */
  private IllegalStateException goneWhileLoading(Entry entry) {
    return new IllegalStateException("model '" + entry.spec.id() + "' was "
        + (closed ? "loading when the model manager was closed" : "unloaded while it loaded"));
  }

  /** The lease's free action: runs once, when a closed copy has no call left. */
  private void free(Copy copy) {
    DynamicBatcher batcher = copy.batcher;
    if (batcher != null) {
      // The lease reached zero, so the batcher has released every call: none is queued and the
      // runner is done with all. A worker may still be completing the last ones' futures, so stop
      // intake only: close(ZERO) would fail those. Waiting for the workers to exit would deadlock
      // when free runs under the lock (eviction), since a completion may take the lock to signal.
      batcher.shutdown();
    }
    Parked parked = copy.park ? parking.park(copy) : null;
    if (parked == null) {
      copy.replica.close();
    }
    List<Parked> leaving = List.of();
    lock.lock();
    try {
      if (batcher != null) {
        copy.entry.pastBatches.add(batcher.stats().batches());
      }
      books.unbook(copy);
      if (parked != null) {
        leaving = copy.entry.removed || closed ? List.of(parked)
            : hostTier.put(copy.entry, parked);
        if (!leaving.contains(parked)) {
          LOG.debug("model '{}' parked in host memory ({} bytes; host tier: {})",
              copy.entry.spec.id(), parked.hostBytes(), hostTier.stats());
        }
      }
    } finally {
      lock.unlock();
    }
    leaving.forEach(Parking::closeQuietly);
  }

  /**
   * Closes a copy's lease, so that no new call takes it, and stops its batcher's intake, so that
   * the calls already queued run now instead of after their queue delay: those hold the lease,
   * and the copy is freed only when they end (with a long maxQueueDelay, an unload would
   * otherwise leave their futures pending for that long). Under the lock, as free() does.
   */
  private static void retire(Copy copy) {
    Lease l = copy.lease;
    if (l != null) {
      l.close();
    }
    DynamicBatcher batcher = copy.batcher;
    if (batcher != null) {
      batcher.shutdown();
    }
  }

  private void remove(Entry entry) {
    entry.removed = true;
    models.remove(entry.spec.id(), entry);
    Parked parked = hostTier.drop(entry);
    if (parked != null) {
      Parking.closeQuietly(parked);
    }
    for (Copy c : entry.copies) {
      retire(c);
    }
    if (entry.onRemoved != null) {
      try {
        entry.onRemoved.run();
      } catch (RuntimeException e) {
        LOG.warn("'{}': its owner failed while it was unloaded: {}", entry.spec.id(), e.toString());
      }
    }
    changed.signalAll();
  }

  void signal() {
    lock.lock();
    try {
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private Entry newEntry(ModelSpec spec) {
    Entry entry = newEntryUnscaled(spec);
    ScalingPolicy policy = autoscaler.policyFor(spec);
    if (policy != null) {
      entry.scaler = new Scaler(policy);
      entry.replicas = Math.min(policy.maxReplicas(),
          Math.max(entry.replicas, policy.minReplicas()));
    }
    return entry;
  }

  private Entry newEntryUnscaled(ModelSpec spec) {
    Slot first = devices.allowed(spec).get(0);
    if (catalog != null) {
      var known = catalog.get(backend.footprintKey(spec, first.info));
      if (known.isPresent()) {
        return new Entry(spec, known.getAsLong(), true);
      }
    }
    if (spec.memoryBytes().isPresent()) {
      return new Entry(spec, spec.memoryBytes().getAsLong(), false);
    }
    // A guess never refuses a load: above every budget, it books the largest one (evicting what
    // is idle there) and the measurement decides. A size the spec states is the user's word.
    return new Entry(spec, Math.min(backend.estimateBytes(spec), largestBudget(spec)), false);
  }

  private long largestBudget(ModelSpec spec) {
    long largest = 0;
    for (Slot s : devices.allowed(spec)) {
      largest = Math.max(largest, s.budget - s.overhead);
    }
    return largest;
  }

  private Entry entry(String id) {
    Entry e = models.get(id);
    if (e == null) {
      throw new IllegalArgumentException("no model '" + id + "' is loaded; loaded: "
          + models.keySet());
    }
    return e;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the model manager is closed");
    }
  }

  /** For tests: the call threads of every device that has them. */
  List<Thread> callThreads() {
    lock.lock();
    try {
      List<Thread> out = new ArrayList<>();
      for (Slot s : devices.all()) {
        if (s.callThreads != null) {
          out.addAll(s.callThreads.threads());
        }
      }
      return out;
    } finally {
      lock.unlock();
    }
  }

  /** For tests: the deadline timers pending (one per queued call with a timeout). */
  int pendingDeadlines() {
    return deadlines.getQueue().size();
  }

  /** For tests: how long {@link #close} waits for queued calls. */
  void closeTimeout(Duration timeout) {
    this.closeTimeout = timeout;
  }

  /** A snapshot of every model. */
  public List<ModelInfo> models() {
    lock.lock();
    try {
      List<ModelInfo> out = new ArrayList<>();
      for (Entry e : models.values()) {
        out.add(e.snapshot());
      }
      return out;
    } finally {
      lock.unlock();
    }
  }

  /** A snapshot of one model. */
  public ModelInfo info(Entry e) {
    lock.lock();
    try {
      return e.snapshot();
    } finally {
      lock.unlock();
    }
  }

  /** A snapshot of every device. */
  public List<DeviceStats> stats() {
    lock.lock();
    try {
      List<DeviceStats> out = new ArrayList<>();
      for (Slot s : devices.all()) {
        out.add(s.snapshot(backend.allocatedBytes(s.info)));
      }
      return out;
    } finally {
      lock.unlock();
    }
  }

  /** A snapshot of the host tier. */
  public HostTier.Stats hostTierStats() {
    lock.lock();
    try {
      return hostTier.stats();
    } finally {
      lock.unlock();
    }
  }

  /**
   * The application's thread factory this manager makes its threads with, or null for NOS's
   * daemon threads: for what a resource's loader starts (a generator's scheduler).
   */
  public ThreadFactory applicationThreads() {
    return threadFactory;
  }

  /**
   * Books {@code bytes} of library state a resource's loader made on {@code device} outside the
   * backend's threads (a generator's scheduler thread, LibraryState's essay) as the device's
   * library bytes; the manager adopts them as overhead when the load completes. Called by the
   * loader, before it returns.
   */
  public void addLibraryBytes(ai.nos.Device device, long bytes) {
    if (bytes <= 0) {
      return;
    }
    for (Slot s : devices.all()) {
      if (s.info.device().equals(device)) {
        backend.addLibraryBytes(s.info, bytes);
        return;
      }
    }
  }

  /** The entry of a loaded model, for handles. */
  public Entry find(String id) {
    lock.lock();
    try {
      return entry(id);
    } finally {
      lock.unlock();
    }
  }

  /** The device a model's least busy ready copy is on, or where its first copy was booked. */
  public Device deviceOf(Entry entry) {
    for (Copy c : entry.copies) {
      if (c.state == Copy.State.READY) {
        return c.slot.info.device();
      }
    }
    return entry.copies.isEmpty() ? devices.allowed(entry.spec).get(0).info.device()
        : entry.copies.get(0).slot.info.device();
  }

  public ModelSpec spec(Entry entry) {
    return entry.spec;
  }

  /** Estimated bytes of a spec, for ordering bulk loads. */
  public long estimate(ModelSpec spec) {
    lock.lock();
    try {
      Entry e = models.get(spec.id());
      return e != null ? e.estimate : newEntry(spec).estimate;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Stops new loads and calls, lets every batcher run what is queued for up to the close timeout
   * (all at once), then fails what is left, so that no caller stays parked; frees each copy once
   * its calls end. Idempotent; waits only on its first call.
   */
  @Override
  public void close() {
    List<DynamicBatcher> batchers = new ArrayList<>();
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      autoscaler.interruptLoop();
      for (Entry e : new ArrayList<>(models.values())) {
        for (Copy c : e.copies) {
          if (c.batcher != null) {
            batchers.add(c.batcher);
          }
        }
        remove(e);
      }
      hostTier.clear().forEach(Parking::closeQuietly);
    } finally {
      lock.unlock();
    }
    batchers.forEach(DynamicBatcher::shutdown);
    long start = System.nanoTime();
    long budget = closeTimeout.toNanos();
    for (DynamicBatcher b : batchers) {
      // A batcher whose runs outlast the wait fails its calls; their copy stays booked until the
      // runs end, since the runner still uses it.
      b.close(Duration.ofNanos(Math.max(0, budget - (System.nanoTime() - start))));
    }
    List<CallThreads> callThreads = new ArrayList<>();
    lock.lock();
    try {
      for (Slot s : devices.all()) {
        if (s.callThreads != null) {
          callThreads.add(s.callThreads);
        }
      }
    } finally {
      lock.unlock();
    }
    for (CallThreads t : callThreads) {
      // Calls queued there run first; a call that comes later runs on its caller's thread.
      if (!t.shutdown(Duration.ofNanos(Math.max(0, budget - (System.nanoTime() - start))))) {
        LOG.warn("model manager: call threads still running a call after the close timeout: {}",
            t.threads());
      }
    }
    backend.close();
    // Workers of batchers still running keep running; idle pool threads end now.
    // Every batcher is closed: no call is left for a timer to fail, so the timers are dropped
    // (the policy set in scheduler()); tasks handed over by runElsewhere still run (a closed
    // generator's requests give their copies back there).
    deadlines.shutdown();
    ai.nos.internal.Shutdown.awaitPools(LOG, "model manager",
        Duration.ofNanos(Math.max(0, budget - (System.nanoTime() - start))), workerPool,
        deadlines);
    // The callback pool runs the application's dependent actions, which may never return: close
    // waits for them only the least wait, not its timeout (a callback that blocks holds its own
    // thread, never the close); each thread ends when its callback does.
    ai.nos.internal.Shutdown.awaitPools(LOG, "model manager's callback pool", Duration.ZERO,
        completions.pool());
  }

  /**
   * The timers of queued calls' deadlines: one thread (a daemon named {@code nos-deadlines-N}, or
   * the application's), started with the first call that has a timeout and ending after a minute
   * without one; a timer is dropped when its call settles, so it holds nothing of finished calls.
   */
  private static java.util.concurrent.ScheduledThreadPoolExecutor scheduler(
      ThreadFactory threads) {
    var s = new java.util.concurrent.ScheduledThreadPoolExecutor(1,
        orDaemon(threads, "nos-deadlines-"));
    s.setRemoveOnCancelPolicy(true);
    s.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    s.setKeepAliveTime(60, TimeUnit.SECONDS);
    s.allowCoreThreadTimeOut(true);
    return s;
  }

  /**
   * Runs NOS's own short task off the calling thread, for work that must not run where it
   * arises (a generation engine's scheduler giving a request's copy back, which may close that
   * engine): on the deadline thread (which always gets a thread: see {@link #orDaemon}), or,
   * once the manager is closed, on a new thread (the application's factory's, or a daemon named
   * {@code nos-release-N}). The task runs once either way.
   */
  public void runElsewhere(Runnable task) {
    try {
      deadlines.execute(task);
      return;
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // closed: below
    }
    orDaemon(threadFactory, "nos-release-").newThread(task).start();
  }

  /**
   * The application's factory where it gives a thread, else a daemon named {@code prefix + N}
   * (a warning, once per factory made here): for NOS's own short work (deadline timers, copies
   * given back), which must run even when the application's factory returns null or throws. A
   * pool takes a factory's null silently and keeps its tasks queued with no thread for ever:
   * queued calls' timeouts would never fire, a booked generator's copy never be given back.
   */
  static ThreadFactory orDaemon(ThreadFactory application, String prefix) {
    ThreadFactory daemons = threads(null, prefix);
    if (application == null) {
      return daemons;
    }
    AtomicBoolean warned = new AtomicBoolean();
    return task -> {
      Thread t = null;
      String why = "it returned null";
      try {
        t = application.newThread(task);
      } catch (RuntimeException e) {
        why = e.toString();
      }
      if (t == null) {
        if (!warned.getAndSet(true)) {
          LOG.warn("model manager: the application's thread factory gave no thread ({}); NOS's"
              + " own short work (deadline timers, copies given back) runs on NOS daemon"
              + " threads {}N", why, prefix);
        }
        t = daemons.newThread(task);
      }
      return t;
    };
  }

  /** A cached pool of daemon threads named {@code prefix + N}, or of the application's. */
  private static ThreadPoolExecutor pool(ThreadFactory threads, String prefix) {
    return new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS,
        new SynchronousQueue<>(), threads(threads, prefix));
  }

  /** The application's thread factory, or daemon threads named {@code prefix + N}. */
  private static ThreadFactory threads(ThreadFactory threads, String prefix) {
    if (threads != null) {
      return threads;
    }
    AtomicInteger n = new AtomicInteger();
    return task -> {
      Thread t = new Thread(task, prefix + n.getAndIncrement());
      t.setDaemon(true);
      return t;
    };
  }
}
