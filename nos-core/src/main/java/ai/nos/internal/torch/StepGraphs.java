package ai.nos.internal.torch;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.bytedeco.pytorch.Tensor;

/**
 * A step of some other engine than {@link TorchModel} (the generation engine's decode step)
 * recorded as CUDA graphs per batch-size bucket: the same {@link GraphBuckets} and
 * {@link CudaGraphs} the models' graphs use (one private pool per instance, recorded largest
 * first on the device's recording thread), opened to code outside this package.
 *
 * <p>Unlike a model's forward pass, the caller owns the padding: it passes inputs whose first
 * dimension is exactly a bucket size ({@link #sizes()}), so no row keeps what an earlier call
 * left there. That matters for a step with side effects: a decode step writes each row's keys
 * and values into the cache row its slot input names, and a stale padding row would write into
 * a slot another sequence owns now. The {@code allocate} functions must fill the static inputs
 * with values that are safe to run (the recording runs the step on them: warm-ups and capture).
 *
 * <p>Thread-safety as {@link GraphBuckets}: calls are serialized by its lock; {@link #close}
 * waits for one in progress.
 */
public final class StepGraphs implements AutoCloseable {
  private final GraphBuckets buckets;
  /** The bucket sizes, ascending (read on every step: kept, not asked for). */
  private final int[] sizes;
  private final long bytes;

  private StepGraphs(GraphBuckets buckets, long bytes) {
    this.buckets = buckets;
    this.sizes = buckets.sizes();
    this.bytes = bytes;
  }

  /**
   * Records {@code forward} for every bucket size on CUDA device {@code device}, largest first.
   *
   * @param rest each input's shape without its first (batch) dimension
   * @param allocate for each input, makes a tensor of the given full shape on the device, filled
   *     with values the step may run on
   * @param forward the step: inputs in, output tensors out (references in the calling scope)
   * @throws IllegalStateException if a bucket cannot be captured (nothing is left allocated)
   */
  public static StepGraphs record(int device, int[] sizes, List<long[]> rest,
      List<Function<long[], Tensor>> allocate, Function<List<Tensor>, List<Tensor>> forward) {
    if (rest.size() != allocate.size()) {
      throw new IllegalArgumentException(rest.size() + " input shapes but " + allocate.size()
          + " allocators");
    }
    List<GraphBuckets.InputShape> shapes = new ArrayList<>();
    for (int i = 0; i < rest.size(); i++) {
      shapes.add(new GraphBuckets.InputShape(rest.get(i).clone(), allocate.get(i)));
    }
    // The recording thread's one-time library state (cuBLAS workspaces on the capture stream,
    // handles) is made first, so it is not measured as this step's: it belongs to the device.
    CudaGraphs.prepareRecordingThread(device);
    long before = TorchRuntime.cudaAllocatedBytes(device);
    CudaGraphs recorder = new CudaGraphs(device, forward);
    GraphBuckets recorded = GraphBuckets.record(sizes, shapes, recorder, recorder);
    return new StepGraphs(recorded, Math.max(0, TorchRuntime.cudaAllocatedBytes(device) - before));
  }

  /**
   * Device bytes the recording left allocated (static inputs and outputs, the pool's blocks in
   * use), measured around it: what the graphs hold beside the model's own memory. Other work on
   * the device during the recording would be counted too.
   */
  public long bytes() {
    return bytes;
  }

  /** The bucket sizes, ascending. */
  public int[] sizes() {
    return sizes.clone();
  }

  /**
   * Replays the bucket whose size is the inputs' first dimension and hands its outputs to
   * {@code read}, which must finish with them (copy, or queue the work that reads them on the
   * current stream) before it returns. Null, and nothing run, when the inputs fit no bucket
   * exactly.
   */
  public <R> R run(List<Tensor> inputs, Function<List<Tensor>, R> read) {
    long n = inputs.isEmpty() ? -1 : inputs.get(0).size(0);
    return n >= 0 && n <= Integer.MAX_VALUE
        && java.util.Arrays.binarySearch(sizes, (int) n) >= 0
        ? buckets.runIfFits(inputs, read) : null;
  }

  @Override
  public void close() {
    buckets.close();
  }
}
