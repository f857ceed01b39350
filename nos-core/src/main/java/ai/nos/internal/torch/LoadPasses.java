package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Precision;
import ai.nos.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.global.torch;

/**
 * The load-time {@link Optimization} steps as passes over a loaded module, and the check that
 * they left its outputs alone. A pass either changes the module in place and returns it
 * (channels-last weights, the cuDNN setting) or returns a new module (freeze,
 * {@code optimize_for_inference}); the caller owns both.
 */
final class LoadPasses {
  private LoadPasses() {}

  /** One step: its name (for the log) and what it does. */
  record Pass(String name, UnaryOperator<JitModule> apply) {}

  /** The passes a spec asks for on {@code device}, in the order they run. */
  static List<Pass> forSpec(ModelSpec spec, Device device) {
    List<Pass> passes = new ArrayList<>();
    var steps = spec.optimizations();
    if (steps.contains(Optimization.CHANNELS_LAST)) {
      passes.add(new Pass(Optimization.CHANNELS_LAST.label(), LoadPasses::channelsLast));
    }
    if (steps.contains(Optimization.OPTIMIZE_FOR_INFERENCE)) {
      passes.add(new Pass(Optimization.OPTIMIZE_FOR_INFERENCE.label(),
          torch::optimize_for_inference));
    } else if (steps.contains(Optimization.FREEZE)) {
      passes.add(new Pass(Optimization.FREEZE.label(), torch::freeze));
    }
    if (steps.contains(Optimization.CUDNN_BENCHMARK) && device.isCuda()) {
      passes.add(new Pass(Optimization.CUDNN_BENCHMARK.label(), m -> {
        torch.globalContext().setBenchmarkCuDNN(true);
        return m;
      }));
    }
    return passes;
  }

  /** Every 4-D floating-point parameter and buffer in channels-last memory format, in place. */
  private static JitModule channelsLast(JitModule module) {
    // The lists, iterators and tensor handles made here are freed when the scope closes; the
    // converted data stays with the module's parameters.
    try (PointerScope scope = new PointerScope()) {
      var params = module.parameters(true);
      for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
        toChannelsLast(it.access());
      }
      var buffers = module.buffers(true);
      for (var it = buffers.begin(); it.notEquals(buffers.end()); it = it.increment()) {
        toChannelsLast(it.access());
      }
    }
    return module;
  }

  private static void toChannelsLast(org.bytedeco.pytorch.Tensor t) {
    if (channelsLastApplies(t)) {
      t.__dispatch_set_data(t.contiguous(torch.MemoryFormat.ChannelsLast));
    }
  }

  /** Whether a tensor is a 4-D floating-point one that channels-last applies to. */
  static boolean channelsLastApplies(org.bytedeco.pytorch.Tensor t) {
    return t.dim() == 4 && t.is_floating_point();
  }

  /** Random inputs for the check: batch 2, dynamic dims 4, floats N(0, 1), integers 0. */
  static Map<String, Tensor> checkInputs(ModelSpec spec) {
    Map<String, Tensor> inputs = new java.util.HashMap<>();
    Random random = new Random(0x0971);
    for (var input : spec.signature().inputs()) {
      long[] shape = input.shape();
      for (int i = 0; i < shape.length; i++) {
        shape[i] = shape[i] == -1 ? (i == 0 ? 2 : 4) : shape[i];
      }
      Tensor zeros = Tensor.zeros(input.dtype(), shape);
      if (!input.dtype().isFloatingPoint()) {
        inputs.put(input.name(), zeros);
        continue;
      }
      float[] v = new float[(int) zeros.numel()];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) random.nextGaussian();
      }
      Tensor floats = Tensor.of(v, shape);
      inputs.put(input.name(), switch (input.dtype()) {
        case FLOAT16 -> Tensor.ofFloat16(v, shape);
        case BFLOAT16 -> Tensor.ofBFloat16(v, shape);
        default -> floats;
      });
    }
    return inputs;
  }

  /** The check's tolerance: relative to each output's largest magnitude. */
  static double tolerance(ModelSpec spec) {
    return spec.precision() == Precision.FP32 ? 1e-3 : 1e-2;
  }

  /**
   * Null if every output of {@code after} is finite where {@code before}'s is and within
   * {@code tolerance} of it (the largest difference over the largest magnitude of
   * {@code before}), else what differs.
   */
  static String compare(Map<String, Tensor> before, Map<String, Tensor> after, double tolerance) {
    for (var e : before.entrySet()) {
      Tensor b = e.getValue();
      Tensor a = after.get(e.getKey());
      if (a == null || !java.util.Arrays.equals(a.shape(), b.shape())) {
        return "output '" + e.getKey() + "' has shape "
            + (a == null ? "none" : java.util.Arrays.toString(a.shape())) + " instead of "
            + java.util.Arrays.toString(b.shape());
      }
      if (!b.dtype().isFloatingPoint()) {
        if (!a.equals(b)) {
          return "output '" + e.getKey() + "' changed";
        }
        continue;
      }
      float[] x = b.toFloatArray();
      float[] y = a.toFloatArray();
      double scale = 0;
      double worst = 0;
      for (int i = 0; i < x.length; i++) {
        if (Float.isFinite(x[i]) && !Float.isFinite(y[i])) {
          return "output '" + e.getKey() + "' element " + i + " became " + y[i] + " (was "
              + x[i] + ")";
        }
        if (Float.isFinite(x[i])) {
          scale = Math.max(scale, Math.abs(x[i]));
          worst = Math.max(worst, Math.abs((double) x[i] - y[i]));
        }
      }
      double error = worst / Math.max(scale, 1e-12);
      if (error > tolerance) {
        return String.format("output '%s' moved by %.3g relative (tolerance %.0e)", e.getKey(),
            error, tolerance);
      }
    }
    return null;
  }
}
