package ai.nos.internal.torch;

import static ai.nos.internal.torch.TorchModel.firstLine;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.global.torch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes {@link TorchModel}s: reads and verifies the artifact, loads it (TorchScript, with the
 * host-first probe, or an AOTInductor package), applies and checks the load-time passes, records
 * CUDA graphs, and parks a model for the host tier ({@link #park}) to be restored later ({@link
 * ParkedModel#restore}). A {@link TorchModel} is then only the loaded copy's runtime: its
 * forward path and its lease. Each step returns a new model, or the one it was given, and frees
 * any model it replaces, so a failed load leaves no native memory behind.
 *
 * <h2>Concurrency</h2>
 * Stateless: every method runs on the calling thread, on a model no other thread holds yet (or,
 * for {@link #park}, one no call runs on). A CUDA load holds the device's shared GPU-work lock
 * ({@link CudaWork#shared}) for the whole load, taken after the artifact is verified (hashing is
 * no GPU work); park and restore take it around the weights' copy. Those are the only locks, and
 * none is held when this returns.
 */
final class TorchLoader {
  /** The model's logger: the load lines keep the category they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(TorchModel.class);

  private TorchLoader() {}

  /**
   * libtorch opens the artifact's verified private copy ({@link VerifiedArtifact}), deleted once
   * the model is loaded; messages name the artifact's own file.
   */
  static TorchModel load(ModelSpec spec,
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
    CompiledFormat format = CompiledFormats.find(file.origin(), file.path());
    if (format != null) {
      return loadCompiled(spec, device, file, recorder, t0, format);
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
      String failed = probe(plain);
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
    TorchModel model = withGraphs(optimized(plain, passes.apply(resolved, device)), recorder);
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
          + " is not a TorchScript model libtorch can load: "
          + LibtorchMessages.loadFailure(e.getMessage()), e);
    }
    try {
      ForwardArguments.check(spec, file, module);
    } catch (ModelLoadException e) {
      module.close();
      throw e;
    }
    try {
      module.eval();
      if (spec.precision() == Precision.FP32 && TracedTf32.needed(device)) {
        // Before the first call: a trace's convolutions carry the TF32 flag of their tracing.
        int strict = TracedTf32.strictConvolutions(module);
        if (strict > 0 && device.isCuda()) {
          LOG.info("model '{}': {} convolution(s) traced with TF32 on run in fp32 (the spec's"
              + " precision; fp16 or bf16 for speed)", spec.id(), strict);
        }
      }
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
    return new TorchModel(spec, device, module, TorchRuntime.moduleBytes(module), List.of());
  }

  /** Null if one call on random inputs ({@link LoadPasses#checkInputs}) runs, else why not. */
  private static String probe(TorchModel m) {
    try {
      m.infer(LoadPasses.checkInputs(m.spec));
      return null;
    } catch (RuntimeException e) {
      return firstLine(e.getMessage());
    }
  }

  /**
   * Loads a compiled artifact (an AOTInductor package, or a format another module provides: see
   * {@link CompiledFormats}): it is compiled ahead of time, so of the load-time steps only the
   * process-wide cuDNN benchmark mode (asked for, or by {@code auto} on a GPU) and CUDA graphs
   * apply; channels-last, freeze and {@code optimize_for_inference} are TorchScript passes and are
   * skipped with a log line. One call on random inputs checks that the artifact runs the spec's
   * signature before the model is handed out.
   */
  private static TorchModel loadCompiled(ModelSpec spec, Device device,
      VerifiedArtifact verified, ModelGraphs.RecorderFactory recorder, long t0,
      CompiledFormat format) {
    Path file = verified.origin();
    // The compiled code trusts its inputs' sizes: a dimension it was compiled for that a call
    // could change would be read out of bounds. Only the batch may vary (image inputs are sized
    // by their ImageInput before the model).
    for (TensorSpec in : spec.signature().inputs()) {
      long[] shape = in.shape();
      for (int d = 1; d < shape.length; d++) {
        if (shape[d] < 0 && !spec.imageInputs().containsKey(in.name())) {
          throw new ModelLoadException("model '" + spec.id() + "': input '" + in.name()
              + "' has shape " + Arrays.toString(shape) + " but a compiled artifact needs"
              + " every dimension after the batch given: its code trusts the sizes it was"
              + " compiled for, which NOS cannot read from " + file);
        }
      }
    }
    CompiledRunner runner = format.open(spec, verified, device);
    String kind = runner.kind();
    List<String> steps = LoadPasses.applyToPackage(spec, device);
    TorchModel plain = new TorchModel(spec, device, null, runner, runner.bytes(), steps, null,
        null);
    try {
      plain.infer(LoadPasses.checkInputs(spec));
    } catch (RuntimeException e) {
      plain.close();
      throw new ModelLoadException("model '" + spec.id() + "': the " + kind + " artifact "
          + file + " does not run the spec's signature " + spec.signature() + ": "
          + firstLine(e.getMessage()), e);
    }
    TorchModel model = plain;
    if (runner.capturable()) {
      model = withGraphs(plain, recorder);
    } else if (spec.optimizations().contains(ai.nos.Optimization.CUDA_GRAPHS)) {
      LOG.info("model '{}': {} runs its own launches; serving without CUDA graphs", spec.id(),
          kind);
    }
    LOG.info("loaded model '{}' from {} on {} ({}, {}{}) in {} ms", spec.id(), file,
        device, kind, spec.precision(), model.steps.isEmpty() ? "" : ", " + String.join(", ",
            model.steps), (System.nanoTime() - t0) / 1_000_000);
    return model;
  }

  /**
   * This model with the passes applied one by one, each checked on a random input against the
   * model as loaded: the first step that fails, or moves an output beyond the tolerance, is
   * dropped with a warning naming it and why, and so are the steps after it; the steps before it
   * stay. A model that is replaced is freed (a pass that works in place keeps the module).
   */
  static TorchModel optimized(TorchModel m, List<LoadPasses.Pass> passes) {
    if (passes.isEmpty()) {
      return m;
    }
    Map<String, Tensor> inputs = LoadPasses.checkInputs(m.spec);
    Map<String, Tensor> before = m.infer(inputs);
    double tolerance = LoadPasses.tolerance(m.spec);
    TorchModel current = m;
    for (int i = 0; i < passes.size(); i++) {
      LoadPasses.Pass pass = passes.get(i);
      List<String> names = new ArrayList<>(current.steps);
      names.add(pass.name());
      TorchModel candidate = null;
      String problem;
      try {
        JitModule from = current.module;
        // freeze inlines what it keeps only with the executor optimization on
        JitModule next = ExecutorOptimization.on(() -> pass.apply().apply(from));
        candidate = new TorchModel(m.spec, m.device, next, m.weightBytes, names);
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
          + " (dropped: {})", m.spec.id(), pass.name(), m.device, problem,
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
  static TorchModel withGraphs(TorchModel m, ModelGraphs.RecorderFactory factory) {
    if (!m.spec.optimizations().contains(ai.nos.Optimization.CUDA_GRAPHS)) {
      return m;
    }
    long t0 = System.nanoTime();
    GraphBuckets recorded = ModelGraphs.record(m.spec, m.device, factory, graphInputs(m),
        m::forward);
    if (recorded == null) {
      return m;
    }
    TorchModel graphed = withBuckets(m, recorded, factory);
    if (!ModelGraphs.check(m.spec, m.device, recorded.sizes(), m::infer, graphed::infer)) {
      recorded.close();
      return m;
    }
    LOG.info("model '{}': recorded {} for batch sizes {} on {} in {} ms", m.spec.id(),
        ai.nos.Optimization.CUDA_GRAPHS.label(), Arrays.toString(recorded.sizes()), m.device,
        (System.nanoTime() - t0) / 1_000_000);
    return graphed;
  }

  /**
   * This model (not yet handed out) with the graphs of its load recorded again lazily
   * ({@link GraphBuckets#lazy}), for a copy swapped back: no recording and no check now.
   */
  static TorchModel withLazyGraphs(TorchModel m, ModelGraphs.RecorderFactory factory,
      int warmups) {
    GraphBuckets lazy = ModelGraphs.lazy(m.spec, m.device, factory, warmups, graphInputs(m),
        m::forward);
    return lazy == null ? m : withBuckets(m, lazy, factory);
  }

  private static TorchModel withBuckets(TorchModel m, GraphBuckets buckets,
      ModelGraphs.RecorderFactory factory) {
    List<String> names = new ArrayList<>(m.steps);
    names.add(ai.nos.Optimization.CUDA_GRAPHS.label());
    return new TorchModel(m.spec, m.device, m.module, m.compiled, m.weightBytes, names, buckets,
        factory);
  }

  /** How the graphs' static inputs look: the signature's, on the device, as calls run them. */
  private static List<GraphBuckets.InputShape> graphInputs(TorchModel m) {
    List<GraphBuckets.InputShape> shapes = new ArrayList<>();
    for (TensorSpec in : m.spec.signature().inputs()) {
      long[] shape = in.shape();
      DType as = m.runAs(in);
      shapes.add(new GraphBuckets.InputShape(Arrays.copyOfRange(shape, 1, shape.length),
          full -> m.memoryFormat(torch.zeros(full, new org.bytedeco.pytorch.TensorOptions(
              TorchTensors.scalarType(as)).device(new DeviceOptional(m.torchDevice))))));
    }
    return shapes;
  }

  /**
   * Parks this model for the host tier: closes it, moving its module's tensors off the device into
   * pinned host memory ({@link ModuleWeights}); the returned copy owns the module. Its recorded
   * CUDA graphs are freed (they point at the device memory the weights leave) and recorded again,
   * lazily, when it comes back ({@link ParkedModel#restore}). Null, and the model left as it was,
   * if it cannot be parked: an AOTInductor library keeps its weights inside the library, and a
   * module with a tensor NOS cannot move. Call only when no call runs on the model.
   */
  static ParkedModel park(TorchModel m) {
    if (m.compiled != null) {
      return null;
    }
    java.util.concurrent.locks.Lock gpu = m.device.isCuda()
        ? CudaWork.shared(m.device, m.spec.id()) : null;
    try {
      ModuleWeights weights = ModuleWeights.of(m.module);
      if (weights == null) {
        return null;
      }
      try {
        weights.toHost();
      } catch (RuntimeException e) {
        weights.close();
        throw e;
      }
      m.moduleHandedOver = true;
      m.close();
      List<String> base = new ArrayList<>(m.steps);
      base.remove(ai.nos.Optimization.CUDA_GRAPHS.label());
      return new ParkedModel(m.spec, m.module, weights, m.weightBytes, base, m.graphs != null,
          m.recorderFactory, m.device);
    } finally {
      if (gpu != null) {
        gpu.unlock();
      }
    }
  }
}
