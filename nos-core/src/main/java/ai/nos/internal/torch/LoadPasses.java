package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Tensor;
import ai.nos.internal.Accuracy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LoadPasses.class);

  private LoadPasses() {}

  /**
   * One step: its name (for the log), what it does, and whether it rewrites the module (a step
   * that does not is a process-wide setting, which applies to a compiled library as well).
   */
  record Pass(String name, UnaryOperator<JitModule> apply, boolean rewritesModule) {
    /** A step that rewrites the module. */
    Pass(String name, UnaryOperator<JitModule> apply) {
      this(name, apply, true);
    }
  }

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
        cudnnBenchmark();
        return m;
      }, false));
    }
    return passes;
  }

  /**
   * Applies the steps a spec asks for that an AOTInductor library can take, and returns their
   * names: the library is compiled ahead of time, so only the steps that do not rewrite a module
   * (cuDNN benchmark mode, asked for or, on a GPU, by {@code auto}) run; the others are skipped
   * with a log line. CUDA graphs are the caller's, as for a module.
   */
  static List<String> applyToPackage(ModelSpec spec, Device device) {
    java.util.EnumSet<Optimization> steps = java.util.EnumSet.noneOf(Optimization.class);
    steps.addAll(spec.optimizations());
    if (steps.remove(Optimization.AUTO)) {
      steps.add(Optimization.CUDNN_BENCHMARK);
    }
    ModelSpec asked = spec.toBuilder().optimize(steps.toArray(new Optimization[0])).build();
    List<String> applied = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    for (Pass pass : forSpec(asked, device)) {
      if (pass.rewritesModule()) {
        skipped.add(pass.name());
      } else {
        pass.apply().apply(null);
        applied.add(pass.name());
      }
    }
    if (!skipped.isEmpty()) {
      LOG.info("model '{}': {} not applied: an AOTInductor library is compiled ahead of time",
          spec.id(), skipped);
    }
    return applied;
  }

  /** cuDNN benchmark mode on, for the whole process (libtorch has one setting). */
  static void cudnnBenchmark() {
    torch.globalContext().setBenchmarkCuDNN(true);
  }

  /**
   * The spec with {@link Optimization#AUTO} replaced by the steps it stands for on this device
   * for this module (see its documentation); the spec itself when it does not ask for it.
   */
  static ModelSpec resolveAuto(ModelSpec spec, Device device, JitModule module) {
    if (!spec.optimizations().contains(Optimization.AUTO)) {
      return spec;
    }
    java.util.EnumSet<Optimization> steps = java.util.EnumSet.copyOf(spec.optimizations());
    steps.remove(Optimization.AUTO);
    steps.addAll(autoSteps(convolutionalShare(module), device.isCuda(), spec.precision()));
    return spec.toBuilder().optimize(steps.toArray(new Optimization[0])).build();
  }

  /**
   * Below this share of parameter bytes in 4-D weights, a model with a convolution is not taken
   * for a convolutional network when {@code auto} chooses between {@code optimize_for_inference}
   * and freeze: a vision transformer's one patch-embedding convolution (ViT-B/16: 0.7% of its
   * weights) must not bring ResNet's choice. On an H200, ViT-B/16 fp16 at batch 64 with
   * channels-last, cuDNN benchmark and CUDA graphs: 8,661 images/s with freeze against 7,153 with
   * optimize_for_inference from pinned input (seventh session, benchmarks/README.md). The
   * digit CNN (48%) and ResNet-50 (92%) are well above it.
   */
  static final double MOSTLY_CONVOLUTIONAL = 0.10;

  /**
   * What {@code auto} stands for, given the share of the parameter bytes in 4-D weights
   * ({@link #convolutionalShare}), the device and the precision (see {@link Optimization#AUTO}).
   */
  static java.util.EnumSet<Optimization> autoSteps(double convShare, boolean cuda,
      ai.nos.Precision precision) {
    java.util.EnumSet<Optimization> steps = java.util.EnumSet.noneOf(Optimization.class);
    boolean convolutional = convShare > 0;
    if (convolutional) {
      steps.add(Optimization.CHANNELS_LAST);
    }
    if (convolutional && cuda) {
      steps.add(Optimization.CUDNN_BENCHMARK);
      steps.add(precision == ai.nos.Precision.FP32 || convShare < MOSTLY_CONVOLUTIONAL
          ? Optimization.FREEZE : Optimization.OPTIMIZE_FOR_INFERENCE);
    } else {
      steps.add(Optimization.FREEZE);
    }
    return steps;
  }

  /** The share of the module's parameter bytes in 4-D (convolution) weights: 0 when none. */
  static double convolutionalShare(JitModule module) {
    try (PointerScope scope = new PointerScope()) {
      long all = 0;
      long conv = 0;
      var params = module.parameters(true);
      for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
        org.bytedeco.pytorch.Tensor p = it.access();
        long bytes = p.nbytes();
        all += bytes;
        if (p.dim() == 4) {
          conv += bytes;
        }
      }
      return all == 0 ? 0 : (double) conv / all;
    }
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

  /** Random inputs for the check: batch 2, other dynamic dimensions 4 (see {@link Accuracy}). */
  static Map<String, Tensor> checkInputs(ModelSpec spec) {
    return Accuracy.randomInputs(spec, 2, 4, 2, 0x0971);
  }

  /** The check's tolerance: {@link Accuracy#threshold} of the spec's precision. */
  static double tolerance(ModelSpec spec) {
    return Accuracy.threshold(spec.precision());
  }

  /**
   * Null if every output of {@code after} is within {@code tolerance} of {@code before}'s
   * ({@link Accuracy#compare}: finite where it was, largest difference over largest magnitude),
   * else what differs.
   */
  static String compare(Map<String, Tensor> before, Map<String, Tensor> after, double tolerance) {
    for (var e : before.entrySet()) {
      Tensor b = e.getValue();
      Tensor a = after.get(e.getKey());
      String problem = a == null ? "is missing" : Accuracy.mismatch(b, a);
      if (problem == null) {
        Accuracy.Comparison c = Accuracy.compare(b, a);
        problem = c.problem() != null || c.error() <= tolerance ? c.problem()
            : "moved by " + Accuracy.format(c.error(), 3) + " relative (tolerance "
                + Accuracy.format(tolerance, 3) + ")";
      }
      if (problem != null) {
        return "output '" + e.getKey() + "' " + problem;
      }
    }
    return null;
  }
}
