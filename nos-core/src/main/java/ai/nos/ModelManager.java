package ai.nos;

import ai.nos.internal.Inputs;
import ai.nos.internal.manager.Backend;
import ai.nos.internal.manager.FootprintCatalog;
import ai.nos.internal.manager.ManagedModel;
import ai.nos.internal.manager.ManagerAccess;
import ai.nos.internal.manager.ManagerCore;
import ai.nos.internal.torch.Artifacts;
import ai.nos.internal.torch.TorchBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadFactory;
import java.util.function.LongSupplier;

/**
 * Which models live on which device: many models over every local GPU (or the CPU), placed by
 * measured memory, evicted when room runs out, and copied over devices for throughput.
 *
 * <pre>{@code
 * try (ModelManager manager = ModelManager.builder().memoryFraction(0.8).build()) {
 *   Model resnet = manager.load(resnetSpec);      // placed on the GPU where it fits best
 *   Model bert = manager.load(bertSpec);          // evicts idle models if it fits nowhere
 *   manager.scale("resnet50", 2);                 // a second copy, on another GPU
 *   resnet.infer(Map.of("image", batch));         // goes to the least busy copy
 *   manager.models().forEach(System.out::println); // devices, bytes, state, latency
 * }
 * }</pre>
 *
 * <ul>
 *   <li><b>Bytes, not counts.</b> Each device has a budget (a fraction of its memory, or bytes).
 *       A model's footprint is measured when it loads (CUDA: the caching allocator's peak over the
 *       load and a warm-up at its largest batch) and remembered on disk, so the next placement
 *       knows it before loading. A spec may state it ({@link ModelSpec#memoryBytes()}).
 *   <li><b>Placement.</b> {@link Placement#BEST_FIT} by default, or {@link Placement#SPREAD}; never
 *       beyond a budget.
 *   <li><b>Eviction.</b> When a model fits nowhere, idle models are evicted, least recently used
 *       first. A model with calls in flight is never evicted; an evicted model loads again on its
 *       next call. Calls wait for room up to the load timeout.
 *   <li><b>Host tier.</b> An evicted GPU copy is parked in host memory (its optimized module,
 *       weights copied off the device) within {@link Builder#hostMemoryBytes}, least recently
 *       used out first; its next call copies the weights back (on any GPU it may use) instead of
 *       loading the artifact again. A copy whose artifact file changed is not reused.
 *   <li><b>Sharing.</b> Loading a spec that is already loaded returns a handle on the same copy;
 *       the model is unloaded when its last handle is closed (or by {@link #unload}).
 *   <li><b>Replicas.</b> {@link ModelSpec#replicas()} or {@link #scale} keeps copies on distinct
 *       devices; each call goes to the ready copy with the fewest calls in flight.
 *   <li><b>Scaling with traffic.</b> A model with a {@link ScalingPolicy} (its spec's, or
 *       {@link Builder#scaling}) gets copies added when its calls queue up and idle copies
 *       retired when they have not been needed for the policy's window, within its bounds and the
 *       memory budget; {@link ModelInfo} shows the copies and the last decision.
 * </ul>
 *
 * <p>Thread-safe; see {@code ai.nos.internal.manager.ManagerCore} for the design. {@link Nos#load}
 * uses {@link #getDefault()}.
 */
public final class ModelManager implements AutoCloseable {
  static {
    // Token generators booked with a manager reach its core through this door (see there).
    ManagerAccess.register(new ManagerAccess.Door() {
      @Override
      public ManagerCore core(ModelManager manager) {
        return manager.core;
      }

      @Override
      public void checkAllowed(ModelManager manager, ModelSpec spec) {
        manager.checkAllowed(spec);
      }
    });
  }

  private final ManagerCore core;
  private final Backend backend;
  private final List<Path> allowedDirectories;

  private ModelManager(ManagerCore core, Backend backend, List<Path> allowedDirectories) {
    this.core = core;
    this.backend = backend;
    this.allowedDirectories = allowedDirectories;
  }

  /**
   * A builder with every CUDA device and the CPU, 90% of each, best fit. A spec whose device is
   * {@code auto} goes to the CUDA devices when there are any, else to the CPU; {@code cpu} and
   * {@code cuda[:N]} specs go where they say.
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The process-wide manager behind {@link Nos#load}: default settings, never closed (its models
   * are freed when their handles are closed).
   *
   * @throws NosException if libtorch's native libraries cannot be loaded (the message says which
   *     and where they come from); every call throws it again, none gets a manager
   */
  public static ModelManager getDefault() {
    ModelManager m = defaultManager;
    if (m == null) {
      synchronized (DEFAULT_LOCK) {
        m = defaultManager;
        if (m == null) {
          // Not a holder class: a first build that fails (libtorch's natives missing) would
          // surface as ExceptionInInitializerError, then NoClassDefFoundError on every later
          // call. This throws the build's own NosException each time and keeps only a manager.
          m = builder().runtime(NosRuntime.defaultRuntime()).build();
          defaultManager = m;
        }
      }
    }
    return m;
  }

  private static final Object DEFAULT_LOCK = new Object();
  private static volatile ModelManager defaultManager;

  /**
   * Loads a model (its {@code replicas} copies), or returns a new handle on it if the same spec
   * is loaded already. Close the handle when done; the model is unloaded with its last handle.
   *
   * @throws IllegalArgumentException if the spec sets no maxCallBytes and its smallest call is
   *     over this machine's default limit (see {@link ModelSpec#maxCallBytes()}): it could take no
   *     call; the message names the largest tensor, the call's bytes and the limit
   * @throws IllegalStateException if another spec is loaded under the same id, or the manager is
   *     closed
   * @throws DeviceUnavailableException if the spec asks for a device the manager does not use
   * @throws ModelLoadException if the artifact cannot be loaded; the manager keeps serving others
   * @throws NosException if the model is larger than every device's budget (the message gives the
   *     bytes and each budget), or no room can be made for it
   */
  public Model load(ModelSpec spec) {
    if (spec == null) {
      throw new IllegalArgumentException("spec must not be null");
    }
    Inputs.checkCallable(spec);
    checkAllowed(spec);
    backend.prepare(spec);
    return new ManagedModel(core, core.open(spec));
  }

  /**
   * With allowed directories set, refuses an artifact whose real path (links followed) lies
   * outside them, before anything reads it: a TorchScript file can run code. Every load the
   * backend makes (copies, reloads after eviction) checks again, on the path it reads.
   */
  private void checkAllowed(ModelSpec spec) {
    if (!allowedDirectories.isEmpty()) {
      Artifacts.realFile(spec.id(), spec.artifact(), allowedDirectories);
    }
  }

  /**
   * Loads several models, largest first (with {@link Placement#BEST_FIT}, best-fit decreasing).
   * Returns their handles in the order given, one per spec given (a spec given twice gets two
   * handles on one model). If one fails, the ones loaded are closed again.
   *
   * @throws IllegalArgumentException if {@code specs} or one of them is null (before any load)
   */
  public List<Model> loadAll(Collection<ModelSpec> specs) {
    if (specs == null) {
      throw new IllegalArgumentException("specs must not be null");
    }
    List<ModelSpec> given = new ArrayList<>(specs);
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < given.size(); i++) {
      if (given.get(i) == null) {
        throw new IllegalArgumentException("specs[" + i + "] must not be null");
      }
      order.add(i);
    }
    order.sort(Comparator.comparingLong((Integer i) -> core.estimate(given.get(i))).reversed());
    // By position, not by spec: the same spec given twice gets two handles, as two loads do.
    Model[] loaded = new Model[given.size()];
    try {
      for (int i : order) {
        loaded[i] = load(given.get(i));
      }
    } catch (RuntimeException | Error e) {
      for (Model m : loaded) {
        if (m != null) {
          m.close();
        }
      }
      throw e;
    }
    return new ArrayList<>(List.of(loaded));
  }

  /**
   * Unloads a model now, whatever handles remain (they fail afterwards); calls in flight finish,
   * and calls still queued for a batch run at once, without waiting out the queue delay.
   *
   * @throws IllegalArgumentException if no model has this id; the message lists those loaded
   */
  public void unload(String id) {
    core.unload(id);
  }

  /**
   * Keeps {@code replicas} copies of a model, each on its own device, loading or unloading copies
   * now. A batched model with a {@link ScalingPolicy} may have up to its {@code maxReplicas},
   * sharing devices when it must; its scaling loop changes the count again as traffic goes.
   *
   * @throws IllegalArgumentException for an unknown id, or more replicas than usable devices (or
   *     than such a model's {@code maxReplicas})
   */
  public void scale(String id, int replicas) {
    core.scale(id, replicas);
  }

  /** For tests: one tick of the scaling loop, on the caller's thread. */
  void autoscale() {
    core.autoscale();
  }

  /** A snapshot of every loaded model: devices, bytes, state, figures. */
  public List<ModelInfo> models() {
    return core.models();
  }

  /** For tests: a snapshot of the host tier. */
  ai.nos.internal.manager.HostTier.Stats hostTier() {
    return core.hostTierStats();
  }

  /** A snapshot of every device: budget, bytes used, models, loads, evictions. */
  public List<DeviceStats> stats() {
    return core.stats();
  }

  /**
   * Refuses new loads and calls, lets the calls already queued run for up to 30 seconds, then
   * fails those left (queued, or running on a model that does not return) with a
   * {@link NosException}, so that no caller waits for ever; each copy is freed when its calls
   * end. It does not wait for callbacks the application attached to futures (beyond half a
   * second): one that blocks keeps its own thread, which ends when it returns. Idempotent; only
   * the first call waits.
   */
  @Override
  public void close() {
    core.close();
  }

  /**
   * Settings of a {@link ModelManager}. Each is validated when set; a setting made twice keeps the
   * last value, and a null argument is a {@link NullPointerException} naming it (see
   * docs/api-conventions.md). Not thread-safe; {@link #build()} leaves it reusable.
   */
  public static final class Builder {
    private List<Device> devices;
    private double memoryFraction = Double.NaN;
    private long reserveBytes = -1;
    private final Map<Device, Long> budgets = new LinkedHashMap<>();
    private Placement placement;
    private Duration loadTimeout;
    private ThreadFactory threadFactory;
    private Path catalogFile;
    private boolean noCatalog;
    private Backend backend;
    private LongSupplier clock;
    private List<Path> allowedDirectories;
    private long hostBytes = -1;
    private int callThreads;
    private NosRuntime runtime;
    private ScalingPolicy scaling;
    private Duration scalingInterval;

    private Builder() {}

    /**
     * The runtime whose cache root holds the footprint catalog and whose thread factory makes the
     * manager's threads (batch workers, callbacks, GPU loaders); default
     * {@link NosRuntime#defaultRuntime()}. A {@link #threadFactory} set here wins over the
     * runtime's for the workers and callbacks.
     *
     * @throws NullPointerException if {@code runtime} is null
     */
    public Builder runtime(NosRuntime runtime) {
      Objects.requireNonNull(runtime, "runtime must not be null");
      this.runtime = runtime;
      return this;
    }

    /**
     * The devices to use; default: every CUDA device and the CPU ({@code auto} specs use the CPU
     * only when there is no CUDA device).
     */
    public Builder devices(Device... devices) {
      Objects.requireNonNull(devices, "devices must not be null");
      if (devices.length == 0) {
        throw new IllegalArgumentException("devices must name at least one device");
      }
      for (int i = 0; i < devices.length; i++) {
        Device d = Objects.requireNonNull(devices[i], "devices[" + i + "] must not be null");
        if (d.isAuto() || (d.isCuda() && d.index().isEmpty())) {
          throw new IllegalArgumentException("devices must be cpu or cuda:N but was " + d);
        }
      }
      this.devices = List.of(devices);
      return this;
    }

    /** The share of each device's memory the manager may use, in (0, 1]; default 0.9. */
    public Builder memoryFraction(double fraction) {
      if (!(fraction > 0 && fraction <= 1)) {
        throw new IllegalArgumentException("memoryFraction must be in (0, 1] but was " + fraction);
      }
      this.memoryFraction = fraction;
      return this;
    }

    /** Bytes kept free on every device, taken off its budget; default 0. */
    public Builder reserveBytes(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("reserveBytes must be >= 0 but was " + bytes);
      }
      this.reserveBytes = bytes;
      return this;
    }

    /** The budget of one device in bytes, instead of its fraction. */
    public Builder memoryBudget(Device device, long bytes) {
      Objects.requireNonNull(device, "memoryBudget device must not be null");
      if (bytes < 1) {
        throw new IllegalArgumentException("memoryBudget needs bytes >= 1 but was "
            + device + ", " + bytes);
      }
      budgets.put(device, bytes);
      return this;
    }

    /** Where new copies go; default {@link Placement#BEST_FIT}. */
    public Builder placement(Placement placement) {
      Objects.requireNonNull(placement, "placement must not be null");
      this.placement = placement;
      return this;
    }

    /** How long a call or load waits for room when every device is busy; default 60 s. */
    public Builder loadTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "loadTimeout must not be null");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("loadTimeout must be positive but was " + timeout);
      }
      this.loadTimeout = timeout;
      return this;
    }

    /**
     * Makes the threads that run batches (two per loaded copy of a batched model, pooled and
     * reused across evictions and reloads, ending after a minute idle). While a thread runs a
     * copy's batches it is named {@code nos-batcher-<model>@<device>-<i>}; it gets its own name
     * back after. Default: daemon threads named {@code nos-worker-N}. The same factory makes the
     * {@link #callThreadsPerDevice} threads of each GPU (default: {@code nos-call-cuda:N-i}). The
     * same factory makes the callback pool's threads (default:
     * {@code nos-callback-N}), a separate cached pool on which the futures of batched
     * {@link Model#inferAsync} calls complete, so that callers' dependent actions never run on a
     * thread that runs batches, and the one thread (default: {@code nos-deadlines-N}) that fails
     * a queued call at its timeout, started by the first call with one and ending after a minute
     * without (where the factory gives that thread none, returning null or throwing, it is a
     * NOS daemon instead, with a warning: a timeout must fire). A
     * {@link ai.nos.generate.TokenGenerator} booked with this manager runs its
     * scheduler, its default callback pool and a delivery's fallback thread on the same factory.
     * Not the CUDA-graph recording thread of each GPU: one per device for the whole JVM, shared
     * by every manager, NOS's own daemon (README, "Versions and process-wide settings").
     *
     * @throws NullPointerException if {@code factory} is null
     */
    public Builder threadFactory(ThreadFactory factory) {
      Objects.requireNonNull(factory, "threadFactory must not be null");
      this.threadFactory = factory;
      return this;
    }

    /**
     * The file of measured footprints; default {@code footprints.json} under the runtime's
     * {@link NosRuntime#cacheRoot()}. It keeps at most 1,024 models' footprints, the least
     * recently measured or used dropped past that.
     */
    public Builder footprintCatalog(Path file) {
      Objects.requireNonNull(file, "footprintCatalog must not be null");
      this.catalogFile = file;
      this.noCatalog = false;
      return this;
    }

    /** Keeps measurements in memory only (undoes a {@link #footprintCatalog} set before). */
    public Builder noFootprintCatalog() {
      this.catalogFile = null;
      this.noCatalog = true;
      return this;
    }

    /**
     * Loads artifacts only from these directories (their real paths, links followed); an
     * artifact elsewhere fails with {@link ModelLoadException} before it is read. Default: any.
     *
     * <p>Checked on every load, not only the first: each copy ({@link ModelManager#scale},
     * replicas) and each reload after eviction resolves the artifact's real path again and reads
     * the file it checked, so a link repointed outside after the first load stops the next one. See
     * {@link Artifact} for what a load verifies.
     *
     * @throws IllegalArgumentException if a directory does not exist
     */
    public Builder allowedDirectories(Path... directories) {
      Objects.requireNonNull(directories, "allowedDirectories must not be null");
      if (directories.length == 0) {
        throw new IllegalArgumentException("allowedDirectories must name at least one directory");
      }
      List<Path> dirs = new ArrayList<>();
      for (int i = 0; i < directories.length; i++) {
        Path d = Objects.requireNonNull(directories[i],
            "allowedDirectories[" + i + "] must not be null");
        try {
          if (!java.nio.file.Files.isDirectory(d)) {
            throw new IllegalArgumentException("allowed directory " + d + " is not a directory");
          }
          dirs.add(d.toRealPath());
        } catch (java.io.IOException e) {
          throw new IllegalArgumentException("allowed directory " + d + " cannot be resolved: "
              + e.getMessage(), e);
        }
      }
      this.allowedDirectories = List.copyOf(dirs);
      return this;
    }

    /**
     * Host memory for copies evicted from a device, parked there until their model's next call
     * brings them back by copying their weights (see the class notes). Default: an eighth of the
     * machine's physical memory; 0 turns the tier off, so that evicted copies are freed and load
     * from their artifact again. Parked copies on a GPU sit in pinned (page-locked) memory taken
     * from libtorch's caching host allocator, which keeps freed blocks for reuse.
     *
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public Builder hostMemoryBytes(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("hostMemoryBytes must not be negative but was "
            + bytes);
      }
      this.hostBytes = bytes;
      return this;
    }

    /**
     * Threads per GPU that run the calls of models without batching; default 2. Such a call
     * waits on its caller's thread while one of these runs it (the hand-off costs tens of
     * microseconds), because the native libraries keep state per thread: cuDNN's plans, built
     * in up to a second or more per model, and about 33 MiB of cuBLAS/cuDNN workspaces on the
     * device. On these threads, warmed up for each model as it loads, the first call from any
     * caller is as fast as the next, and the device keeps a fixed number of workspaces however
     * many threads call. The GPU runs the calls in order anyway; more threads help only when a
     * call spends much of its time in Java. On the CPU, calls run on the caller's thread.
     *
     * @throws IllegalArgumentException if {@code n} is below 1
     */
    public Builder callThreadsPerDevice(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("callThreadsPerDevice must be at least 1 but was " + n);
      }
      this.callThreads = n;
      return this;
    }

    /**
     * The scaling policy of every spec that has none of its own; default none (copies stay at
     * the spec's {@code replicas}).
     *
     * @throws NullPointerException if {@code policy} is null
     */
    public Builder scaling(ScalingPolicy policy) {
      Objects.requireNonNull(policy, "scaling policy must not be null");
      this.scaling = policy;
      return this;
    }

    /**
     * How often the scaling loop looks at the models with a {@link ScalingPolicy}; default 1 s.
     * The loop runs on one thread of the {@link #threadFactory} (default: a daemon thread named
     * {@code nos-scaler}), started with the first such model; copies it adds load there.
     *
     * @throws IllegalArgumentException unless {@code interval} is positive
     */
    public Builder scalingInterval(Duration interval) {
      Objects.requireNonNull(interval, "scalingInterval must not be null");
      if (interval.isNegative() || interval.isZero()) {
        throw new IllegalArgumentException("scalingInterval must be positive but was "
            + interval);
      }
      this.scalingInterval = interval;
      return this;
    }

    /** For tests: no scaling thread; the test calls {@link ModelManager#autoscale()}. */
    Builder manualScaling() {
      this.scalingInterval = Duration.ZERO;
      return this;
    }

    /** For tests: a simulated machine instead of libtorch. */
    Builder backend(Backend backend) {
      this.backend = backend;
      return this;
    }

    /** For tests: the clock of last-use times and timeouts. */
    Builder clock(LongSupplier clock) {
      this.clock = clock;
      return this;
    }

    /**
     * Builds the manager.
     *
     * @throws IllegalArgumentException if a device or budget names a device this process lacks,
     *     or a budget comes out below 1 byte
     */
    public ModelManager build() {
      List<Path> allowed = allowedDirectories == null ? List.of() : allowedDirectories;
      NosRuntime rt = runtime != null ? runtime : NosRuntime.defaultRuntime();
      ThreadFactory appThreads = rt.threadFactory().orElse(null);
      Backend b = backend != null ? backend : new TorchBackend(allowed, appThreads);
      Map<Device, Backend.DeviceInfo> available = new LinkedHashMap<>();
      for (Backend.DeviceInfo info : b.devices()) {
        available.put(info.device(), info);
      }
      List<Device> use = devices;
      if (use == null) {
        use = new ArrayList<>(available.keySet());
      }
      for (Device d : budgets.keySet()) {
        if (!use.contains(d)) {
          throw new IllegalArgumentException("memoryBudget names " + d + " but the manager uses "
              + use);
        }
      }
      double fraction = Double.isNaN(memoryFraction) ? 0.9 : memoryFraction;
      long reserve = Math.max(0, reserveBytes);
      Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
      for (Device d : use) {
        Backend.DeviceInfo info = available.get(d);
        if (info == null) {
          throw new IllegalArgumentException("device " + d + " is not available in this process;"
              + " available: " + available.keySet());
        }
        long budget = budgets.containsKey(d) ? budgets.get(d)
            : (long) (info.totalBytes() * fraction) - reserve;
        if (budget < 1) {
          throw new IllegalArgumentException("the budget of " + d + " comes out at " + budget
              + " bytes (" + fraction + " of " + info.totalBytes() + " minus reserve " + reserve
              + ")");
        }
        slots.put(info, budget);
      }
      FootprintCatalog catalog = noCatalog ? null
          : new FootprintCatalog(catalogFile != null ? catalogFile
              : rt.cacheRoot().resolve(FootprintCatalog.FILE_NAME));
      ManagerCore core = new ManagerCore(b, slots, placement != null ? placement
          : Placement.BEST_FIT, loadTimeout != null ? loadTimeout : Duration.ofSeconds(60),
          catalog, clock != null ? clock : System::nanoTime,
          threadFactory != null ? threadFactory : appThreads,
          hostBytes >= 0 ? hostBytes : defaultHostBytes(available.values()),
          callThreads > 0 ? callThreads : ManagerCore.DEFAULT_CALL_THREADS);
      core.scaling(scaling, scalingInterval != null ? scalingInterval : Duration.ofSeconds(1));
      return new ModelManager(core, b, allowed);
    }

    /** An eighth of the CPU's memory as the backend reports it; 0 without a CPU device. */
    private static long defaultHostBytes(Collection<Backend.DeviceInfo> devices) {
      for (Backend.DeviceInfo d : devices) {
        if (d.device().isCpu()) {
          return d.totalBytes() / 8;
        }
      }
      return 0;
    }
  }
}
