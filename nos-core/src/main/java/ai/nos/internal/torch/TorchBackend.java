package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import ai.nos.internal.Shutdown;
import ai.nos.internal.batch.BatchBuckets;
import ai.nos.internal.manager.Backend;
import ai.nos.internal.manager.Replica;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.Pointer;

/**
 * The libtorch {@link Backend}: CUDA devices (or the CPU) with their memory, and copies of
 * TorchScript models whose footprint is measured on load.
 *
 * <h2>Measuring</h2>
 * On CUDA, a copy's footprint is the peak of the caching allocator's allocated bytes during a
 * second warm-up pass ({@link WarmUp}: a call at the spec's largest batch, or at each of its batch
 * buckets), above the level before the load: the weights at rest plus the working memory of the
 * plans it serves with. The first pass builds those plans: under cuDNN's benchmark mode it times
 * candidate algorithms with workspaces of up to gigabytes, freed at once, which the copy never
 * holds again (issue 24: an fp32 ResNet-50 measured 2,572 MB as the first copy on an H200 and
 * 197 MB as the second, whose plans were cached). A second pass costs a few warm calls per load
 * and needs no guess of what autotuning allocates; a reserve for that peak is unnecessary too,
 * since the caching allocator frees its cached blocks and retries before it reports out of
 * memory. What a thread's libraries keep on the device (its cuBLAS/cuDNN workspaces) is measured
 * apart, once per thread and device, before anything else runs there ({@link LibraryState}), and
 * reported as the device's overhead ({@link #libraryBytes}), never as a model's; so is the state
 * of the device's CUDA-graphs recording thread, made before the first copy with graphs there is
 * measured or swapped back. Loads on one device are serialized so two loads never share a
 * measurement; calls of other models running meanwhile can only make it larger, and the manager
 * does not adopt such a measurement over a quiet one. On the CPU it is the bytes of the
 * parameters and buffers as loaded; working memory there comes from the heap-like host
 * allocator and is not booked.
 *
 * <h2>Threads</h2>
 * Loads on a GPU run on that GPU's loader thread ({@link #loader}); the caller waits for them.
 * CPU loads run on the caller, one at a time per device. A GPU copy's batch workers then warm
 * their own threads up ({@code TorchReplica.warmUpThread}, one at a time per copy).
 *
 * <h2>Trust</h2>
 * Every load, the first and each replica or reload after eviction, checks the artifact's real
 * path against the allowed directories and reads it into a verified private copy
 * ({@link VerifiedArtifact}) that libtorch opens. {@link #prepare} checks the same before the
 * manager books anything, so that a wrong file fails fast; the sha256 it computes is cached by
 * file version for the footprint key, which is why it does not stand for the load's own check.
 *
 * <h2>Parking</h2>
 * An evicted TorchScript copy parks in host memory ({@link TorchModel#park}: its tensors moved
 * into pinned host memory in place, the module kept) and comes back by the reverse copy, on the
 * device's loader thread, onto any device ({@link #unpark}); its CUDA graphs are recorded again,
 * lazily, each bucket by the first call that fits it ({@code GraphBuckets.lazy}).
 * An AOTInductor copy is not parked: it is freed and loads from its artifact. A parked copy comes
 * back only if its artifact's real path is still allowed and the file is the version it was
 * loaded from (real path, size, modification time, stamped before the load read it); otherwise
 * it is dropped and the model loads, and is verified, from the file as it is now.
 */
public final class TorchBackend implements Backend {
  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(TorchBackend.class);
  private final Map<Device, Object> loadLocks = new ConcurrentHashMap<>();
  private final Map<Device, ExecutorService> loaders = new ConcurrentHashMap<>();
  private final Map<FileVersion, String> hashes = new ConcurrentHashMap<>();
  private final List<Path> allowedDirectories;
  private final ThreadFactory loaderThreads;
  /** Per GPU: the library state of each NOS thread that ran there (see "Measuring"). */
  private final Map<Device, java.util.concurrent.atomic.AtomicLong> libraryBytes =
      new ConcurrentHashMap<>();

  /** A backend that loads artifacts from anywhere. */
  public TorchBackend() {
    this(List.of());
  }

  /**
   * A backend that loads only artifacts whose real path lies in one of
   * {@code allowedDirectories} (real paths; empty for any), checked on every load.
   */
  public TorchBackend(List<Path> allowedDirectories) {
    this(allowedDirectories, null);
  }

  /** As above, with GPU loader threads from {@code loaderThreads} (null: NOS's own). */
  public TorchBackend(List<Path> allowedDirectories, ThreadFactory loaderThreads) {
    this.allowedDirectories = List.copyOf(allowedDirectories);
    this.loaderThreads = loaderThreads;
  }

  @Override
  public List<DeviceInfo> devices() {
    int n = TorchRuntime.cudaDeviceCount();
    List<DeviceInfo> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(new DeviceInfo(Device.cuda(i), TorchRuntime.cudaDeviceName(i),
          TorchRuntime.cudaTotalBytes(i)));
    }
    out.add(new DeviceInfo(Device.cpu(), "cpu", Pointer.totalPhysicalBytes()));
    return out;
  }

  @Override
  public void prepare(ModelSpec spec) {
    TorchRuntime.resolve(spec.device(), spec.id());
    Path file = Artifacts.realFile(spec.id(), spec.artifact(), allowedDirectories);
    Artifacts.requireSha256(spec.id(), spec.artifact(), file, contentHash(spec.id(), file));
  }

  /** The artifact's sha256, computed once per file version (path, size, modification time). */
  private String contentHash(String modelId, Path file) {
    try {
      FileVersion version = new FileVersion(file, Files.size(file),
          Files.getLastModifiedTime(file).toMillis());
      return hashes.computeIfAbsent(version, v -> Artifacts.sha256(modelId, file, v.size()));
    } catch (IOException e) {
      throw new ai.nos.ModelLoadException("model '" + modelId + "': cannot read artifact file "
          + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * A cache key; equals and hashCode written out, as {@link Backend.DeviceInfo}'s are (a
   * record's own cost a fresh JVM's first load the ObjectMethods bootstrap).
   */
  private record FileVersion(Path file, long size, long modified) {
    @Override
    public boolean equals(Object o) {
      return o instanceof FileVersion v && file.equals(v.file) && size == v.size
          && modified == v.modified;
    }

    @Override
    public int hashCode() {
      return (file.hashCode() * 31 + Long.hashCode(size)) * 31 + Long.hashCode(modified);
    }
  }

  /** The path {@link Artifacts#realFile} gives, so that both find one cached hash. */
  private static Path realPath(Path file) {
    Path absolute = file.toAbsolutePath().normalize();
    try {
      return absolute.toRealPath();
    } catch (IOException e) {
      return absolute;
    }
  }

  /** The artifact file's version as a load found it: what a parked copy is checked against. */
  private record Stamp(Path file, long size, long modified) {
    static Stamp of(ModelSpec spec, List<Path> allowed) {
      try {
        Path f = Artifacts.realFile(spec.id(), spec.artifact(), allowed);
        return new Stamp(f, Files.size(f), Files.getLastModifiedTime(f).toMillis());
      } catch (IOException | RuntimeException e) {
        // The load itself reports the problem; a copy without a stamp is never reused.
        return null;
      }
    }
  }

  @Override
  public Replica load(ModelSpec spec, DeviceInfo device) {
    ModelSpec placed = spec.toBuilder().device(device.device()).build();
    Stamp stamp = Stamp.of(spec, allowedDirectories);
    Replica replica = run(spec, device, () -> {
      if (!device.device().isCuda()) {
        TorchModel model = TorchModel.load(placed, allowedDirectories);
        try {
          return new TorchReplica(model, model.parameterBytes(),
              WarmUp.buckets(placed, device.device(), model::infer), 0);
        } catch (RuntimeException e) {
          model.close();
          throw e;
        }
      }
      return loadCuda(placed, device, allowedDirectories);
    });
    ((TorchReplica) replica).stamp = stamp;
    return replica;
  }

  @Override
  public Replica unpark(ai.nos.internal.manager.Parked parked, DeviceInfo device) {
    TorchParked p = (TorchParked) parked;
    TorchReplica back = (TorchReplica) run(p.model.spec(), device, () -> {
      // Its graphs are recorded again on the recording thread of this device, maybe another.
      prepareRecordingThread(p.model.spec(), device.device());
      TorchModel model = p.model.restore(device.device());
      return new TorchReplica(model, p.bytes, p.buckets, p.warmUpNanos);
    });
    back.stamp = p.stamp;
    return back;
  }

  /**
   * Runs a load (or an unpark) where loads onto its device run: a GPU's on its loader thread,
   * the CPU's on the caller, one at a time.
   */
  private Replica run(ModelSpec spec, DeviceInfo device,
      java.util.concurrent.Callable<Replica> work) {
    if (!device.device().isCuda()) {
      synchronized (loadLocks.computeIfAbsent(device.device(), d -> new Object())) {
        try {
          return work.call();
        } catch (RuntimeException e) {
          throw e;
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
    }
    ExecutorService loader =
        loaders.computeIfAbsent(device.device(), d -> loader(d, loaderThreads));
    Future<Replica> done;
    try {
      done = loader.submit(work);
    } catch (RejectedExecutionException e) {
      throw new IllegalStateException("model '" + spec.id() + "' cannot load on "
          + device.device() + ": the manager is closed", e);
    }
    boolean interrupted = false;
    try {
      for (;;) {
        try {
          return done.get();
        } catch (InterruptedException e) {
          // The load goes on regardless; waiting for it keeps its copy from leaking.
          interrupted = true;
        } catch (ExecutionException e) {
          Throwable cause = e.getCause();
          if (cause instanceof RuntimeException) {
            throw (RuntimeException) cause;
          }
          if (cause instanceof Error) {
            throw (Error) cause;
          }
          throw new ai.nos.ModelLoadException("model '" + spec.id() + "' failed to load on "
              + device.device() + ": " + cause, cause);
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * The thread that loads models onto one GPU. Every load there runs on it, one at a time: the
   * host memory a load passes through (the weights on their way to the device) then comes from
   * one thread's malloc arena instead of each caller's, and the warm-up's library handles and
   * workspaces (cuBLAS, cuDNN) are made once, not once per calling thread. On the GPU machine,
   * loads on the callers' threads grew the process by about 4 GB over 220 reloads. The thread
   * ends after a minute idle; a later load starts another. It comes from the application's
   * factory if the manager's runtime has one.
   */
  private static ExecutorService loader(Device device, ThreadFactory threads) {
    ThreadPoolExecutor pool = new ThreadPoolExecutor(1, 1, 60, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), threads != null ? threads : task -> {
          Thread t = new Thread(task, "nos-loader-" + device);
          t.setDaemon(true);
          return t;
        });
    pool.allowCoreThreadTimeOut(true);
    return pool;
  }

  @Override
  public void close() {
    // A load in flight finishes on its thread; close waits for it briefly, then logs it.
    Shutdown.awaitPools(LOG, "the GPU loader threads", Duration.ZERO,
        loaders.values().toArray(new ExecutorService[0]));
  }

  /**
   * Loads, warms up and measures one copy on a GPU; runs on that GPU's loader thread. The
   * warm-up runs every batch size the copy will run, largest first ({@link WarmUp}).
   */
  private Replica loadCuda(ModelSpec placed, DeviceInfo device,
      List<Path> allowedDirectories) {
    int index = device.device().index().orElse(0);
    prepareThread(device.device());
    prepareRecordingThread(placed, device.device());
    long before = TorchRuntime.cudaAllocatedBytes(index);
    TorchModel model = TorchModel.load(placed, allowedDirectories);
    try {
      BatchBuckets buckets = WarmUp.buckets(placed, device.device(), model::infer);
      long t0 = System.nanoTime();
      // The first pass builds the plans (and autotunes them); see "Measuring".
      WarmUp.eachSize(placed, buckets, rows -> model.infer(WarmUp.inputs(placed, rows)));
      // From here: the weights at rest plus the serving working memory. Load-time passes may
      // briefly hold two copies of the weights; serving never does, so that is not booked.
      TorchRuntime.cudaResetPeak(index);
      WarmUp.eachSize(placed, buckets, rows -> model.infer(WarmUp.inputs(placed, rows)));
      long peak = TorchRuntime.cudaPeakAllocatedBytes(index) - before;
      // A compiled runtime's own device allocations (a TensorRT engine's weights) are not in
      // libtorch's figures: the runner says how many bytes they are.
      long outside = model.compiled == null ? 0 : model.compiled.deviceBytesOutsideAllocator();
      return new TorchReplica(model, Math.max(peak + outside, 1), buckets,
          System.nanoTime() - t0);
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
  }

  @Override
  public long estimateBytes(ModelSpec spec) {
    long file = spec.artifact().localPath().map(p -> {
      try {
        return Files.size(p);
      } catch (IOException e) {
        return 0L;
      }
    }).orElse(0L);
    // Weights take about the file's size, stored in fp32; a half-precision spec halves them
    // (issue 24: ResNet-50 fp16 measured 113 MB against 205 MB estimated from fp32). On CUDA,
    // twice the weights leaves room for working memory until the first load measures the model;
    // on the CPU only weights are booked. A guess above every budget books the largest one
    // instead of refusing (ManagerCore).
    long weights = spec.precision().dtype().byteSize() < 4 ? file / 2 : file;
    boolean cpuOnly = spec.device().isCpu() || TorchRuntime.cudaDeviceCount() == 0;
    return Math.max(cpuOnly ? weights : 2 * weights, 1);
  }

  @Override
  public String footprintKey(ModelSpec spec, DeviceInfo device) {
    String hash = spec.artifact().sha256().orElseGet(() -> spec.artifact().localPath()
        .map(p -> contentHash(spec.id(), realPath(p)))
        .orElse(spec.artifact().uri().toString()));
    int batch = spec.batching().map(b -> b.maxBatchSize()).orElse(1);
    String steps = spec.optimizations().isEmpty() ? ""
        : "|optimize=" + spec.optimizations().stream().map(ai.nos.Optimization::label)
            .collect(java.util.stream.Collectors.joining(","));
    return hash + "|" + spec.precision().label() + "|batch=" + batch + steps + "|"
        + device.name();
  }

  /** Makes the calling thread's library state on a GPU, once, and books what it holds. */
  private void prepareThread(Device device) {
    book(device, LibraryState.prepareThread(device.index().orElse(0)));
  }

  /**
   * For a spec with CUDA graphs, on a GPU: makes the library state of the device's recording
   * thread, once per device in the process, and books what it holds (see "Measuring").
   */
  private void prepareRecordingThread(ModelSpec spec, Device device) {
    if (!device.isCuda() || !spec.optimizations().contains(ai.nos.Optimization.CUDA_GRAPHS)) {
      return;
    }
    long bytes;
    java.util.concurrent.locks.Lock gpu = CudaWork.shared(device, spec.id());
    try {
      bytes = CudaGraphs.prepareRecordingThread(device.index().orElse(0));
    } catch (LinkageError e) {
      // The CUDA runtime's bindings did not load: no graphs can be recorded, and the load's
      // ModelGraphs says so and runs the copy eagerly.
      return;
    } finally {
      gpu.unlock();
    }
    book(device, bytes);
  }

  private void book(Device device, long bytes) {
    if (bytes > 0) {
      libraryBytes.computeIfAbsent(device, d -> new java.util.concurrent.atomic.AtomicLong())
          .addAndGet(bytes);
    }
  }

  @Override
  public long libraryBytes(DeviceInfo device) {
    var bytes = libraryBytes.get(device.device());
    return bytes == null ? 0 : bytes.get();
  }

  @Override
  public void addLibraryBytes(DeviceInfo device, long bytes) {
    book(device.device(), bytes);
  }

  @Override
  public long allocatedBytes(DeviceInfo device) {
    return device.device().isCuda()
        ? TorchRuntime.cudaAllocatedBytes(device.device().index().orElse(0)) : -1;
  }

  @Override
  public void releaseCache(DeviceInfo device) {
    if (device.device().isCuda()) {
      TorchRuntime.cudaEmptyCache();
    }
  }

  @Override
  public boolean isOutOfMemory(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      String m = t.getMessage();
      if (m != null && m.contains("out of memory")) {
        return true;
      }
    }
    return false;
  }

  private final class TorchReplica implements Replica {
    private final TorchModel model;
    /** The artifact version this copy was loaded from; null: never parked. */
    private volatile Stamp stamp;
    private final long bytes;
    private final BatchBuckets buckets;
    private final long warmUpNanos;
    /** Serializes the batch workers' warm-ups, so that cuDNN times each plan on a quiet GPU. */
    private final Object warmUpLock = new Object();

    TorchReplica(TorchModel model, long bytes, BatchBuckets buckets, long warmUpNanos) {
      this.model = model;
      this.bytes = bytes;
      this.buckets = buckets;
      this.warmUpNanos = warmUpNanos;
    }

    @Override
    public BatchBuckets batchBuckets() {
      return buckets;
    }

    @Override
    public long warmUpNanos() {
      return warmUpNanos;
    }

    /**
     * On a GPU, every batch size once on the calling thread (see {@link WarmUp}), after the
     * thread's library state, measured apart, the first time the thread runs on the device.
     */
    @Override
    public void warmUpThread() {
      if (!model.device().isCuda()) {
        return;
      }
      ModelSpec spec = model.spec();
      synchronized (warmUpLock) {
        prepareThread(model.device());
        WarmUp.eachSize(spec, buckets, rows -> model.infer(WarmUp.inputs(spec, rows)));
      }
    }

    @Override
    public List<String> optimizations() {
      return model.optimizations();
    }

    @Override
    public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
      // The manager validated the inputs before choosing this copy; only order them.
      List<Tensor> ordered = new ArrayList<>();
      for (TensorSpec t : model.spec().signature().inputs()) {
        ordered.add(inputs.get(t.name()));
      }
      return model.inferValidated(ordered);
    }

    @Override
    public Map<String, Tensor> inferBatch(ai.nos.internal.batch.Batch batch) {
      return model.inferBatch(batch);
    }

    @Override
    public boolean runsColdThreadsWarm(Map<String, Tensor> inputs) {
      if (!model.device().isCuda()) {
        return false;
      }
      List<long[]> shapes = new ArrayList<>();
      for (TensorSpec t : model.spec().signature().inputs()) {
        shapes.add(inputs.get(t.name()).shape());
      }
      return model.replaysRecorded(shapes);
    }

    @Override
    public long footprintBytes() {
      return bytes;
    }

    @Override
    public void close() {
      model.close();
    }

    @Override
    public ai.nos.internal.manager.Parked park() {
      if (stamp == null) {
        return null;
      }
      ParkedModel parked = model.park();
      return parked == null ? null
          : new TorchParked(parked, stamp, bytes, buckets, warmUpNanos, allowedDirectories);
    }
  }

  /** A TorchScript copy in host memory, with the artifact version it was loaded from. */
  private static final class TorchParked implements ai.nos.internal.manager.Parked {
    final ParkedModel model;
    final Stamp stamp;
    final long bytes;
    final BatchBuckets buckets;
    final long warmUpNanos;
    final List<Path> allowed;

    TorchParked(ParkedModel model, Stamp stamp, long bytes, BatchBuckets buckets,
        long warmUpNanos, List<Path> allowed) {
      this.model = model;
      this.stamp = stamp;
      this.bytes = bytes;
      this.buckets = buckets;
      this.warmUpNanos = warmUpNanos;
      this.allowed = allowed;
    }

    @Override
    public long hostBytes() {
      return model.hostBytes();
    }

    @Override
    public String staleReason() {
      ModelSpec spec = model.spec();
      Stamp now;
      try {
        Path f = Artifacts.realFile(spec.id(), spec.artifact(), allowed);
        now = new Stamp(f, Files.size(f), Files.getLastModifiedTime(f).toMillis());
      } catch (IOException | RuntimeException e) {
        return "its artifact no longer checks: " + e.getMessage();
      }
      return now.equals(stamp) ? null : "its artifact changed since it was loaded: was " + stamp
          + ", now " + now;
    }

    @Override
    public void close() {
      model.close();
    }
  }
}
