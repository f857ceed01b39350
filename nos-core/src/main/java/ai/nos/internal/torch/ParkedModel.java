package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import java.util.List;
import org.bytedeco.pytorch.JitModule;

/**
 * A TorchScript module parked in host memory: brought back onto a device by copying its
 * weights there ({@link #restore}), or freed ({@link #close}). Owned by one thread at a time.
 */
final class ParkedModel implements AutoCloseable {
  private final ModelSpec spec;
  private JitModule module;
  private final ModuleWeights weights;
  private final long weightBytes;
  private final List<String> steps;
  /** Whether the copy ran recorded graphs: its load recorded and checked them. */
  private final boolean graphed;
  private final ModelGraphs.RecorderFactory recorderFactory;
  private final Device parkedFrom;

  ParkedModel(ModelSpec spec, JitModule module, ModuleWeights weights,
      long weightBytes, List<String> steps, boolean graphed,
      ModelGraphs.RecorderFactory recorderFactory, Device parkedFrom) {
    this.spec = spec;
    this.module = module;
    this.weights = weights;
    this.weightBytes = weightBytes;
    this.steps = steps;
    this.graphed = graphed;
    this.recorderFactory = recorderFactory;
    this.parkedFrom = parkedFrom;
  }

  /** Host bytes the parked weights hold (all of them on the CPU, where nothing moved). */
  long hostBytes() {
    long moved = weights.movedBytes();
    return moved > 0 ? moved : weights.bytes();
  }

  ModelSpec spec() {
    return spec;
  }

  /**
   * The model back on {@code device} (which may differ from the one it left): its weights
   * copied into fresh device memory. If it ran CUDA graphs, they come back lazily
   * ({@link GraphBuckets#lazy}): each bucket is recorded by the first call that fits it, so the
   * call that swaps a copy back at batch 1 pays the weights' copy and one recording of one
   * bucket, not every bucket's. The load's check of the graphs against the eager model is not
   * repeated: it is the same module, with the weights moved back bit for bit
   * ({@link ModuleWeights}) and the same bucket shapes. Back on the device it left, a capture
   * warms up {@link CudaGraphs#RESTORE_WARMUP_RUNS} times (its executor's plan survives the
   * park); on another, the full {@link CudaGraphs#WARMUP_RUNS}. Graphs its load rejected stay
   * off. Keeping the graphs themselves across the park is not possible: they hold the device
   * addresses of the weights and of their pool, and the weights come back in fresh device
   * memory at other addresses (holding the old addresses would keep the device memory the
   * park exists to free). Consumes this parked copy on success; on failure the weights are
   * back on the host and this copy may be closed.
   */
  TorchModel restore(Device device) {
    ModelSpec placed = spec.device().equals(device) ? spec
        : spec.toBuilder().device(device).build();
    java.util.concurrent.locks.Lock gpu = device.isCuda() ? CudaWork.shared(device, spec.id())
        : null;
    TorchModel model;
    try {
      // All or nothing: the tensors switch storage only once every copy is made.
      weights.toDevice(device);
      model = new TorchModel(placed, device, module, null, weightBytes, steps, null, null);
    } finally {
      if (gpu != null) {
        gpu.unlock();
      }
    }
    module = null;
    weights.close();
    // No recording here: the calls that first fit each bucket record it, under their holds.
    return graphed ? TorchLoader.withLazyGraphs(model, recorderFactory, device.equals(parkedFrom)
        ? CudaGraphs.RESTORE_WARMUP_RUNS : CudaGraphs.WARMUP_RUNS) : model;
  }

  @Override
  public void close() {
    weights.close();
    if (module != null) {
      module.close();
      module = null;
    }
  }
}
