package ai.nos.optim.internal;

import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.TensorSpec;
import ai.nos.internal.torch.CompiledRunner;
import ai.nos.internal.torch.CudaStatus;
import ai.nos.internal.torch.VerifiedArtifact;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;
import org.bytedeco.tensorrt.global.nvinfer;
import org.bytedeco.tensorrt.nvinfer.Dims64;
import org.bytedeco.tensorrt.nvinfer.ICudaEngine;
import org.bytedeco.tensorrt.nvinfer.IExecutionContext;
import org.bytedeco.tensorrt.nvinfer.IRuntime;

/**
 * A TensorRT engine (a serialized plan) served as a NOS model: the forward pass of a
 * {@code TorchModel} whose artifact is a {@code .engine} / {@code .plan} file
 * ({@link TrtEngineFormat}).
 *
 * <h2>What it does with libtorch's tensors</h2>
 * Inputs arrive as libtorch tensors on the engine's GPU, in signature order. Each is made
 * contiguous and of the engine's input type, its shape is given to the execution context
 * ({@code setInputShape}) and its device address bound ({@code setTensorAddress}); the outputs are
 * libtorch tensors allocated at the shapes TensorRT computes, bound the same way; then
 * {@code enqueueV3} runs the engine on the context's own stream, between two events: the stream
 * waits for the caller's current libtorch stream (where the inputs were made), and the caller's
 * stream waits for the engine before whatever libtorch does with the outputs next (the copy back
 * to the host). TensorRT asks for a stream other than the legacy default one, which NOS's threads
 * use (with it, it synchronizes around every enqueue). No extra copy exists: TensorRT reads and
 * writes libtorch's memory, and libtorch's allocator reuses a freed input or output only for work
 * queued after that wait.
 *
 * <h2>Memory</h2>
 * The engine's weights live in memory TensorRT allocates itself when the plan is deserialized;
 * libtorch's allocator does not see it, so {@link #deviceBytesOutsideAllocator()} reports the
 * plan's size (its weights and kernels) and the manager adds it to the copy's measured footprint.
 * Each execution context's activation memory is a libtorch tensor (TensorRT's user-managed
 * allocation), which the manager measures like any model's working memory. Everything is freed on
 * {@link #close}: the contexts, then their memory, then the engine ({@link NativeDelete}: TensorRT
 * frees its objects with {@code delete}, which JavaCPP does not attach to objects TensorRT made).
 *
 * <h2>Concurrency</h2>
 * An execution context runs one call at a time. The runner holds {@value #CONTEXTS} of them (the
 * manager's two batch workers per copy) in a queue: a call takes one, waiting while all are busy,
 * and gives it back when its work is enqueued. A context's work is queued on its own stream, so
 * the next call on it runs after the last, whoever makes it. {@link #close} runs after the last
 * call (the owning model's lease) and waits for each context's stream.
 *
 * <h2>Batch range</h2>
 * An engine built with a dynamic batch serves the range of its first optimization profile. A
 * call with more rows runs in pieces of the profile's largest batch; a piece with fewer rows than
 * the smallest is padded with zeros and the padding dropped from the outputs. The spec's batching
 * must fit the profile ({@link #open} refuses a larger {@code maxBatchSize}).
 */
final class TrtRunner implements CompiledRunner {
  /** Execution contexts per engine: calls that run at once. */
  static final int CONTEXTS = 2;

  /** One IRuntime per JVM: TensorRT's runtime is thread-safe and small; it is never freed. */
  private static final class Runtime {
    static final IRuntime INSTANCE = create();

    private static IRuntime create() {
      IRuntime runtime = nvinfer.createInferRuntime(TensorRtLogger.get());
      if (runtime == null || runtime.isNull()) {
        throw new IllegalStateException("TensorRT made no runtime"
            + TensorRt.saidSince(TensorRtLogger.get().book(), 0));
      }
      runtime.retainReference();
      return runtime;
    }
  }

  /**
   * An execution context, its activation memory, the stream it runs on and the events that
   * order that stream with the caller's.
   */
  private record Context(IExecutionContext context, Tensor memory, CUstream_st stream,
      CUevent_st ready, CUevent_st done) {}

  /** An input or output tensor of the engine, in the spec's order. */
  private record Binding(String name, BytePointer nativeName, torch.ScalarType type) {}

  private final String modelId;
  private final String kind;
  private final int device;
  private final org.bytedeco.pytorch.Device torchDevice;
  private final ICudaEngine engine;
  private final List<Context> contexts;
  private final BlockingQueue<Context> free;
  private final List<Binding> inputs;
  private final List<Binding> outputs;
  private final int minBatch;
  private final int maxBatch;
  private final long planBytes;

  private TrtRunner(String modelId, String kind, Device device, ICudaEngine engine,
      List<Context> contexts, List<Binding> inputs, List<Binding> outputs, int minBatch,
      int maxBatch, long planBytes) {
    this.modelId = modelId;
    this.kind = kind;
    this.device = device.index().orElse(0);
    this.torchDevice = new org.bytedeco.pytorch.Device(torch.DeviceType.CUDA, (byte) this.device);
    this.torchDevice.retainReference();
    this.engine = engine;
    this.contexts = contexts;
    this.free = new ArrayBlockingQueue<>(contexts.size(), false, contexts);
    this.inputs = inputs;
    this.outputs = outputs;
    // Made in open()'s scope: kept until close.
    inputs.forEach(b -> b.nativeName().retainReference());
    outputs.forEach(b -> b.nativeName().retainReference());
    this.minBatch = minBatch;
    this.maxBatch = maxBatch;
    this.planBytes = planBytes;
  }

  /**
   * Deserializes the verified plan on {@code device} and checks it against the spec: its inputs
   * and outputs by name, their sizes after the batch, and the batch range against the spec's
   * batching.
   *
   * @throws ModelLoadException naming the model and the file, with TensorRT's own messages when
   *     it refused the plan (a plan is version-locked: it loads only in the TensorRT that built it)
   */
  static TrtRunner open(ModelSpec spec, VerifiedArtifact verified, Device device) {
    Path file = verified.origin();
    String id = spec.id();
    TensorRt.Probe probe = TensorRt.probe();
    if (!probe.usable()) {
      throw new ModelLoadException("model '" + id + "': " + file + " is a TensorRT engine but"
          + " TensorRT is not usable here: " + probe.reason());
    }
    if (!device.isCuda()) {
      throw new ModelLoadException("model '" + id + "': " + file + " is a TensorRT engine,"
          + " which runs on CUDA devices only, but the spec resolves to " + device);
    }
    String cannotFree = NativeDelete.check();
    if (cannotFree != null) {
      throw new ModelLoadException("model '" + id + "': " + cannotFree);
    }
    int index = device.index().orElse(0);
    String kind = "TensorRT " + probe.version();
    int previous = TensorRt.currentDevice();
    cudart.cudaSetDevice(index);
    long mark = TensorRtLogger.get().book().mark();
    ICudaEngine engine = null;
    List<Context> contexts = new ArrayList<>();
    try (PointerScope scope = new PointerScope()) {
      long size = sizeOf(id, verified.path(), file);
      try (BytePointer plan = read(id, verified.path(), file, size)) {
        engine = Runtime.INSTANCE.deserializeCudaEngine(plan, size);
      }
      if (engine == null || engine.isNull()) {
        throw new ModelLoadException("model '" + id + "': " + kind + " cannot load the engine "
            + file + " (a plan loads only in the TensorRT version and on the GPU kind that built"
            + " it)" + TensorRt.saidSince(TensorRtLogger.get().book(), mark));
      }
      NativeDelete.own(engine, ICudaEngine::new).retainReference();
      Map<String, Integer> modes = new LinkedHashMap<>();
      for (int i = 0; i < engine.getNbIOTensors(); i++) {
        String name = engine.getIOTensorName(i);
        try (BytePointer n = new BytePointer(name)) {
          modes.put(name, engine.getTensorIOMode(n));
        }
      }
      List<Binding> in = bind(id, file, engine, spec.signature().inputs(), modes,
          nvinfer.TensorIOMode.kINPUT.value, "input");
      List<Binding> out = bind(id, file, engine, spec.signature().outputs(), modes,
          nvinfer.TensorIOMode.kOUTPUT.value, "output");
      int[] range = batchRange(id, file, engine, spec, in);
      for (int i = 0; i < CONTEXTS; i++) {
        contexts.add(context(id, file, engine, index, mark));
      }
      return new TrtRunner(id, kind, device, engine, contexts, in, out, range[0], range[1],
          size);
    } catch (RuntimeException e) {
      for (Context c : contexts) {
        free(c);
      }
      if (engine != null && !engine.isNull()) {
        engine.releaseReference();
      }
      throw e;
    } finally {
      cudart.cudaSetDevice(previous);
    }
  }

  /** Binds the spec's tensors to the engine's by name; refuses what differs. */
  private static List<Binding> bind(String id, Path file, ICudaEngine engine,
      List<TensorSpec> specs, Map<String, Integer> modes, int mode, String what) {
    List<String> engineNames = new ArrayList<>();
    modes.forEach((n, m) -> {
      if (m == mode) {
        engineNames.add(n);
      }
    });
    List<String> specNames = specs.stream().map(TensorSpec::name).toList();
    if (!engineNames.containsAll(specNames) || engineNames.size() != specNames.size()) {
      throw new ModelLoadException("model '" + id + "': the TensorRT engine " + file + " has "
          + what + "s " + engineNames + " but the spec's signature declares " + specNames
          + " (export the ONNX with the signature's names)");
    }
    List<Binding> bindings = new ArrayList<>();
    for (TensorSpec s : specs) {
      BytePointer name = new BytePointer(s.name());
      int type = engine.getTensorDataType(name);
      torch.ScalarType scalar = scalarType(type);
      if (scalar == null) {
        throw new ModelLoadException("model '" + id + "': " + what + " '" + s.name()
            + "' of the TensorRT engine " + file + " has TensorRT data type " + type
            + ", which NOS does not serve (float, half, bfloat16, int32, int64, uint8, bool)");
      }
      Dims64 dims = engine.getTensorShape(name);
      long[] want = s.shape();
      long[] got = new long[dims.nbDims()];
      for (int d = 0; d < got.length; d++) {
        got[d] = dims.d(d);
      }
      boolean same = got.length == want.length;
      for (int d = 1; same && d < got.length; d++) {
        same = want[d] < 0 || got[d] < 0 || want[d] == got[d];
      }
      if (!same) {
        throw new ModelLoadException("model '" + id + "': " + what + " '" + s.name()
            + "' of the TensorRT engine " + file + " has shape " + Arrays.toString(got)
            + " (-1: dynamic) but the spec's signature declares " + Arrays.toString(want));
      }
      bindings.add(new Binding(s.name(), name, scalar));
    }
    return bindings;
  }

  /** The batch range of the first profile (or the fixed batch); checks the spec's batching. */
  private static int[] batchRange(String id, Path file, ICudaEngine engine, ModelSpec spec,
      List<Binding> inputs) {
    int min = 1;
    int max = Integer.MAX_VALUE;
    for (Binding b : inputs) {
      Dims64 dims = engine.getTensorShape(b.nativeName());
      if (dims.nbDims() == 0) {
        continue;
      }
      if (dims.d(0) >= 0) {
        min = Math.max(min, (int) dims.d(0));
        max = Math.min(max, (int) dims.d(0));
      } else {
        Dims64 lo = engine.getProfileShape(b.nativeName(), 0,
            nvinfer.OptProfileSelector.kMIN.value);
        Dims64 hi = engine.getProfileShape(b.nativeName(), 0,
            nvinfer.OptProfileSelector.kMAX.value);
        min = Math.max(min, (int) lo.d(0));
        max = Math.min(max, (int) hi.d(0));
      }
    }
    if (min > max) {
      throw new ModelLoadException("model '" + id + "': the inputs of the TensorRT engine "
          + file + " have no batch size in common (" + min + " > " + max + ")");
    }
    int wanted = spec.batching().map(ai.nos.Batching::maxBatchSize).orElse(1);
    if (wanted > max) {
      throw new ModelLoadException("model '" + id + "': the spec batches up to " + wanted
          + " rows but the TensorRT engine " + file + " takes at most " + max + " (its"
          + " optimization profile); build the engine with a max batch of at least " + wanted
          + " or lower the spec's maxBatchSize");
    }
    return new int[] {min, max};
  }

  private static Context context(String id, Path file, ICudaEngine engine, int index,
      long mark) {
    IExecutionContext context = engine.createExecutionContext(
        nvinfer.ExecutionContextAllocationStrategy.kUSER_MANAGED.value);
    if (context == null || context.isNull()) {
      throw new ModelLoadException("model '" + id + "': TensorRT made no execution context for "
          + file + TensorRt.saidSince(TensorRtLogger.get().book(), mark));
    }
    NativeDelete.own(context, IExecutionContext::new).retainReference();
    Tensor memory = null;
    CUstream_st stream = new CUstream_st();
    CUevent_st ready = new CUevent_st();
    CUevent_st done = new CUevent_st();
    try {
      long bytes = Math.max(engine.getDeviceMemorySizeV2(), 1);
      memory = torch.empty(new long[] {bytes}, new TensorOptions(torch.ScalarType.Byte)
          .device(new org.bytedeco.pytorch.DeviceOptional(
              new org.bytedeco.pytorch.Device(torch.DeviceType.CUDA, (byte) index))),
          new MemoryFormatOptional());
      memory.retainReference();
      context.setDeviceMemoryV2(memory.data_ptr(), bytes);
      CudaStatus.check(cudart.cudaStreamCreateWithFlags(stream, cudart.cudaStreamNonBlocking),
          "make a stream");
      CudaStatus.check(cudart.cudaEventCreateWithFlags(ready, cudart.cudaEventDisableTiming),
          "make an event");
      CudaStatus.check(cudart.cudaEventCreateWithFlags(done, cudart.cudaEventDisableTiming),
          "make an event");
      return new Context(context, memory, stream, ready, done);
    } catch (RuntimeException e) {
      free(new Context(context, memory, stream, ready, done));
      throw e;
    }
  }

  @Override
  public List<Tensor> run(List<Tensor> args) {
    if (args.size() != inputs.size()) {
      throw new IllegalArgumentException("model '" + modelId + "': the TensorRT engine takes "
          + inputs.size() + " input(s) but was given " + args.size());
    }
    long rows = args.isEmpty() || args.get(0).dim() == 0 ? 1 : args.get(0).size(0);
    if (rows >= minBatch && rows <= maxBatch) {
      return enqueue(args);
    }
    // Pieces of at most maxBatch rows; one below minBatch padded with zeros.
    List<List<Tensor>> pieces = new ArrayList<>();
    for (long start = 0; start < rows; start += maxBatch) {
      long n = Math.min(maxBatch, rows - start);
      List<Tensor> piece = new ArrayList<>(args.size());
      for (Tensor t : args) {
        Tensor p = t.narrow(0, start, n);
        piece.add(n < minBatch ? padded(p, minBatch) : p);
      }
      List<Tensor> out = enqueue(piece);
      if (n < minBatch) {
        out.replaceAll(o -> o.narrow(0, 0, n));
      }
      pieces.add(out);
    }
    if (pieces.size() == 1) {
      return pieces.get(0);
    }
    List<Tensor> joined = new ArrayList<>(outputs.size());
    for (int o = 0; o < outputs.size(); o++) {
      TensorVector parts = new TensorVector();
      for (List<Tensor> piece : pieces) {
        parts.push_back(piece.get(o));
      }
      joined.add(torch.cat(parts, 0));
    }
    return joined;
  }

  private static Tensor padded(Tensor t, long rows) {
    long[] shape = t.sizes().vec().get();
    shape[0] = rows - shape[0];
    Tensor zeros = torch.zeros(shape, new TensorOptions(t.scalar_type())
        .device(new org.bytedeco.pytorch.DeviceOptional(t.device())));
    TensorVector parts = new TensorVector(t, zeros);
    return torch.cat(parts, 0);
  }

  /** One enqueue of rows within the profile, on the caller's current stream. */
  private List<Tensor> enqueue(List<Tensor> given) {
    List<Tensor> args = new ArrayList<>(given);
    Context c;
    try {
      c = free.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("model '" + modelId + "': interrupted while waiting for"
          + " a TensorRT execution context", e);
    }
    int previous = TensorRt.currentDevice();
    if (previous != device) {
      cudart.cudaSetDevice(device);
    }
    try {
      CUstream_st current = torch_cuda.getCurrentCUDAStream((byte) device).stream();
      IExecutionContext context = c.context();
      long mark = TensorRtLogger.get().book().mark();
      for (int i = 0; i < inputs.size(); i++) {
        Binding b = inputs.get(i);
        Tensor t = args.get(i);
        if (t.scalar_type().value != b.type().value) {
          t = t.to(b.type());
        }
        t = t.contiguous();
        args.set(i, t);
        long[] shape = t.sizes().vec().get();
        try (Dims64 dims = dims(shape)) {
          if (!context.setInputShape(b.nativeName(), dims)) {
            throw new IllegalArgumentException("model '" + modelId + "': the TensorRT engine"
                + " refused shape " + Arrays.toString(shape) + " for input '" + b.name()
                + "' (batch range " + minBatch + ".." + maxBatch + ")"
                + TensorRt.saidSince(TensorRtLogger.get().book(), mark));
          }
        }
        context.setTensorAddress(b.nativeName(), t.data_ptr());
      }
      List<Tensor> out = new ArrayList<>(outputs.size());
      for (Binding b : outputs) {
        Dims64 dims = context.getTensorShape(b.nativeName());
        long[] shape = new long[dims.nbDims()];
        for (int d = 0; d < shape.length; d++) {
          shape[d] = dims.d(d);
          if (shape[d] < 0) {
            throw new IllegalStateException("model '" + modelId + "': TensorRT cannot say the"
                + " shape of output '" + b.name() + "' for these inputs");
          }
        }
        Tensor t = torch.empty(shape, new TensorOptions(b.type())
            .device(new org.bytedeco.pytorch.DeviceOptional(torchDevice)),
            new MemoryFormatOptional());
        context.setTensorAddress(b.nativeName(), t.data_ptr());
        out.add(t);
      }
      // The inputs were made on the caller's stream: the context's stream waits for them, and
      // the caller's stream waits for the engine before it reads the outputs or reuses a block.
      CudaStatus.check(cudart.cudaEventRecord(c.ready(), current), "mark the inputs");
      CudaStatus.check(cudart.cudaStreamWaitEvent(c.stream(), c.ready(), 0), "order the engine");
      if (!context.enqueueV3(c.stream())) {
        throw new IllegalStateException("model '" + modelId + "': TensorRT's enqueueV3 failed"
            + TensorRt.saidSince(TensorRtLogger.get().book(), mark));
      }
      CudaStatus.check(cudart.cudaEventRecord(c.done(), c.stream()), "mark the engine's work");
      CudaStatus.check(cudart.cudaStreamWaitEvent(current, c.done(), 0), "order the outputs");
      return out;
    } finally {
      if (previous != device) {
        cudart.cudaSetDevice(previous);
      }
      free.add(c);
    }
  }

  private static Dims64 dims(long[] shape) {
    Dims64 dims = new Dims64();
    dims.nbDims(shape.length);
    for (int d = 0; d < shape.length; d++) {
      dims.d(d, shape[d]);
    }
    return dims;
  }

  @Override
  public long bytes() {
    return planBytes;
  }

  @Override
  public long deviceBytesOutsideAllocator() {
    return planBytes;
  }

  @Override
  public String kind() {
    return kind;
  }

  /**
   * False: each call runs on its context's stream between events, which a capture of the
   * caller's stream cannot hold; TensorRT's own launch cost is small (tens of microseconds).
   */
  @Override
  public boolean capturable() {
    return false;
  }

  /** The engine's batch range, for tests: {min, max}. */
  int[] batchRange() {
    return new int[] {minBatch, maxBatch};
  }

  @Override
  public void close() {
    int previous = TensorRt.currentDevice();
    cudart.cudaSetDevice(device);
    try {
      for (Context c : contexts) {
        free(c);
      }
      engine.releaseReference();
      for (Binding b : inputs) {
        b.nativeName().releaseReference();
      }
      for (Binding b : outputs) {
        b.nativeName().releaseReference();
      }
      torchDevice.releaseReference();
    } finally {
      cudart.cudaSetDevice(previous);
    }
  }

  /**
   * Waits for the context's last work, then frees the context, its memory, its stream and its
   * events (those that were made: a context that failed half-way is freed too).
   */
  private static void free(Context c) {
    if (!c.stream().isNull()) {
      cudart.cudaStreamSynchronize(c.stream());
    }
    c.context().releaseReference();
    if (c.memory() != null) {
      c.memory().releaseReference();
    }
    if (!c.stream().isNull()) {
      cudart.cudaStreamDestroy(c.stream());
    }
    for (CUevent_st e : new CUevent_st[] {c.ready(), c.done()}) {
      if (!e.isNull()) {
        cudart.cudaEventDestroy(e);
      }
    }
  }

  /** The libtorch type of a TensorRT data type, or null for one NOS does not serve. */
  static torch.ScalarType scalarType(int trt) {
    if (trt == nvinfer.DataType.kFLOAT.value) {
      return torch.ScalarType.Float;
    } else if (trt == nvinfer.DataType.kHALF.value) {
      return torch.ScalarType.Half;
    } else if (trt == nvinfer.DataType.kBF16.value) {
      return torch.ScalarType.BFloat16;
    } else if (trt == nvinfer.DataType.kINT32.value) {
      return torch.ScalarType.Int;
    } else if (trt == nvinfer.DataType.kINT64.value) {
      return torch.ScalarType.Long;
    } else if (trt == nvinfer.DataType.kUINT8.value) {
      return torch.ScalarType.Byte;
    } else if (trt == nvinfer.DataType.kBOOL.value) {
      return torch.ScalarType.Bool;
    }
    return null;
  }

  private static long sizeOf(String id, Path verified, Path file) {
    try {
      long size = Files.size(verified);
      if (size == 0) {
        throw new ModelLoadException("model '" + id + "': the TensorRT engine " + file
            + " is empty");
      }
      return size;
    } catch (IOException e) {
      throw new ModelLoadException("model '" + id + "': cannot read the TensorRT engine " + file
          + ": " + e.getMessage(), e);
    }
  }

  /** The verified copy's bytes in native memory, read in pieces of at most 1 GiB. */
  private static BytePointer read(String id, Path verified, Path file, long size) {
    BytePointer plan = new BytePointer(size);
    try (FileChannel in = FileChannel.open(verified, StandardOpenOption.READ)) {
      long done = 0;
      while (done < size) {
        long n = Math.min(1L << 30, size - done);
        ByteBuffer window = new BytePointer(plan).position(done).limit(done + n)
            .asByteBuffer();
        while (window.hasRemaining()) {
          if (in.read(window) < 0) {
            throw new IOException("the file ended after " + (done + window.position())
                + " of " + size + " bytes");
          }
        }
        done += n;
      }
      return plan;
    } catch (IOException e) {
      plan.close();
      throw new ModelLoadException("model '" + id + "': cannot read the TensorRT engine " + file
          + ": " + e.getMessage(), e);
    }
  }


  @Override
  public String toString() {
    return "TrtRunner{" + modelId + ", " + kind + ", cuda:" + device + ", batch " + minBatch
        + ".." + maxBatch + "}";
  }
}
