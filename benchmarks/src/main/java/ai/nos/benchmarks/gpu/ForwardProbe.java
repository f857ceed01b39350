package ai.nos.benchmarks.gpu;

import ai.nos.Device;
import ai.nos.internal.torch.StepGraphs;
import ai.nos.internal.torch.TorchRuntime;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * The forward pass alone of a TorchScript image model in NOS's libtorch 2.10, the input already
 * on the device (#20 item 3). NOS's ViT-B/16 fp16 at batch 64 took 7.54 ms a call from a
 * PinnedBuffer, host copy and NOS's per-call work included, where Python's torch 2.11 ran the
 * same file frozen the same way in 6.49 ms (6.42 under a CUDA graph) with the input on the device
 * ({@code profile_vit.py}'s "file" and "file-graphs" rows, twenty-seventh lease). This probe is
 * NOS's side of that measurement, so that libtorch 2.10's kernels can be told apart from NOS's
 * copy and per-call work.
 *
 * <p>FILE is loaded as {@code profile_vit.py}'s {@code nos_like_file} loads it (the way NOS's
 * best-freeze path does): on the host, eval mode, moved to the device, to Half for fp16, every
 * 4-D floating-point parameter and buffer channels-last, then {@code torch::jit::freeze} with its
 * defaults (no preserved attributes, optimize_numerics on, as Python's {@code torch.jit.freeze});
 * on CUDA cuDNN benchmark mode is on, as there. The input, random normal
 * [BATCH, CHANNELS, SIZE, SIZE] in the precision, is made on the device in channels-last format.
 * Calls run under {@code InferenceMode}, as NOS's calls do (Python's rows use no_grad).
 *
 * <p>After {@link #WARMUP} calls: CALLS calls each waited for (synchronize after each: the median
 * and images/s, host launch and wait included) and CALLS calls back to back, waited for once at
 * the end (the mean: the device-bound figure when the host launches faster than the device
 * runs). On CUDA the same again for the frozen module captured in a CUDA graph through NOS's own
 * recording ({@link StepGraphs}: {@code CudaGraphs}' side stream, private pool and warm-ups, the
 * capture NOS's models use) with one bucket of BATCH rows whose static input is the probe's input
 * tensor itself, so a replay's copy into the static input is a copy of a tensor onto itself,
 * which libtorch's {@code copy_} skips: a replay is the graph's launch alone. A capture that fails
 * prints its error and ends the probe. Lines (grep "^ForwardProbe:"):
 *
 * <pre>
 * ForwardProbe: FILE on DEVICE, PRECISION, input [B, C, S, S] channels-last, frozen; libtorch V;
 *     cuDNN ...; cudnn benchmark B; SDPA priority [...]
 * ForwardProbe: frozen batch=B median_ms=X images_s=Y backtoback_ms=Z
 * ForwardProbe: frozen-graphs batch=B median_ms=X images_s=Y backtoback_ms=Z   (CUDA only)
 * </pre>
 *
 * <p>{@code -Dnos.bench.sdpOrder=cudnn} (SdpOrder) puts an SDPA backend first before the load.
 * CHANNELS is not in the brief's ViT command line: the digit CNN of the CPU test takes one.
 *
 * <pre>ForwardProbe FILE [DEVICE=cuda:0] [BATCH=64] [fp16|fp32] [CALLS=200] [SIZE=224]
 *     [CHANNELS=3]</pre>
 */
public final class ForwardProbe {
  /** Calls before each timing, as profile_vit.py's --warmup default. */
  static final int WARMUP = 10;

  private ForwardProbe() {}

  public static void main(String[] args) {
    run(args, System.out);
  }

  /** The probe with main's arguments, its lines to {@code out}. */
  static void run(String[] args, PrintStream out) {
    ImageProbeArgs a = ImageProbeArgs.parse(args);
    Path file = a.file();
    Device device = a.device();
    int batch = a.batch();
    String precision = a.precision();
    boolean half = a.half();
    int calls = a.calls();
    int size = a.size();
    int channels = a.channels();

    TorchRuntime.ensureLoaded();
    String order = SdpOrder.applyFromProperty();
    boolean cudnn = org.bytedeco.pytorch.Context.hasCuDNN();
    if (device.isCuda()) {
      torch.globalContext().setBenchmarkCuDNN(true); // as NOS's freeze path and profile_vit.py
    }
    long[] shape = {batch, channels, size, size};
    out.printf(Locale.ROOT, "ForwardProbe: %s on %s, %s, input %s channels-last, frozen; libtorch"
        + " %s; cuDNN %s built %d, runtime %d; cudnn benchmark %b; SDPA priority %s%n", file,
        device, precision, Arrays.toString(shape), TorchRuntime.libtorchVersion(),
        cudnn ? "present" : "absent", cudnn ? org.bytedeco.pytorch.Context.versionCuDNN() : 0,
        cudnn ? org.bytedeco.pytorch.Context.versionRuntimeCuDNN() : 0,
        torch.globalContext().benchmarkCuDNN(), order);
    try (PointerScope scope = new PointerScope()) {
      JitModule module = load(file, device, half);
      TensorOptions options = new TensorOptions(half ? torch.ScalarType.Half
          : torch.ScalarType.Float).device(new DeviceOptional(TorchRuntime.toTorch(device)));
      Tensor input = torch.randn(shape, options).contiguous(torch.MemoryFormat.ChannelsLast);
      Function<List<Tensor>, List<Tensor>> forward = in -> outputs(module, in.get(0));
      Runnable eager = () -> forward.apply(List.of(input));
      line(out, "frozen", batch, eager, device, calls);
      if (device.isCuda()) {
        graphs(out, batch, input, forward, device, calls);
      }
    }
  }

  /**
   * FILE as profile_vit.py's nos_like_file loads it (see the class comment); CallPathProbe's
   * replay loads it so too.
   */
  static JitModule load(Path file, Device device, boolean half) {
    JitModule module = torch.load(file.toString(),
        new DeviceOptional(TorchRuntime.toTorch(Device.cpu())), false);
    module.eval();
    module.to(TorchRuntime.toTorch(device), false);
    if (half) {
      module.to(torch.ScalarType.Half, false);
    }
    var params = module.parameters(true);
    for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
      channelsLast(it.access());
    }
    var buffers = module.buffers(true);
    for (var it = buffers.begin(); it.notEquals(buffers.end()); it = it.increment()) {
      channelsLast(it.access());
    }
    return torch.freeze(module);
  }

  private static void channelsLast(Tensor t) {
    if (t.dim() == 4 && t.is_floating_point()) {
      t.__dispatch_set_data(t.contiguous(torch.MemoryFormat.ChannelsLast));
    }
  }

  /** The module's output tensors for one input (a tensor, or a tuple or list of them). */
  static List<Tensor> outputs(JitModule module, Tensor input) {
    IValueVector in = new IValueVector();
    in.push_back(new IValue(input));
    IValue result = module.forward(in);
    List<Tensor> tensors = new ArrayList<>();
    if (result.isTensor()) {
      tensors.add(result.toTensor());
    } else if (result.isTuple()) {
      var elements = result.toTupleRef().elements();
      for (long i = 0; i < elements.size(); i++) {
        tensors.add(elements.get(i).toTensor());
      }
    } else if (result.isTensorList()) {
      var list = result.toTensorVector();
      for (long i = 0; i < list.size(); i++) {
        tensors.add(list.get(i));
      }
    } else {
      throw new IllegalStateException("the model returned " + result.tagKind().getString()
          + ", not tensors");
    }
    return tensors;
  }

  /** The frozen module captured by NOS's CUDA-graph recording and replayed (class comment). */
  private static void graphs(PrintStream out, int batch, Tensor input,
      Function<List<Tensor>, List<Tensor>> forward, Device device, int calls) {
    long[] rest = Arrays.copyOfRange(input.sizes().vec().get(), 1, (int) input.dim());
    StepGraphs graphs;
    try {
      graphs = StepGraphs.record(device.index().orElse(0), new int[] {batch}, List.of(rest),
          // the static input is the probe's input: a handle of its own on the same tensor
          List.<Function<long[], Tensor>>of(s -> new Tensor(input)), forward);
    } catch (RuntimeException e) {
      out.printf(Locale.ROOT, "ForwardProbe: frozen-graphs failed: %s%n",
          String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
      return;
    }
    try {
      List<Tensor> in = List.of(input);
      Runnable replay = () -> {
        if (graphs.run(in, o -> o.size()) == null) {
          throw new IllegalStateException("the input fits no recorded bucket");
        }
      };
      line(out, "frozen-graphs", batch, replay, device, calls);
    } finally {
      graphs.close();
    }
  }

  /** Times {@code call} both ways (class comment) and prints its line. */
  private static void line(PrintStream out, String what, int batch, Runnable call, Device device,
      int calls) {
    try (InferenceMode guard = new InferenceMode()) {
      for (int i = 0; i < WARMUP; i++) {
        once(call);
      }
      TorchRuntime.synchronize(device);
      double[] each = new double[calls];
      for (int i = 0; i < calls; i++) {
        long t0 = System.nanoTime();
        once(call);
        TorchRuntime.synchronize(device);
        each[i] = (System.nanoTime() - t0) / 1e6;
      }
      long t0 = System.nanoTime();
      for (int i = 0; i < calls; i++) {
        once(call);
      }
      TorchRuntime.synchronize(device);
      double backToBack = (System.nanoTime() - t0) / 1e6 / calls;
      double median = median(each);
      out.printf(Locale.ROOT, "ForwardProbe: %s batch=%d median_ms=%.3f images_s=%.0f"
          + " backtoback_ms=%.3f%n", what, batch, median, batch / median * 1000, backToBack);
    }
  }

  /** One call in a scope of its own: the call's handles freed as it returns. */
  static void once(Runnable call) {
    try (PointerScope scope = new PointerScope()) {
      call.run();
    }
  }

  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
