package ai.nos.internal.torch;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Block;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueOptional;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Value;
import org.bytedeco.pytorch.global.torch;

/*
 * fp32 convolutions in a traced file
 *
 * NOS turns TF32 off for the process (TorchRuntime): fp32 means fp32. That reaches every
 * operation that reads the global flags when it runs, which is not what a file made by
 * torch.jit.trace runs: tracing records each convolution as aten::_convolution with its last
 * argument, cudnn_tf32, set to the value of torch.backends.cudnn.allow_tf32 at the moment of
 * tracing, True by PyTorch's default. Such a file then runs its convolutions in TF32 on a GPU
 * (10 bits of mantissa) whatever the loader sets. Measured on the H200 (thirteenth session,
 * benchmarks/logs/2026-12-04/thirteenth/leaseB-tf32-probe.txt): a ResNet-50 traced with the
 * default read 2.05e-2 (max abs / max |cpu|) from its CPU result, the same traced with the flag
 * off 2.25e-5. A scripted file (aten::conv2d) reads the flag at run time and was already fp32.
 *
 * So a model loaded in FP32 on a GPU has that argument replaced by a false constant in every
 * graph of every submodule, before its first call (the executor plans a graph on its first run);
 * so has one loaded on the CPU of a process with a GPU, where it may go later ({@link #needed}).
 * The constant is inserted at the top of the graph it is used in, so it dominates every use.
 * Graphs of a TorchScript class are shared by its instances: a graph seen twice is rewritten
 * once, and a rewritten node is left as it is. Nothing else in the graph changes; on the CPU the
 * argument is ignored (the rewrite changes no CPU result: TracedTf32Test).
 *
 * What it costs: fp32 convolutions as fp32 are slower than in TF32 on Ampere and later; a spec
 * that wants speed asks for fp16 or bf16, as README says. Not thread-safe: called by the loader on
 * a module no other thread has yet.
 */

/** Rewrites a traced module's convolutions to run without TF32 (see the essay above). */
public final class TracedTf32 {
  /** aten::_convolution(input, weight, bias, stride, padding, dilation, transposed,
   * output_padding, groups, benchmark, deterministic, cudnn_enabled, allow_tf32). */
  private static final int CONVOLUTION_INPUTS = 13;
  private static final int ALLOW_TF32 = 12;

  private TracedTf32() {}

  /**
   * Whether a model loaded in fp32 onto {@code device} needs the rewrite: on a GPU, and on the CPU
   * of a process that has a GPU (an evicted copy parked in host memory may come back on a GPU,
   * ParkedModel.restore, with the plan its first call made, which a later rewrite would not
   * reach). Not in a process without one, where the flag is never read: walking the graphs costs
   * a fresh JVM's first CPU load about 45 ms (the JavaCPP classes of the graph API loading;
   * twenty-first session, 2-core VM), a fifth of NOS's own share of the digit model's first
   * result.
   */
  public static boolean needed(ai.nos.Device device) {
    return device.isCuda() || TorchRuntime.cudaDeviceCount() > 0;
  }

  /**
   * Sets {@code allow_tf32} false in every {@code aten::_convolution} of {@code module}'s and its
   * submodules' {@code forward} graphs; returns how many convolutions were changed (0 for a
   * scripted file, or one already traced with TF32 off).
   */
  public static int strictConvolutions(JitModule module) {
    return sumOverGraphs(module, graph -> rewrite(graph, graph.block()));
  }

  /** The convolutions of {@code module}'s graphs whose {@code allow_tf32} is a true constant. */
  static int tf32Convolutions(JitModule module) {
    return sumOverGraphs(module, graph -> count(graph.block()));
  }

  /** {@code each} over the forward graph of the module and its submodules, each graph once. */
  private static int sumOverGraphs(JitModule module,
      java.util.function.ToIntFunction<Graph> each) {
    int sum = 0;
    try (PointerScope scope = new PointerScope()) {
      var all = module.modules();
      java.util.Set<Long> seen = new java.util.HashSet<>();
      for (var it = all.begin(); it.notEquals(all.end()); it = it.increment()) {
        JitModule m = it.access();
        if (m.find_method("forward").has_value()) {
          Graph graph = m.get_method("forward").graph();
          if (seen.add(graph.address())) {
            sum += each.applyAsInt(graph);
          }
        }
      }
    }
    return sum;
  }

  private static int rewrite(Graph graph, Block block) {
    int changed = 0;
    Value off = null;
    JitNode end = block.return_node();
    for (JitNode n = block.nodes().front(); n.address() != end.address(); n = n.next()) {
      var blocks = n.blocks();
      for (long i = 0; i < blocks.size(); i++) {
        changed += rewrite(graph, blocks.get(i));
      }
      if (isTf32Convolution(n)) {
        if (off == null) {
          // At the top of the graph: it dominates every node of the graph and its blocks.
          graph.setInsertPoint(graph.block().nodes().front());
          off = graph.insertConstant(new IValue(false));
          graph.setInsertPoint(graph.block()); // back to the default: the end of the graph
        }
        n.replaceInput(ALLOW_TF32, off);
        changed++;
      }
    }
    return changed;
  }

  private static int count(Block block) {
    int found = 0;
    JitNode end = block.return_node();
    for (JitNode n = block.nodes().front(); n.address() != end.address(); n = n.next()) {
      var blocks = n.blocks();
      for (long i = 0; i < blocks.size(); i++) {
        found += count(blocks.get(i));
      }
      if (isTf32Convolution(n)) {
        found++;
      }
    }
    return found;
  }

  /** An aten::_convolution whose allow_tf32 argument is the constant true. */
  private static boolean isTf32Convolution(JitNode n) {
    if (!"aten::_convolution".equals(n.kind().toQualString().getString())
        || n.inputs().size() != CONVOLUTION_INPUTS) {
      return false;
    }
    IValueOptional v = torch.toIValue(n.input(ALLOW_TF32));
    return v.has_value() && v.get().isBool() && v.get().toBool();
  }
}
