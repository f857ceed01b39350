package ai.nos.benchmarks.gpu;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.PinnedBuffer;
import ai.nos.Precision;
import ai.nos.Signature;
import ai.nos.internal.torch.PinnedMemory;
import ai.nos.internal.torch.StepGraphs;
import ai.nos.internal.torch.TorchModel;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.internal.torch.TorchTensors;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Where a NOS call's time goes around the forward pass (#20 item 3): ViT-B/16 fp16 at batch 64
 * from a {@link PinnedBuffer} took 7.54 ms a call (p50) through OptimBench's freeze path, where
 * NOS's own CUDA graph of the same file replays in 6.49 ms with the input on the device
 * (ForwardProbe); Python's torch 2.11 does the whole call in 7.14 ms against 6.42 for its graph.
 * So NOS's call adds 1.05 ms around the forward pass against Python's 0.72. docs/vit-call-path.md
 * lists the steps of NOS's call; this probe times the whole call and, where it can reach them, its
 * pieces alone, in one JVM on one card.
 *
 * <p>FILE is loaded through NOS's public API as OptimBench's freeze path loads it (a manager
 * without a footprint catalog; batching up to max(256, BATCH) rows with preferred sizes 1, 8, 64,
 * 256 and BATCH; channels_last, freeze, cudnn_benchmark, cuda_graphs; input "image" float32
 * [-1, CHANNELS, SIZE, SIZE], output "logits" float32 [-1, -1]). The input is a PinnedBuffer of
 * BATCH random normal images. After {@link #WARMUP} calls each line is the median of CALLS calls,
 * each followed by a synchronize of the current stream inside the timed span (the {@code sync}
 * line is that floor alone) and preceded by one outside it:
 *
 * <ul>
 *   <li>{@code whole}: {@code Model.infer} of the manager's model, as OptimBench times it (the
 *       batcher's worker runs the call: a hand-off there and back);
 *   <li>{@code whole-no-manager}: the same file and spec loaded by {@link TorchModel#load} and
 *       called on this thread (no manager, no batcher): the difference is their share.
 * </ul>
 *
 * <p>On CUDA, each piece of that call alone on this thread's current stream (NOS's calls run on a
 * stream of its own; each piece here is waited for, so the stream does not matter):
 *
 * <ul>
 *   <li>{@code sync}: nothing but the synchronize, the floor every line carries;
 *   <li>{@code h2d}: the pinned bytes to the device as float32 with torch's own copy, the call
 *       NOS makes ({@code from_blob(...).to(device, Float, non_blocking=false, copy=true)});
 *   <li>{@code h2d-cast}: NOS's own {@link TorchTensors#toTorch}: that copy and the cast to the
 *       precision on the device (the probe says whether it took the direct pinned path);
 *   <li>{@code cast}: float32 to half on the device alone (fp16 only);
 *   <li>{@code channels-last}: {@code contiguous(ChannelsLast)} of the cast input alone;
 *   <li>{@code static-copy}: {@code copy_} of that into the graph's static input (channels-last,
 *       the precision), as GraphBuckets does;
 *   <li>{@code fused-copy}: {@code copy_} of the float32 NCHW device input straight into the
 *       static input, one kernel: what Python's loop does instead of the three above;
 *   <li>{@code replay}: the frozen module (loaded as ForwardProbe loads it) recorded through
 *       NOS's {@link StepGraphs} with that static input, replayed (ForwardProbe's
 *       frozen-graphs figure);
 *   <li>{@code logits-back-cpu}: the logits to the host as Python's loop reads them: cast to
 *       float32 on the device and {@code cpu()} (pageable, synchronous);
 *   <li>{@code logits-back}: as NOS reads them: the same, then a new direct buffer and a
 *       memcpy into it (TorchTensors.fromTorch for an output under 1 MiB);
 *   <li>{@code logits-back-pinned}: the cast and one copy into a pinned host tensor made once.
 * </ul>
 *
 * <p>Then {@code nos-chain} (h2d-cast + channels-last + static-copy + replay + logits-back) and
 * {@code python-chain} (h2d + fused-copy + replay + logits-back-cpu) as sums of those medians
 * (each piece carries one {@code sync} floor). Lines (grep "^CallPathProbe:"):
 *
 * <pre>
 * CallPathProbe: FILE on DEVICE, PRECISION, input [B, C, S, S] from a PinnedBuffer (pinned P);
 *     libtorch V; SDPA priority [...]
 * CallPathProbe: runs with [steps]                          (the manager's model)
 * CallPathProbe: PIECE median_ms=X                          (one per piece above)
 * CallPathProbe: pinned direct copies N of M whole calls    (CUDA only)
 * CallPathProbe: nos-chain sum_ms=X pieces=A+B+...          (CUDA only; python-chain too)
 * </pre>
 *
 * <p>{@code -Dnos.bench.sdpOrder=cudnn} (SdpOrder) puts an SDPA backend first before any load.
 * GPU run: {@code bash scripts/gpu/bench.sh callpath} (docs/vit-call-path.md).
 *
 * <pre>CallPathProbe FILE [DEVICE=cuda:0] [BATCH=64] [fp16|fp32] [CALLS=200] [SIZE=224]
 *     [CHANNELS=3]</pre>
 */
public final class CallPathProbe {
  /** Unmeasured calls before each line. */
  static final int WARMUP = 10;

  private CallPathProbe() {}

  public static void main(String[] args) {
    run(args, System.out);
  }

  /** The probe with main's arguments, its lines to {@code out}. */
  static void run(String[] args, PrintStream out) {
    ImageProbeArgs a = ImageProbeArgs.parse(args);
    Path file = a.file();
    Device device = a.device();
    int batch = a.batch();
    String label = a.precision();
    Precision precision = a.half() ? Precision.FP16 : Precision.FP32;
    int calls = a.calls();
    int size = a.size();
    int channels = a.channels();

    TorchRuntime.ensureLoaded();
    String order = SdpOrder.applyFromProperty();
    ModelSpec spec = spec(file, precision, device, batch, channels, size);
    try (ModelManager manager = ModelManager.builder().noFootprintCatalog().build();
        PinnedBuffer image = PinnedBuffer.allocate(DType.FLOAT32, batch, channels, size, size)) {
      FloatBuffer pixels = image.buffer().asFloatBuffer();
      Random r = new Random(7);
      while (pixels.hasRemaining()) {
        pixels.put((float) r.nextGaussian());
      }
      out.printf(Locale.ROOT, "CallPathProbe: %s on %s, %s, input %s from a PinnedBuffer (pinned"
          + " %b); libtorch %s; SDPA priority %s%n", file, device, label,
          Arrays.toString(image.shape()), image.isPinned(), TorchRuntime.libtorchVersion(), order);
      Map<String, ai.nos.Tensor> in = Map.of("image", image.tensor());
      long direct0 = PinnedMemory.directCopies();
      try (Model m = manager.load(spec)) {
        out.printf(Locale.ROOT, "CallPathProbe: runs with %s%n", manager.models().stream()
            .filter(i -> i.id().equals(spec.id())).map(ai.nos.ModelInfo::optimizations)
            .findFirst().orElse(List.of()));
        line(out, "whole", () -> m.infer(in), device, calls);
      }
      try (TorchModel direct = TorchModel.load(spec)) {
        line(out, "whole-no-manager", () -> direct.infer(in), device, calls);
      }
      if (device.isCuda()) {
        // Each whole call whose input went straight from the PinnedBuffer (no staging copy).
        out.printf(Locale.ROOT, "CallPathProbe: pinned direct copies %d of %d whole calls%n",
            PinnedMemory.directCopies() - direct0, 2 * (WARMUP + calls));
        pieces(out, file, device, precision, image, calls);
      }
    }
  }

  /** The spec of OptimBench's freeze path for FILE (see the class comment). */
  static ModelSpec spec(Path file, Precision precision, Device device, int batch, int channels,
      int size) {
    int max = Math.max(256, batch);
    int[] preferred = IntStream.of(1, 8, 64, 256, batch).distinct().sorted().toArray();
    return ModelSpec.builder().id("callpath-" + precision.label()).artifact(file)
        .precision(precision).maxBatchSize(max).device(device)
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, channels, size, size)
            .output("logits", DType.FLOAT32, -1, -1).build())
        .batching(Batching.builder().maxBatchSize(max).preferredBatchSizes(preferred).build())
        .optimize(Optimization.CHANNELS_LAST, Optimization.FREEZE, Optimization.CUDNN_BENCHMARK,
            Optimization.CUDA_GRAPHS)
        .build();
  }

  /** Each piece of the call alone (class comment); CUDA only. */
  private static void pieces(PrintStream out, Path file, Device device, Precision precision,
      PinnedBuffer image, int calls) {
    boolean half = precision == Precision.FP16;
    DType as = half ? DType.FLOAT16 : DType.FLOAT32;
    torch.ScalarType type = half ? torch.ScalarType.Half : torch.ScalarType.Float;
    org.bytedeco.pytorch.Device dev = TorchRuntime.toTorch(device);
    ai.nos.Tensor pinned = image.tensor();
    long[] shape = pinned.shape();
    java.util.LinkedHashMap<String, Double> ms = new java.util.LinkedHashMap<>();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      TensorOptions hostFloat = new TensorOptions(torch.ScalarType.Float);
      MemoryFormatOptional none = new MemoryFormatOptional();
      ByteBuffer bytes = pinned.buffer();
      ms.put("sync", line(out, "sync", () -> { }, device, calls));
      Runnable h2d = () -> torch.from_blob(new BytePointer(bytes), shape, hostFloat)
          .to(dev, torch.ScalarType.Float, false, true, none);
      ms.put("h2d", line(out, "h2d", h2d, device, calls));
      ms.put("h2d-cast", line(out, "h2d-cast", () -> TorchTensors.toTorch(pinned, dev, as),
          device, calls));
      Tensor f32 = torch.from_blob(new BytePointer(bytes), shape, hostFloat)
          .to(dev, torch.ScalarType.Float, false, true, none);
      Tensor cast = f32.to(type);
      if (half) {
        ms.put("cast", line(out, "cast", () -> f32.to(type), device, calls));
      }
      ms.put("channels-last", line(out, "channels-last",
          () -> cast.contiguous(torch.MemoryFormat.ChannelsLast), device, calls));
      Tensor castCl = cast.contiguous(torch.MemoryFormat.ChannelsLast);
      // As TorchLoader's graphInputs makes a static input: zeros, channels-last.
      Tensor statics = torch.zeros(shape, new TensorOptions(type)
          .device(new DeviceOptional(dev))).contiguous(torch.MemoryFormat.ChannelsLast);
      ms.put("static-copy", line(out, "static-copy", () -> statics.copy_(castCl), device,
          calls));
      ms.put("fused-copy", line(out, "fused-copy", () -> statics.copy_(f32), device, calls));
      TorchRuntime.synchronize(device);
      JitModule module = ForwardProbe.load(file, device, half);
      Function<List<Tensor>, List<Tensor>> forward =
          list -> ForwardProbe.outputs(module, list.get(0));
      Tensor logits = forward.apply(List.of(statics)).get(0);
      ms.put("replay", replay(out, statics, forward, device, calls));
      torch.ScalarType back = torch.ScalarType.Float;
      Runnable logitsBack = () -> {
        Tensor t = logits.scalar_type() == back ? logits : logits.to(back);
        Tensor host = t.cpu();
        long n = host.nbytes();
        ByteBuffer copy = ByteBuffer.allocateDirect((int) n).order(ByteOrder.nativeOrder());
        Pointer.memcpy(new BytePointer(copy), host.data_ptr(), n);
      };
      ms.put("logits-back-cpu", line(out, "logits-back-cpu",
          () -> (logits.scalar_type() == back ? logits : logits.to(back)).cpu(), device, calls));
      ms.put("logits-back", line(out, "logits-back", logitsBack, device, calls));
      Tensor pinnedHost = torch.empty(logits.sizes().vec().get(), new TensorOptions(back)
          .pinned_memory(new BoolOptional(true)), none);
      ms.put("logits-back-pinned", line(out, "logits-back-pinned",
          () -> pinnedHost.copy_(logits.scalar_type() == back ? logits : logits.to(back)),
          device, calls));
    }
    chain(out, "nos-chain", ms, "h2d-cast", "channels-last", "static-copy", "replay",
        "logits-back");
    chain(out, "python-chain", ms, "h2d", "fused-copy", "replay", "logits-back-cpu");
  }

  /** The frozen module captured through StepGraphs with {@code statics} as its input, replayed. */
  private static double replay(PrintStream out, Tensor statics,
      Function<List<Tensor>, List<Tensor>> forward, Device device, int calls) {
    long[] rest = Arrays.copyOfRange(statics.sizes().vec().get(), 1, (int) statics.dim());
    StepGraphs graphs;
    try {
      graphs = StepGraphs.record(device.index().orElse(0), new int[] {(int) statics.size(0)},
          List.of(rest), List.<Function<long[], Tensor>>of(s -> new Tensor(statics)), forward);
    } catch (RuntimeException e) {
      out.printf(Locale.ROOT, "CallPathProbe: replay failed: %s%n",
          String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
      return Double.NaN;
    }
    try {
      List<Tensor> in = List.of(statics);
      return line(out, "replay", () -> {
        if (graphs.run(in, o -> o.size()) == null) {
          throw new IllegalStateException("the input fits no recorded bucket");
        }
      }, device, calls);
    } finally {
      graphs.close();
    }
  }

  /** Prints the sum of the named pieces' medians. */
  private static void chain(PrintStream out, String what, Map<String, Double> ms,
      String... pieces) {
    double sum = 0;
    for (String p : pieces) {
      sum += ms.getOrDefault(p, Double.NaN);
    }
    out.printf(Locale.ROOT, "CallPathProbe: %s sum_ms=%.3f pieces=%s%n", what, sum,
        String.join("+", pieces));
  }

  /**
   * The median milliseconds of {@code calls} runs of {@code call} after {@link #WARMUP}, each
   * synchronized after inside its span and before outside it; prints its line.
   */
  private static double line(PrintStream out, String what, Runnable call, Device device,
      int calls) {
    for (int i = 0; i < WARMUP; i++) {
      ForwardProbe.once(call);
    }
    double[] each = new double[calls];
    for (int i = 0; i < calls; i++) {
      TorchRuntime.synchronize(device);
      long t0 = System.nanoTime();
      ForwardProbe.once(call);
      TorchRuntime.synchronize(device);
      each[i] = (System.nanoTime() - t0) / 1e6;
    }
    double median = ForwardProbe.median(each);
    out.printf(Locale.ROOT, "CallPathProbe: %s median_ms=%.3f%n", what, median);
    return median;
  }
}
