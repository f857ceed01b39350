package ai.nos.internal.torch;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.InferenceException;
import ai.nos.Model;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
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
import org.bytedeco.pytorch.GenericDict;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.cuda.CUDAStreamGuard;
import org.bytedeco.pytorch.global.torch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TorchScript module, or a compiled artifact ({@link CompiledRunner}: an AOTInductor package, a
 * TensorRT engine through nos-optim), loaded on one device:
 * the loaded copy's runtime (its forward path, outputs read back against the signature, its
 * lease). {@link TorchLoader} makes it (load, probe, AOTInductor, passes, CUDA graphs, park and
 * restore); the static {@code load} methods here are its entry points, kept for callers.
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

  final ModelSpec spec;
  final Device device;
  final org.bytedeco.pytorch.Device torchDevice;
  /** The TorchScript module, or null when {@link #compiled} runs the model. */
  final JitModule module;
  /** The compiled artifact, or null when {@link #module} runs the model. */
  final CompiledRunner compiled;
  private final Lease lease;
  /** Bytes of the parameters and buffers as loaded, before any pass made them constants. */
  final long weightBytes;
  /** The load-time steps that were applied (and passed the check), in order. */
  final List<String> steps;
  private final boolean channelsLast;
  /** The recorded graphs calls replay when they fit, or null: the module runs eagerly. */
  final GraphBuckets graphs;
  /** The recorder a test gave the load (null: CUDA's); a copy swapped back records with it. */
  final ModelGraphs.RecorderFactory recorderFactory;
  /** Set when a parked copy took the module over: freeing this model leaves it alone. */
  volatile boolean moduleHandedOver;

  TorchModel(ModelSpec spec, Device device, JitModule module, long weightBytes,
      List<String> steps) {
    this(spec, device, module, null, weightBytes, steps, null, null);
  }

  TorchModel(ModelSpec spec, Device device, JitModule module, CompiledRunner compiled,
      long weightBytes, List<String> steps, GraphBuckets graphs,
      ModelGraphs.RecorderFactory recorderFactory) {
    this.spec = spec;
    this.graphs = graphs;
    this.recorderFactory = recorderFactory;
    this.device = device;
    this.torchDevice = TorchRuntime.toTorch(device);
    this.module = module;
    this.compiled = compiled;
    this.lease = new Lease(this::free);
    this.weightBytes = weightBytes;
    this.steps = List.copyOf(steps);
    this.channelsLast = steps.contains(ai.nos.Optimization.CHANNELS_LAST.label());
  }

  /**
   * Loads {@code spec}'s artifact onto the device its preference resolves to: a TorchScript file,
   * or an AOTInductor package ({@code .pt2}), through {@link TorchLoader}.
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
    return TorchLoader.load(spec, LoadPasses::forSpec, null, allowedDirectories);
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
    return TorchLoader.load(spec, passes, recorder, List.of());
  }

  /**
   * Parks this model for the host tier ({@link TorchLoader#park}): closes it and returns a copy
   * that owns its module with the weights in host memory, or null (the model left as it was) if
   * it cannot be parked. Call only when no call runs on the model.
   */
  ParkedModel park() {
    return TorchLoader.park(this);
  }

  /** The module this model runs; for tests of the load-time passes. */
  JitModule module() {
    return module;
  }

  /** The load-time optimization steps this model runs with, in order. */
  public List<String> optimizations() {
    return steps;
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
    return run((args, pending) -> {
      List<TensorSpec> specs = spec.signature().inputs();
      for (int i = 0; i < ordered.size(); i++) {
        TensorSpec input = specs.get(i);
        Tensor t = ordered.get(i);
        args.add(asGiven(input)
            ? TorchTensors.toTorch(t, torchDevice, t.dtype(), pending)
            : memoryFormat(image(input, TorchTensors.toTorch(t, torchDevice, runAs(input),
                pending))));
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
    return run((args, pending) -> {
      for (TensorSpec input : spec.signature().inputs()) {
        String name = input.name();
        boolean given = asGiven(input);
        org.bytedeco.pytorch.Tensor t = only != null
            ? TorchTensors.toTorch(only.get(name), torchDevice,
                given ? only.get(name).dtype() : runAs(input), pending)
            : TorchTensors.staged(batch.shape(name), batch.dtype(name), batch.byteSize(name),
                buffer -> batch.write(name, buffer), torchDevice,
                given ? batch.dtype(name) : runAs(input));
        args.add(given ? t : memoryFormat(image(input, t)));
      }
    });
  }

  /**
   * Whether {@code input} goes to the device in the caller's dtype and layout, to be converted
   * to the model's in one pass after the copy ({@link #conform}): on a GPU, an input without
   * image pre-processing. A call that replays a recorded graph then converts while it copies into
   * the graph's static input, as Python's {@code static.copy_(x)} does, where a cast, a
   * channels-last copy and the static copy made three passes over the batch and two allocations
   * (docs/vit-call-path.md, steps 12-14).
   */
  private boolean asGiven(TensorSpec input) {
    return device.isCuda() && !spec.imageInputs().containsKey(input.name());
  }

  /**
   * Puts the inputs that went to the device as given ({@link #asGiven}) in the model's dtype and
   * memory format, each converted in one pass where it is not; the others are left as they are.
   */
  private void conform(List<org.bytedeco.pytorch.Tensor> inputs) {
    List<TensorSpec> specs = spec.signature().inputs();
    for (int i = 0; i < inputs.size(); i++) {
      if (!asGiven(specs.get(i))) {
        continue;
      }
      org.bytedeco.pytorch.Tensor t = inputs.get(i);
      torch.ScalarType want = TorchTensors.scalarType(runAs(specs.get(i)));
      boolean cast = t.scalar_type().value != want.value;
      boolean layout = takesChannelsLast(t) && !t.is_contiguous(torch.MemoryFormat.ChannelsLast);
      if (cast || layout) {
        inputs.set(i, t.to(want, false, false, layout ? TorchTensors.channelsLastFormat()
            : TorchTensors.noMemoryFormat()));
      }
    }
  }

  /**
   * Whether a call of inputs with these shapes (signature order) would replay a CUDA graph
   * already recorded, running no eager kernel of the model (see
   * {@link ai.nos.internal.manager.Replica#runsColdThreadsWarm}).
   */
  boolean replaysRecorded(List<long[]> shapes) {
    return graphs != null && device.isCuda() && spec.imageInputs().isEmpty()
        && graphs.replaysRecorded(shapes);
  }

  /** An image input's pixels pre-processed on the device ({@link ai.nos.ImageInput}). */
  private org.bytedeco.pytorch.Tensor image(TensorSpec input, org.bytedeco.pytorch.Tensor t) {
    ai.nos.ImageInput image = spec.imageInputs().get(input.name());
    return image == null ? t : DeviceImages.apply(t, image,
        TorchTensors.scalarType(spec.precision().dtype()));
  }

  /** An input in channels-last format when the model's weights are. */
  org.bytedeco.pytorch.Tensor memoryFormat(org.bytedeco.pytorch.Tensor t) {
    return takesChannelsLast(t) ? t.contiguous(torch.MemoryFormat.ChannelsLast) : t;
  }

  /** Whether input {@code t} runs channels-last: the weights are, and its rank takes it. */
  private boolean takesChannelsLast(org.bytedeco.pytorch.Tensor t) {
    return channelsLast && LoadPasses.channelsLastApplies(t);
  }

  /**
   * Holds a reference, opens the call's native scope, and runs the inputs {@code arguments}
   * makes: as a replay of a recorded graph when they fit one, else through the module.
   */
  private Map<String, Tensor> run(java.util.function.BiConsumer<
      List<org.bytedeco.pytorch.Tensor>, PendingCopies> arguments) {
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
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode();
        CallStreams.Use stream = gpu == null ? null : CallStreams.take(device.index().orElse(0));
        CUDAStreamGuard onStream = stream == null ? null
            : new CUDAStreamGuard(stream.stream().unwrap());
        // Closed first: waits for the call's stream before its pinned inputs are released.
        PendingCopies pending = stream == null ? null
            : new PendingCopies(stream.stream()::synchronize)) {
      List<org.bytedeco.pytorch.Tensor> inputs = new ArrayList<>();
      arguments.accept(inputs, pending);
      Map<String, Tensor> replayed = graphs == null ? null
          : graphs.runIfFits(inputs, this::named);
      if (replayed != null) {
        return replayed;
      }
      conform(inputs);
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
  List<org.bytedeco.pytorch.Tensor> forward(List<org.bytedeco.pytorch.Tensor> inputs) {
    if (compiled != null) {
      List<org.bytedeco.pytorch.Tensor> out = compiled.run(inputs);
      if (out.size() != spec.signature().outputs().size()) {
        throw mismatch("returned " + out.size() + " tensor(s) but the signature declares "
            + spec.signature().outputs().size() + " output(s) "
            + spec.signature().outputNames());
      }
      return out;
    }
    IValueVector args = new IValueVector();
    inputs.forEach(t -> args.push_back(new IValue(t)));
    // A thread with TorchScript's executor optimization off fails a frozen module: see
    // ExecutorOptimization. The call runs with it on; the thread keeps its own setting.
    return ExecutorOptimization.on(() -> tensorsOf(module.forward(args)));
  }

  /**
   * Bytes of the module's parameters and buffers as loaded, wherever they live (measured before
   * any load-time pass turned them into constants).
   */
  public long parameterBytes() {
    return weightBytes;
  }

  /** Floating-point inputs run in the spec's precision; other dtypes as given. */
  DType runAs(TensorSpec input) {
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
    if (compiled != null) {
      compiled.close();
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
    return LibtorchMessages.firstLine(message);
  }
}
