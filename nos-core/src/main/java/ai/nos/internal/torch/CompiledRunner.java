package ai.nos.internal.torch;

import java.util.List;

/**
 * The forward pass of a model compiled ahead of time, run on libtorch tensors: an AOTInductor
 * library ({@link AotiRunner}) or an engine of another runtime that a {@link CompiledFormat}
 * opens (nos-optim's TensorRT engines). A {@link TorchModel} runs it in place of a TorchScript
 * module: it hands over device inputs in signature order, already of the spec's precision, and
 * reads the outputs back against the signature.
 *
 * <p>Implementations are safe to call from several threads at once (a copy's batch workers do)
 * and say how many calls run at once in their own documentation. {@link #close} is called once,
 * after the last call.
 */
public interface CompiledRunner {

  /**
   * Runs the inputs (on the model's device, in signature order) and returns the outputs in
   * signature order, as tensors on the device that the caller's current CUDA stream may read.
   */
  List<org.bytedeco.pytorch.Tensor> run(List<org.bytedeco.pytorch.Tensor> inputs);

  /** Bytes of the compiled artifact as loaded, for the log and as the copy's parameter bytes. */
  long bytes();

  /**
   * Device bytes this runner holds outside libtorch's caching allocator (which the manager's
   * footprint measures): memory the runtime allocated itself for its weights. Added to the
   * measured footprint of a CUDA copy; 0 where everything comes from libtorch's allocator.
   */
  default long deviceBytesOutsideAllocator() {
    return 0;
  }

  /**
   * Whether a call may be recorded into a CUDA graph (the spec's {@code cuda_graphs}); false for
   * a runtime that orders its own work with events or launches work a capture cannot hold. A
   * model whose runner says false serves without graphs, and the log says so.
   */
  default boolean capturable() {
    return true;
  }

  /** What the log calls it: "AOTInductor", "TensorRT 10.6.0". */
  String kind();

  /** Frees what the runner holds. Called once, after the last call. */
  void close();
}
