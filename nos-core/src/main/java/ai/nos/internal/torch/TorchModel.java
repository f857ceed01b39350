package ai.nos.internal.torch;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.InferenceException;
import ai.nos.Model;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import ai.nos.internal.Inputs;
import ai.nos.internal.Lease;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import ai.nos.internal.batch.Batch;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.GenericDict;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.global.torch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TorchScript module, or an AOTInductor package ({@link AotiRunner}), loaded on one device.
 *
 * <h2>Concurrency</h2>
 * Calls run concurrently on the one {@link JitModule}: libtorch's TorchScript interpreter keeps
 * per-call state on the calling thread, and the module is never mutated after load (an
 * AOTInductor library runs {@link AotiRunner#INSTANCES} calls at once). Each call holds
 * a {@link Lease} reference; {@link #close()} refuses new calls at once and the module is freed by
 * whichever thread drops the last reference, so close never waits and never frees under a call.
 *
 * <h2>Native memory</h2>
 * Each call opens a {@link PointerScope}: every native object it makes (input copies, the
 * interpreter's outputs, host copies of device outputs) is freed when the call returns, on success
 * or failure. Outputs leave as JVM {@link Tensor}s. The module's own memory is freed on close.
 */
public final class TorchModel implements Model {
  private static final Logger LOG = LoggerFactory.getLogger(TorchModel.class);

  private final ModelSpec spec;
  private final Device device;
  private final org.bytedeco.pytorch.Device torchDevice;
  /** The TorchScript module, or null when {@link #aoti} runs the model. */
  private final JitModule module;
  /** The AOTInductor library, or null when {@link #module} runs the model. */
  private final AotiRunner aoti;
  private final Lease lease;
  /** Bytes of the parameters and buffers as loaded, before any pass made them constants. */
  private final long weightBytes;
  /** The load-time steps that were applied (and passed the check), in order. */
  private final List<String> steps;
  private final boolean channelsLast;
  /** The recorded graphs calls replay when they fit, or null: the module runs eagerly. */
  private final GraphBuckets graphs;
  /** The recorder a test gave the load (null: CUDA's); a copy swapped back records with it. */
  private final ModelGraphs.RecorderFactory recorderFactory;
  /** Set when a parked copy took the module over: freeing this model leaves it alone. */
  private volatile boolean moduleHandedOver;

  private TorchModel(ModelSpec spec, Device device, JitModule module, long weightBytes,
      List<String> steps) {
    this(spec, device, module, null, weightBytes, steps, null, null);
  }

  private TorchModel(ModelSpec spec, Device device, JitModule module, AotiRunner aoti,
      long weightBytes, List<String> steps, GraphBuckets graphs,
      ModelGraphs.RecorderFactory recorderFactory) {
    this.spec = spec;
    this.graphs = graphs;
    this.recorderFactory = recorderFactory;
    this.device = device;
    this.torchDevice = TorchRuntime.toTorch(device);
    this.module = module;
    this.aoti = aoti;
    this.lease = new Lease(this::free);
    this.weightBytes = weightBytes;
    this.steps = List.copyOf(steps);
    this.channelsLast = steps.contains(ai.nos.Optimization.CHANNELS_LAST.label());
  }

  /**
   * Loads {@code spec}'s artifact onto the device its preference resolves to: a TorchScript file,
   * or an AOTInductor package ({@code .pt2}; see {@link #loadAoti}).
   *
   * @throws ModelLoadException if the file is missing, fails its checksum, or is neither
   * @throws ai.nos.DeviceUnavailableException if the spec's device is not there
   */
  public static TorchModel load(ModelSpec spec) {
    return load(spec, List.of());
  }

  /**
   * Loads as {@link #load(ModelSpec)} does, from an artifact whose real path must lie in one of
   * {@code allowedDirectories} (real paths; empty for any), checked as the file is read.
   */
  public static TorchModel load(ModelSpec spec, List<Path> allowedDirectories) {
    return load(spec, LoadPasses::forSpec, null, allowedDirectories);
  }

  /** Loads with the given passes instead of the spec's (tests inject a broken one). */
  static TorchModel load(ModelSpec spec,
      java.util.function.BiFunction<ModelSpec, Device, List<LoadPasses.Pass>> passes) {
    return load(spec, passes, null);
  }

  /**
   * Loads with the given passes and, when the spec asks for CUDA graphs, the given recorder
   * instead of CUDA's (null: CUDA's, on CUDA devices only); tests record on the CPU with it.
   */
  static TorchModel load(ModelSpec spec,
      java.util.function.BiFunction<ModelSpec, Device, List<LoadPasses.Pass>> passes,
      ModelGraphs.RecorderFactory recorder) {
    return load(spec, passes, recorder, List.of());
  }

  /**
   * libtorch opens the artifact's verified private copy ({@link VerifiedArtifact}), deleted once
   * the model is loaded; messages name the artifact's own file.
   */
  private static TorchModel load(ModelSpec spec,
      java.util.function.BiFunction<ModelSpec, Device, List<LoadPasses.Pass>> passes,
      ModelGraphs.RecorderFactory recorder, List<Path> allowedDirectories) {
    TorchRuntime.ensureLoaded();
    Device device = TorchRuntime.resolve(spec.device(), spec.id());
    try (VerifiedArtifact verified = VerifiedArtifact.open(spec.id(), spec.artifact(),
        allowedDirectories)) {
      if (!device.isCuda()) {
        return load(spec, passes, recorder, device, verified);
      }
      // Verified before the hold: reading and hashing the file is no GPU work (CudaWork).
      java.util.concurrent.locks.Lock gpu = CudaWork.shared(device, spec.id());
      try {
        return load(spec, passes, recorder, device, verified);
      } catch (RuntimeException e) {
        RuntimeException lost = CudaWork.lostOrNull(device, spec.id(), e);
        throw lost != null ? lost : e;
      } finally {
        gpu.unlock();
      }
    }
  }

  private static TorchModel load(ModelSpec spec,
      java.util.function.BiFunction<ModelSpec, Device, List<LoadPasses.Pass>> passes,
      ModelGraphs.RecorderFactory recorder, Device device, VerifiedArtifact file) {
    long t0 = System.nanoTime();
    if (AotiPackage.isPackage(file.path())) {
      return loadAoti(spec, device, file, recorder, t0);
    }
    TorchModel plain = null;
    if (device.isCuda()) {
      // A traced graph's tensor constants stay where the file is loaded. Loaded with
      // map_location=cuda, those of a traced model's shape arithmetic (ViT's patch count:
      // int((h // 16) * (w // 16))) sit on the GPU, and each int() of one waits for the device on
      // every call, which a CUDA graph capture forbids. So the file is loaded on the host and
      // only the weights move; a model whose constants must be on the device (x + a traced
      // vector) fails the probe call and is loaded onto the device whole, as before.
      plain = loadModule(spec, device, file, true);
      String failed = plain.probe();
      if (failed != null) {
        LOG.debug("model '{}': with its graph constants on the host it fails ({}); loading"
            + " them onto {}", spec.id(), failed, device);
        plain.close();
        plain = null;
      }
    }
    if (plain == null) {
      plain = loadModule(spec, device, file, false);
    }
    JitModule module = plain.module;
    ModelSpec resolved = LoadPasses.resolveAuto(spec, device, module);
    if (resolved != spec) {
      LOG.info("model '{}': auto chose {} on {}", spec.id(), resolved.optimizations(), device);
    }
    TorchModel model = plain.optimized(passes.apply(resolved, device)).withGraphs(recorder);
    LOG.info("loaded model '{}' from {} on {} ({}{}) in {} ms", spec.id(), file.origin(), device,
        spec.precision(), model.steps.isEmpty() ? "" : ", " + String.join(", ", model.steps),
        (System.nanoTime() - t0) / 1_000_000);
    return model;
  }

  /**
   * The spec's TorchScript file as a model on {@code device}, in eval mode and the spec's
   * precision: loaded on the host and its parameters and buffers moved to the device
   * ({@code hostFirst}: the graph's constants stay on the host), or loaded onto the device.
   */
  private static TorchModel loadModule(ModelSpec spec, Device device, VerifiedArtifact verified,
      boolean hostFirst) {
    Path file = verified.origin();
    JitModule module;
    try (org.bytedeco.pytorch.Device where = TorchRuntime.toTorch(
            hostFirst ? Device.cpu() : device);
        DeviceOptional mapLocation = new DeviceOptional(where)) {
      module = torch.load(verified.path().toString(), mapLocation, false);
    } catch (RuntimeException e) {
      throw new ModelLoadException("model '" + spec.id() + "': " + file
          + " is not a TorchScript model libtorch can load: " + firstLine(e.getMessage()), e);
    }
    try {
      module.eval();
      if (hostFirst) {
        try (org.bytedeco.pytorch.Device to = TorchRuntime.toTorch(device)) {
          module.to(to, false);
        }
      }
      if (spec.precision() != Precision.FP32) {
        module.to(TorchTensors.scalarType(spec.precision().dtype()), false);
      }
    } catch (RuntimeException e) {
      module.close();
      throw new ModelLoadException("model '" + spec.id() + "': cannot prepare " + file + " for "
          + spec.precision() + " on " + device + ": " + firstLine(e.getMessage()), e);
    }
    return new TorchModel(spec, device, module, bytesOf(module), List.of());
  }

  /** Null if one call on random inputs ({@link LoadPasses#checkInputs}) runs, else why not. */
  private String probe() {
    try {
      infer(LoadPasses.checkInputs(spec));
      return null;
    } catch (RuntimeException e) {
      return firstLine(e.getMessage());
    }
  }

  /**
   * Loads an AOTInductor package: the library is compiled ahead of time, so of the load-time
   * steps only the process-wide cuDNN benchmark mode (asked for, or by {@code auto} on a GPU)
   * and CUDA graphs apply; channels-last, freeze and {@code optimize_for_inference} are
   * TorchScript passes and are skipped with a log line. One call on random inputs checks that
   * the library runs the spec's signature before the model is handed out.
   */
  private static TorchModel loadAoti(ModelSpec spec, Device device, VerifiedArtifact verified,
      ModelGraphs.RecorderFactory recorder, long t0) {
    Path file = verified.origin();
    // The compiled code trusts its inputs' sizes: a dimension it was compiled for that a call
    // could change would be read out of bounds. Only the batch may vary (image inputs are sized
    // by their ImageInput before the model).
    for (TensorSpec in : spec.signature().inputs()) {
      long[] shape = in.shape();
      for (int d = 1; d < shape.length; d++) {
        if (shape[d] < 0 && !spec.imageInputs().containsKey(in.name())) {
          throw new ModelLoadException("model '" + spec.id() + "': input '" + in.name()
              + "' has shape " + Arrays.toString(shape) + " but an AOTInductor package needs"
              + " every dimension after the batch given: its code trusts the sizes it was"
              + " compiled for, which NOS cannot read from " + file);
        }
      }
    }
    AotiRunner runner = AotiRunner.open(spec.id(), verified, device, spec.precision());
    List<String> steps = LoadPasses.applyToPackage(spec, device);
    TorchModel plain = new TorchModel(spec, device, null, runner, runner.bytes(), steps, null,
        null);
    try {
      plain.infer(LoadPasses.checkInputs(spec));
    } catch (RuntimeException e) {
      plain.close();
      throw new ModelLoadException("model '" + spec.id() + "': the AOTInductor library of "
          + file + " does not run the spec's signature " + spec.signature() + ": "
          + firstLine(e.getMessage()), e);
    }
    TorchModel model = plain.withGraphs(recorder);
    LOG.info("loaded model '{}' from {} on {} (AOTInductor, {}{}) in {} ms", spec.id(), file,
        device, spec.precision(), model.steps.isEmpty() ? "" : ", " + String.join(", ",
            model.steps), (System.nanoTime() - t0) / 1_000_000);
    return model;
  }

  /**
   * This model with the passes applied one by one, each checked on a random input against the
   * model as loaded: the first step that fails, or moves an output beyond the tolerance, is
   * dropped with a warning naming it and why, and so are the steps after it; the steps before it
   * stay. A model that is replaced is freed (a pass that works in place keeps the module).
   */
  private TorchModel optimized(List<LoadPasses.Pass> passes) {
    if (passes.isEmpty()) {
      return this;
    }
    Map<String, Tensor> inputs = LoadPasses.checkInputs(spec);
    Map<String, Tensor> before = infer(inputs);
    double tolerance = LoadPasses.tolerance(spec);
    TorchModel current = this;
    for (int i = 0; i < passes.size(); i++) {
      LoadPasses.Pass pass = passes.get(i);
      List<String> names = new ArrayList<>(current.steps);
      names.add(pass.name());
      TorchModel candidate = null;
      String problem;
      try {
        JitModule next = pass.apply().apply(current.module);
        candidate = new TorchModel(spec, device, next, weightBytes, names);
        problem = LoadPasses.compare(before, candidate.infer(inputs), tolerance);
      } catch (RuntimeException e) {
        problem = (candidate == null ? "it failed: " : "the model failed after it: ")
            + firstLine(e.getMessage());
      }
      if (problem == null) {
        if (candidate.module != current.module) {
          current.close();
        }
        current = candidate;
        continue;
      }
      if (candidate != null && candidate.module != current.module) {
        candidate.close();
      }
      List<String> dropped = new ArrayList<>();
      for (int j = i; j < passes.size(); j++) {
        dropped.add(passes.get(j).name());
      }
      LOG.warn("model '{}': optimization step '{}' rejected on {}: {}; serving it with {}"
          + " (dropped: {})", spec.id(), pass.name(), device, problem,
          current.steps.isEmpty() ? "no steps" : current.steps, dropped);
      break;
    }
    return current;
  }

  /**
   * This model with its forward pass recorded per batch-size bucket when the spec asks for
   * {@code cuda_graphs} ({@link ModelGraphs}), checked against this model on a padded and an
   * exact call; else, or if it cannot be recorded or the check fails, this model (logged once
   * with the reason).
   */
  private TorchModel withGraphs(ModelGraphs.RecorderFactory factory) {
    if (!spec.optimizations().contains(ai.nos.Optimization.CUDA_GRAPHS)) {
      return this;
    }
    long t0 = System.nanoTime();
    GraphBuckets recorded = ModelGraphs.record(spec, device, factory, graphInputs(),
        this::forward);
    if (recorded == null) {
      return this;
    }
    TorchModel graphed = withBuckets(recorded, factory);
    if (!ModelGraphs.check(spec, device, recorded.sizes(), this::infer, graphed::infer)) {
      recorded.close();
      return this;
    }
    LOG.info("model '{}': recorded {} for batch sizes {} on {} in {} ms", spec.id(),
        ai.nos.Optimization.CUDA_GRAPHS.label(), Arrays.toString(recorded.sizes()), device,
        (System.nanoTime() - t0) / 1_000_000);
    return graphed;
  }

  /**
   * This model (not yet handed out) with the graphs of its load recorded again lazily
   * ({@link GraphBuckets#lazy}), for a copy swapped back: no recording and no check now.
   */
  private TorchModel withLazyGraphs(ModelGraphs.RecorderFactory factory, int warmups) {
    GraphBuckets lazy = ModelGraphs.lazy(spec, device, factory, warmups, graphInputs(),
        this::forward);
    return lazy == null ? this : withBuckets(lazy, factory);
  }

  private TorchModel withBuckets(GraphBuckets buckets, ModelGraphs.RecorderFactory factory) {
    List<String> names = new ArrayList<>(steps);
    names.add(ai.nos.Optimization.CUDA_GRAPHS.label());
    return new TorchModel(spec, device, module, aoti, weightBytes, names, buckets, factory);
  }

  /** How the graphs' static inputs look: the signature's, on the device, as calls run them. */
  private List<GraphBuckets.InputShape> graphInputs() {
    List<GraphBuckets.InputShape> shapes = new ArrayList<>();
    for (TensorSpec in : spec.signature().inputs()) {
      long[] shape = in.shape();
      DType as = runAs(in);
      shapes.add(new GraphBuckets.InputShape(Arrays.copyOfRange(shape, 1, shape.length),
          full -> memoryFormat(torch.zeros(full, new org.bytedeco.pytorch.TensorOptions(
              TorchTensors.scalarType(as)).device(new DeviceOptional(torchDevice))))));
    }
    return shapes;
  }

  /**
   * Parks this model for the host tier: closes it, moving its module's tensors off the device into
   * pinned host memory ({@link ModuleWeights}); the returned copy owns the module. Its recorded
   * CUDA graphs are freed (they point at the device memory the weights leave) and recorded again,
   * lazily, when it comes back ({@link ParkedModel#restore}). Null, and the model left as it was, if it cannot be parked: an
   * AOTInductor library keeps its weights inside the library, and a module with a tensor NOS
   * cannot move. Call only when no call runs on the model.
   */
  ParkedModel park() {
    if (aoti != null) {
      return null;
    }
    java.util.concurrent.locks.Lock gpu = device.isCuda() ? CudaWork.shared(device, spec.id())
        : null;
    try {
      ModuleWeights weights = ModuleWeights.of(module);
      if (weights == null) {
        return null;
      }
      try {
        weights.toHost();
      } catch (RuntimeException e) {
        weights.close();
        throw e;
      }
      moduleHandedOver = true;
      close();
      List<String> base = new ArrayList<>(steps);
      base.remove(ai.nos.Optimization.CUDA_GRAPHS.label());
      return new ParkedModel(spec, module, weights, weightBytes, base, graphs != null,
          recorderFactory, device);
    } finally {
      if (gpu != null) {
        gpu.unlock();
      }
    }
  }

  /**
   * A TorchScript module parked in host memory: brought back onto a device by copying its
   * weights there ({@link #restore}), or freed ({@link #close}). Owned by one thread at a time.
   */
  static final class ParkedModel implements AutoCloseable {
    private final ModelSpec spec;
    private JitModule module;
    private final ModuleWeights weights;
    private final long weightBytes;
    private final List<String> steps;
    /** Whether the copy ran recorded graphs: its load recorded and checked them. */
    private final boolean graphed;
    private final ModelGraphs.RecorderFactory recorderFactory;
    private final Device parkedFrom;

    private ParkedModel(ModelSpec spec, JitModule module, ModuleWeights weights,
        long weightBytes, List<String> steps, boolean graphed,
        ModelGraphs.RecorderFactory recorderFactory, Device parkedFrom) {
      this.spec = spec;
      this.module = module;
      this.weights = weights;
      this.weightBytes = weightBytes;
      this.steps = steps;
      this.graphed = graphed;
      this.recorderFactory = recorderFactory;
      this.parkedFrom = parkedFrom;
    }

    /** Host bytes the parked weights hold (all of them on the CPU, where nothing moved). */
    long hostBytes() {
      long moved = weights.movedBytes();
      return moved > 0 ? moved : weights.bytes();
    }

    ModelSpec spec() {
      return spec;
    }

    /**
     * The model back on {@code device} (which may differ from the one it left): its weights
     * copied into fresh device memory. If it ran CUDA graphs, they come back lazily
     * ({@link GraphBuckets#lazy}): each bucket is recorded by the first call that fits it, so the
     * call that swaps a copy back at batch 1 pays the weights' copy and one recording of one
     * bucket, not every bucket's. The load's check of the graphs against the eager model is not
     * repeated: it is the same module, with the weights moved back bit for bit
     * ({@link ModuleWeights}) and the same bucket shapes. Back on the device it left, a capture
     * warms up {@link CudaGraphs#RESTORE_WARMUP_RUNS} times (its executor's plan survives the
     * park); on another, the full {@link CudaGraphs#WARMUP_RUNS}. Graphs its load rejected stay
     * off. Keeping the graphs themselves across the park is not possible: they hold the device
     * addresses of the weights and of their pool, and the weights come back in fresh device
     * memory at other addresses (holding the old addresses would keep the device memory the
     * park exists to free). Consumes this parked copy on success; on failure the weights are
     * back on the host and this copy may be closed.
     */
    TorchModel restore(Device device) {
      ModelSpec placed = spec.device().equals(device) ? spec
          : spec.toBuilder().device(device).build();
      java.util.concurrent.locks.Lock gpu = device.isCuda() ? CudaWork.shared(device, spec.id())
          : null;
      TorchModel model;
      try {
        // All or nothing: the tensors switch storage only once every copy is made.
        weights.toDevice(device);
        model = new TorchModel(placed, device, module, null, weightBytes, steps, null, null);
      } finally {
        if (gpu != null) {
          gpu.unlock();
        }
      }
      module = null;
      weights.close();
      // No recording here: the calls that first fit each bucket record it, under their holds.
      return graphed ? model.withLazyGraphs(recorderFactory, device.equals(parkedFrom)
          ? CudaGraphs.RESTORE_WARMUP_RUNS : CudaGraphs.WARMUP_RUNS) : model;
    }

    @Override
    public void close() {
      weights.close();
      if (module != null) {
        module.close();
        module = null;
      }
    }
  }

  /** The module this model runs; for tests of the load-time passes. */
  JitModule module() {
    return module;
  }

  /** The load-time optimization steps this model runs with, in order. */
  public List<String> optimizations() {
    return steps;
  }

  private static long bytesOf(JitModule module) {
    try (PointerScope scope = new PointerScope()) {
      long bytes = 0;
      var params = module.parameters(true);
      for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
        bytes += it.access().nbytes();
      }
      var buffers = module.buffers(true);
      for (var it = buffers.begin(); it.notEquals(buffers.end()); it = it.increment()) {
        bytes += it.access().nbytes();
      }
      return bytes;
    }
  }

  @Override
  public ModelSpec spec() {
    return spec;
  }

  @Override
  public Device device() {
    return device;
  }

  @Override
  public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
    return inferValidated(Inputs.ordered(spec, inputs));
  }

  /**
   * Runs inputs already checked against the signature, in signature order: for a caller that
   * validated them itself (the manager does, before choosing a copy).
   */
  Map<String, Tensor> inferValidated(List<Tensor> ordered) {
    return run(args -> {
      List<TensorSpec> specs = spec.signature().inputs();
      for (int i = 0; i < ordered.size(); i++) {
        Tensor t = ordered.get(i);
        args.add(memoryFormat(image(specs.get(i),
            TorchTensors.toTorch(t, torchDevice, runAs(specs.get(i))))));
      }
    });
  }

  /**
   * Runs a batch gathered by a dynamic batcher, writing each input straight from the callers'
   * tensors into one host buffer (pinned on CUDA, from libtorch's caching host allocator, which
   * reuses its blocks) and moving it to the device with one asynchronous copy: one host copy and
   * one host-to-device copy per input, whatever the batch holds. A batch of one request and no
   * padding rows has nothing to assemble: its tensors go as a direct call's do, so an input in a
   * {@link ai.nos.PinnedBuffer} reaches the device with one DMA copy and no host copy.
   */
  public Map<String, Tensor> inferBatch(Batch batch) {
    Map<String, Tensor> only = batch.requestCount() == 1 && batch.size() == batch.requestRows()
        ? batch.inputs(0) : null;
    return run(args -> {
      for (TensorSpec input : spec.signature().inputs()) {
        String name = input.name();
        args.add(memoryFormat(image(input, only != null
            ? TorchTensors.toTorch(only.get(name), torchDevice, runAs(input))
            : TorchTensors.staged(batch.shape(name), batch.dtype(name), batch.byteSize(name),
                buffer -> batch.write(name, buffer), torchDevice, runAs(input)))));
      }
    });
  }

  /** An image input's pixels pre-processed on the device ({@link ai.nos.ImageInput}). */
  private org.bytedeco.pytorch.Tensor image(TensorSpec input, org.bytedeco.pytorch.Tensor t) {
    ai.nos.ImageInput image = spec.imageInputs().get(input.name());
    return image == null ? t : DeviceImages.apply(t, image,
        TorchTensors.scalarType(spec.precision().dtype()));
  }

  /** An input in channels-last format when the model's weights are. */
  private org.bytedeco.pytorch.Tensor memoryFormat(org.bytedeco.pytorch.Tensor t) {
    return channelsLast && LoadPasses.channelsLastApplies(t)
        ? t.contiguous(torch.MemoryFormat.ChannelsLast) : t;
  }

  /**
   * Holds a reference, opens the call's native scope, and runs the inputs {@code arguments}
   * makes: as a replay of a recorded graph when they fit one, else through the module.
   */
  private Map<String, Tensor> run(
      java.util.function.Consumer<List<org.bytedeco.pytorch.Tensor>> arguments) {
    if (!lease.tryAcquire()) {
      throw new IllegalStateException("model '" + spec.id() + "' is closed");
    }
    java.util.concurrent.locks.Lock gpu;
    try {
      gpu = device.isCuda() ? CudaWork.shared(device, spec.id()) : null;
    } catch (RuntimeException e) {
      lease.release();
      throw e;
    }
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      List<org.bytedeco.pytorch.Tensor> inputs = new ArrayList<>();
      arguments.accept(inputs);
      Map<String, Tensor> replayed = graphs == null ? null
          : graphs.runIfFits(inputs, this::named);
      if (replayed != null) {
        return replayed;
      }
      return named(forward(inputs));
    } catch (RuntimeException e) {
      RuntimeException lost = CudaWork.lostOrNull(device, spec.id(), e);
      if (lost != null) {
        throw lost;
      }
      if (e instanceof InferenceException) {
        throw e;
      }
      String own = modelMessage(e.getMessage());
      throw new InferenceException(spec.id(), own, "model '" + spec.id() + "' failed on " + device
          + ": " + own, e);
    } finally {
      if (gpu != null) {
        gpu.unlock();
      }
      lease.release();
    }
  }

  /** The forward pass on device inputs in signature order: the outputs in signature order. */
  private List<org.bytedeco.pytorch.Tensor> forward(List<org.bytedeco.pytorch.Tensor> inputs) {
    if (aoti != null) {
      List<org.bytedeco.pytorch.Tensor> out = aoti.run(inputs);
      if (out.size() != spec.signature().outputs().size()) {
        throw mismatch("returned " + out.size() + " tensor(s) but the signature declares "
            + spec.signature().outputs().size() + " output(s) "
            + spec.signature().outputNames());
      }
      return out;
    }
    IValueVector args = new IValueVector();
    inputs.forEach(t -> args.push_back(new IValue(t)));
    return tensorsOf(module.forward(args));
  }

  /**
   * Bytes of the module's parameters and buffers as loaded, wherever they live (measured before
   * any load-time pass turned them into constants).
   */
  public long parameterBytes() {
    return weightBytes;
  }

  /** Floating-point inputs run in the spec's precision; other dtypes as given. */
  private DType runAs(TensorSpec input) {
    return input.dtype().isFloatingPoint() ? spec.precision().dtype() : input.dtype();
  }

  /** The output tensors of a result, in signature order; throws if its structure differs. */
  private List<org.bytedeco.pytorch.Tensor> tensorsOf(IValue result) {
    List<TensorSpec> outs = spec.signature().outputs();
    List<org.bytedeco.pytorch.Tensor> tensors = new ArrayList<>(outs.size());
    if (result.isTensor()) {
      tensors.add(result.toTensor());
    } else if (result.isTuple()) {
      var elements = result.toTupleRef().elements();
      for (long i = 0; i < elements.size(); i++) {
        tensors.add(tensorAt(elements.get(i), "element " + i + " of the returned tuple"));
      }
    } else if (result.isList()) {
      var list = result.toList();
      for (long i = 0; i < list.size(); i++) {
        tensors.add(tensorAt(list.get(i), "element " + i + " of the returned list"));
      }
    } else if (result.isGenericDict()) {
      GenericDict dict = result.toGenericDict();
      for (TensorSpec out : outs) {
        IValue key = new IValue(out.name());
        if (!dict.contains(key)) {
          throw mismatch("returned a dict without key '" + out.name() + "' (it has "
              + dict.size() + " keys); the signature's outputs are "
              + spec.signature().outputNames());
        }
        tensors.add(tensorAt(dict.at(key), "value of key '" + out.name() + "'"));
      }
    } else {
      throw mismatch("returned a " + result.tagKind().getString()
          + "; NOS reads a tensor, a tuple or list of tensors, or a dict of str to tensor");
    }
    if (tensors.size() != outs.size()) {
      throw mismatch("returned " + tensors.size() + " tensor(s) but the signature declares "
          + outs.size() + " output(s) " + spec.signature().outputNames());
    }
    return tensors;
  }

  /** JVM copies of the output tensors, named and checked against the signature. */
  private Map<String, Tensor> named(List<org.bytedeco.pytorch.Tensor> tensors) {
    List<TensorSpec> outs = spec.signature().outputs();
    Map<String, Tensor> named = new LinkedHashMap<>();
    for (int i = 0; i < outs.size(); i++) {
      named.put(outs.get(i).name(), output(outs.get(i), tensors.get(i)));
    }
    return Collections.unmodifiableMap(named);
  }

  private org.bytedeco.pytorch.Tensor tensorAt(IValue v, String where) {
    if (!v.isTensor()) {
      throw mismatch("returned a " + v.tagKind().getString() + " as " + where
          + " where a tensor was expected");
    }
    return v.toTensor();
  }

  private Tensor output(TensorSpec out, org.bytedeco.pytorch.Tensor t) {
    DType actual = TorchTensors.dtype(t.scalar_type());
    if (actual != out.dtype()) {
      if (actual == null || !actual.isFloatingPoint() || !out.dtype().isFloatingPoint()) {
        throw mismatch("returned output '" + out.name() + "' as "
            + (actual == null ? t.scalar_type().toString() : actual.label())
            + " but the signature declares " + out.dtype());
      }
      t = t.to(TorchTensors.scalarType(out.dtype()));
    }
    Tensor result = TorchTensors.fromTorch(t, out.dtype());
    long[] want = out.shape();
    long[] got = result.shape();
    boolean ok = want.length == got.length;
    for (int i = 0; ok && i < want.length; i++) {
      ok = want[i] == -1 || want[i] == got[i];
    }
    if (!ok) {
      throw mismatch("returned output '" + out.name() + "' with shape " + Arrays.toString(got)
          + " but the signature declares " + Arrays.toString(want));
    }
    return result;
  }

  private InferenceException mismatch(String what) {
    String msg = "model '" + spec.id() + "' " + what;
    return new InferenceException(spec.id(), what, msg, null);
  }

  @Override
  public void close() {
    lease.close();
  }

  private void free() {
    if (graphs != null) {
      graphs.close();
    }
    if (aoti != null) {
      aoti.close();
    } else if (!moduleHandedOver) {
      module.close();
    }
    LOG.debug("freed model '{}' on {}", spec.id(), device);
  }

  @Override
  public String toString() {
    return "TorchModel{" + spec.id() + " on " + device + (lease.isClosed() ? ", closed" : "")
        + "}";
  }

  /**
   * The model's own error from a libtorch message: the last line of a TorchScript traceback that
   * names an error ({@code builtins.ValueError: ...}, {@code RuntimeError: CUDA error: ...}), or
   * its last line if none does; else the first line of a c10 error.
   */
  static String modelMessage(String message) {
    if (message == null || message.isBlank()) {
      return "(libtorch gave no message)";
    }
    if (message.contains("Traceback of TorchScript")) {
      String[] lines = message.strip().split("\n");
      // The error line itself; a CUDA error is followed by lines of advice.
      for (int i = lines.length - 1; i >= 0; i--) {
        if (ERROR_LINE.matcher(lines[i]).find()) {
          return lines[i].strip();
        }
      }
      return lines[lines.length - 1].strip();
    }
    return firstLine(message);
  }

  /** A line naming an error: {@code RuntimeError: ...}, {@code builtins.ValueError: ...}. */
  private static final java.util.regex.Pattern ERROR_LINE =
      java.util.regex.Pattern.compile("^\\s*[A-Za-z_][\\w.]*(Error|Exception): ");

  static String firstLine(String message) {
    if (message == null) {
      return "(no message)";
    }
    int nl = message.indexOf('\n');
    return (nl < 0 ? message : message.substring(0, nl)).strip();
  }
}
