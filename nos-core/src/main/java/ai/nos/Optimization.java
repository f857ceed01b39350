package ai.nos;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A step that makes a TorchScript model faster when it loads, asked for in its
 * {@link ModelSpec} ({@code optimize}). Steps run in a fixed order ({@code auto} first turns into
 * the steps it picks; then channels-last, freeze or {@code optimize_for_inference}, cuDNN
 * benchmark mode, and CUDA graphs last), whatever order they are given in.
 *
 * <p>Each load checks the steps one by one: the model runs on a random input as loaded and after
 * each step, and the first step that fails, or moves an output by more than 1e-3 relative (1e-2
 * in fp16 or bf16), or turns one non-finite, is dropped with the steps after it; the log names it
 * and the difference, and the model serves with the steps before it.
 *
 * <p>Ahead-of-time steps whose results are saved to disk (cached by content) live in
 * {@code ai.nos.optim.Optimizer}; these run at each load because their results cannot be saved
 * and loaded back by libtorch 2.10 ({@code optimize_for_inference} on the CPU) or are not a file
 * at all (memory format, cuDNN mode).
 */
public enum Optimization {
  /**
   * 4-D floating-point weights and inputs in channels-last (NHWC) memory format: faster
   * convolutions with cuDNN in fp16/bf16 on tensor-core GPUs. Values are unchanged.
   */
  CHANNELS_LAST("channels_last"),
  /** {@code torch.jit.freeze}: parameters become constants, attributes are inlined. */
  FREEZE("freeze"),
  /**
   * {@code torch.jit.optimize_for_inference}: freezes, then folds conv/batch-norm and other
   * patterns (on the CPU, MKL-DNN layouts). Implies {@link #FREEZE}.
   */
  OPTIMIZE_FOR_INFERENCE("optimize_for_inference"),
  /**
   * cuDNN benchmark mode: cuDNN times its algorithms for each new input shape and keeps the
   * fastest. It is a process-wide libtorch setting: once a model asks for it, every model in the
   * process uses it. No effect on the CPU.
   */
  CUDNN_BENCHMARK("cudnn_benchmark"),
  /**
   * CUDA graphs: the forward pass is captured once per batch-size bucket and each call replays
   * its bucket's graph, so a call costs a few kernel launches' worth of host time instead of the
   * interpreter's. The buckets are the batching's {@link Batching#preferredBatchSizes()} plus
   * its {@link Batching#maxBatchSize()}; without preferred sizes, the powers of two up to the
   * largest batch; without batching, 1, 2, 4, ... 32. A call of {@code n} rows is padded to the
   * smallest bucket that holds it; a larger call runs eagerly. The captured graphs take device
   * memory about that of the largest bucket's activations (one pool for all buckets), and calls
   * of one model copy replay one at a time.
   *
   * <p>Needs a model whose inputs have the batch as their first dimension and every other
   * dimension fixed in the signature, whose outputs have the batch first, and whose rows do not
   * depend on each other. A model that cannot be captured (host synchronization, data-dependent
   * shapes) or whose replayed outputs differ from the eager ones runs eagerly, with one log
   * line saying why. Runs last, after the other steps; no effect on the CPU.
   */
  CUDA_GRAPHS("cuda_graphs"),
  /**
   * The steps measured best for the model's kind, precision and device, chosen at load: a model
   * with 4-D weights (convolutional) gets channels-last and cuDNN benchmark mode on CUDA, with
   * {@code optimize_for_inference} in fp16/bf16 and freeze in fp32 (on an H200, ResNet-50 at
   * batch 256: fp16 8,835 to 11,482 images/s with optimize_for_inference over freeze; fp32
   * 6,742 with freeze against 3,181 with optimize_for_inference), and channels-last with freeze
   * on the CPU; other models get freeze. A model whose convolutions hold under 10% of its
   * weights (a vision transformer's patch embedding) gets freeze in every precision (ViT-B/16
   * fp16 at batch 64: 8,661 images/s with freeze, 7,153 with optimize_for_inference). CUDA graphs
   * are never chosen (they cost memory and need fixed shapes): ask for them as well. Steps given
   * beside {@code auto} are kept. Each chosen step is checked at load like any other;
   * {@code ModelInfo.optimizations()} says which ones a copy runs with.
   */
  AUTO("auto");

  private final String label;

  Optimization(String label) {
    this.label = label;
  }

  /** The name used in spec JSON, e.g. {@code "channels_last"}. */
  public String label() {
    return label;
  }

  /**
   * Parses a step's name, ignoring case and surrounding whitespace.
   *
   * @throws IllegalArgumentException if {@code name} is null or names no step; the message lists
   *     the accepted names and the given one
   */
  public static Optimization of(String name) {
    if (name != null) {
      String n = name.trim().toLowerCase(Locale.ROOT);
      for (Optimization o : values()) {
        if (o.label.equals(n)) {
          return o;
        }
      }
    }
    throw new IllegalArgumentException("optimization must be one of "
        + Arrays.stream(values()).map(Optimization::label).collect(Collectors.joining(", "))
        + " but was " + (name == null ? "null" : "'" + name + "'"));
  }

  @Override
  public String toString() {
    return label;
  }
}
