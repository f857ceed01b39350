package ai.nos.benchmarks.gpu;

import ai.nos.Device;
import ai.nos.internal.torch.TorchRuntime;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.CompilationUnit;
import org.bytedeco.pytorch.Function;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Which scaled_dot_product_attention backend NOS's libtorch picks for Whisper's decode step
 * (#18, nineteenth session: the 64-row step took ~0.92 ms of device time in NOS against 0.58 ms
 * for the same attention over the same views in Python's torch 2.11, whose profile ran cuDNN's
 * attention for all 8 of the step's attentions; PyTorch prefers cuDNN on sm90 only above a cuDNN
 * version, so the two builds may choose differently). Prints the cuDNN versions libtorch was
 * built with and runs with, its SDPA priority order and switches, and, for the step's two
 * attentions as make_whisper.py's decode_first feeds them (self: a bool mask over the slot's
 * positions; cross: no mask, 1500 audio positions; keys and values strided views of the slot-major
 * caches), the backend {@code aten::_fused_sdp_choice} names and the eager time of one call.
 * {@code profile_whisper_step.py --modes slice-...} times the same attention in Python per
 * backend. With {@code llama}, the 271 M Llama's decode attention instead (#17: 16 heads of 64
 * over a slot of 257 positions, the cache [slots, positions, heads, dim] as GenerateBench sizes
 * it), whose captured step profile_step.py measured in Python only.
 *
 * <pre>SdpaProbe [DEVICE=cuda:0] [ROWS=64] [fp16|fp32] [CALLS=200] [whisper|llama]</pre>
 */
public final class SdpaProbe {
  private static final String SOURCE = String.join("\n",
      "def choice(q: Tensor, k: Tensor, v: Tensor, m: Optional[Tensor]) -> int:",
      "    return torch._fused_sdp_choice(q, k, v, m)",
      "",
      "def attend(q: Tensor, k: Tensor, v: Tensor, m: Optional[Tensor]) -> Tensor:",
      "    return torch.scaled_dot_product_attention(q, k, v, attn_mask=m)",
      "");

  private SdpaProbe() {}

  public static void main(String[] args) {
    run(args, System.out);
  }

  /** The probe with main's arguments, its lines to {@code out}. */
  static void run(String[] args, PrintStream out) {
    Device device = Device.parse(args.length > 0 ? args[0] : "cuda:0");
    int rows = args.length > 1 ? Integer.parseInt(args[1]) : 64;
    boolean half = !"fp32".equals(args.length > 2 ? args[2] : "fp16");
    int calls = args.length > 3 ? Integer.parseInt(args[3]) : 200;
    String model = args.length > 4 ? args[4] : "whisper";
    if (!model.equals("whisper") && !model.equals("llama")) {
      throw new IllegalArgumentException("the model must be whisper or llama but was '" + model
          + "'");
    }
    if (rows < 1 || calls < 1) {
      throw new IllegalArgumentException("ROWS and CALLS must be >= 1 but were " + rows + ", "
          + calls);
    }
    TorchRuntime.ensureLoaded();
    boolean cudnn = org.bytedeco.pytorch.Context.hasCuDNN();
    out.printf("SdpaProbe: %s, %s, rows %d, %s; cuDNN %s built %d, runtime %d; SDP priority %s;"
        + " enabled flash %b, efficient %b, cudnn %b, math %b%n", model, device, rows,
        half ? "fp16" : "fp32", cudnn ? "present" : "absent",
        cudnn ? org.bytedeco.pytorch.Context.versionCuDNN() : 0,
        cudnn ? org.bytedeco.pytorch.Context.versionRuntimeCuDNN() : 0, SdpOrder.current(),
        torch.globalContext().userEnabledFlashSDP(),
        torch.globalContext().userEnabledMemEfficientSDP(),
        torch.globalContext().userEnabledCuDNNSDP(), torch.globalContext().userEnabledMathSDP());
    try (PointerScope scope = new PointerScope()) {
      CompilationUnit unit = torch.compile(SOURCE);
      Function choice = unit.get_function(new QualifiedName("choice"));
      Function attend = unit.get_function(new QualifiedName("attend"));
      TensorOptions options = new TensorOptions(half ? torch.ScalarType.Half
          : torch.ScalarType.Float).device(new org.bytedeco.pytorch.DeviceOptional(
              TorchRuntime.toTorch(device)));
      // whisper-tiny's decoder: 6 heads of 64, a slot of 448 positions, 1500 audio positions;
      // the 271 M Llama: 16 heads of 64, a slot of 257 positions. Slot-major caches [slots,
      // positions, heads, dim] with a scratch slot, as KvCache holds them.
      boolean whisper = model.equals("whisper");
      int heads = whisper ? 6 : 16;
      int dim = 64;
      int length = whisper ? 448 : 257;
      int slots = rows + 1;
      Tensor q = torch.randn(new long[] {rows, 1, heads, dim}, options).transpose(1, 2);
      Tensor self = torch.randn(new long[] {slots, length, heads, dim}, options);
      Tensor keys = self.narrow(0, 0, rows).transpose(1, 2);
      Tensor positions = torch.arange(new org.bytedeco.pytorch.Scalar(length),
          new TensorOptions(torch.ScalarType.Long).device(new org.bytedeco.pytorch.DeviceOptional(
              TorchRuntime.toTorch(device))));
      Tensor mask = positions.view(1, 1, 1, length).le(new org.bytedeco.pytorch.Scalar(68L))
          .expand(new long[] {rows, 1, 1, length});
      line(out, "self (mask, " + length + " positions)", choice, attend, q, keys, mask, device,
          calls);
      if (whisper) {
        Tensor audio = torch.randn(new long[] {slots, 1500, heads, dim}, options);
        Tensor crossKeys = audio.narrow(0, 0, rows).transpose(1, 2);
        line(out, "cross (no mask, 1500 positions)", choice, attend, q, crossKeys, null, device,
            calls);
      }
    }
  }

  private static void line(PrintStream out, String what, Function choice, Function attend,
      Tensor q, Tensor k, Tensor mask, Device device, int calls) {
    IValueVector args = new IValueVector();
    args.push_back(new IValue(q));
    args.push_back(new IValue(k));
    args.push_back(new IValue(k));
    args.push_back(mask == null ? new IValue() : new IValue(mask));
    // libtorch's own order first, then each backend put first in turn (SdpOrder): the choice
    // and its time per order, so the fastest backend NOS's libtorch has for this shape shows.
    List<String> initial = SdpOrder.order();
    for (String first : List.of("", "cudnn", "flash", "efficient", "math")) {
      try {
        if (!first.isEmpty()) {
          SdpOrder.apply(first);
        }
        long backend = choice.apply(args).toInt();
        attend.apply(args); // the first call of a backend pays its setup
        TorchRuntime.synchronize(device);
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
          attend.apply(args);
        }
        TorchRuntime.synchronize(device);
        double ms = (System.nanoTime() - start) / 1e6 / calls;
        out.printf(Locale.ROOT, "SdpaProbe: %s: q %s k %s: %s: backend %d (%s), eager %.4f ms a"
            + " call%n", what, shape(q), shape(k), first.isEmpty() ? "libtorch's order"
                : first + " first", backend, SdpOrder.name(backend), ms);
      } catch (RuntimeException e) {
        out.printf(Locale.ROOT, "SdpaProbe: %s: %s first: %s%n", what, first,
            String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
      }
    }
    SdpOrder.apply(String.join(",", initial));
  }

  private static String shape(Tensor t) {
    return java.util.Arrays.toString(t.sizes().vec().get()) + " strides "
        + java.util.Arrays.toString(t.strides().vec().get());
  }
}
