package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import ai.nos.internal.Accuracy;
import ai.nos.internal.batch.BatchBuckets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * Warming a copy up
 *
 * A copy is READY only once every batch size it will run has run once on every thread that will
 * run it. What a first call at a new size pays, on a GPU: cuDNN plan building (under cuDNN
 * benchmark mode, which AUTO turns on for convolutional models, every candidate plan is timed),
 * the TorchScript executor's specialization for the input shape, and the caching allocator's
 * growth to the working set; on an H200 that kept a freshly loaded ResNet-50 under 256 clients at
 * a tenth of its throughput, with a p99 of seconds, for 10-20 s. BatchBuckets bounds the sizes;
 * this class runs them.
 *
 * On the loader thread (TorchBackend.loadCuda) the copy runs every bucket once, largest first:
 * the caching allocator grows once to the largest working set and the smaller sizes reuse its
 * blocks, and the footprint measured over the whole warm-up is the peak of every size the copy
 * will run. The shape specializations and the allocator's blocks are shared by all threads.
 * cuDNN's execution plans are not: libtorch keeps them in a thread_local cache (cuDNN does not
 * promise a plan is safe to share between threads), and cuBLAS and cuDNN handles come per thread
 * from a pool. So each batch worker of the copy runs every bucket again on its own thread
 * (TorchReplica.warmUpThread, called by the batcher before the worker's first batch), one worker
 * at a time so that cuDNN's timings are not disturbed by the other worker's calls. The manager's
 * worker threads are pooled: a thread that served an evicted copy keeps its plans, so a reload's
 * warm-up mostly replays cached plans.
 *
 * Padding
 *
 * Padding a batch with zero rows is only right when a model's rows do not depend on each other
 * (no batch-wide statistics). Before a copy gets buckets, the load checks that: a call on random
 * rows that is not a bucket against the same rows padded to their bucket, within the precision's
 * tolerance. A model that fails runs its batches unpadded, with a warning.
 *
 * On the CPU there is no warm-up (as before buckets): nothing is timed there, and a call at a
 * large batch costs seconds of load.
 */

/** The batch buckets a copy gets and the warm-up calls it runs before it is ready. Stateless. */
final class WarmUp {
  private static final Logger LOG = LoggerFactory.getLogger(TorchBackend.class);

  private WarmUp() {}

  /**
   * The buckets of {@code spec}'s copies on {@code device} ({@link BatchBuckets#forSpec}), or
   * none (logged) if padding changes the model's outputs: {@code model} is called on random rows
   * that are not a bucket, exactly and padded with zero rows.
   */
  static BatchBuckets buckets(ModelSpec spec, Device device,
      UnaryOperator<Map<String, Tensor>> model) {
    BatchBuckets buckets = BatchBuckets.forSpec(spec, device);
    String problem = paddingProblem(spec, buckets, model);
    if (problem != null) {
      LOG.warn("model '{}': batches on {} are not padded to the batch sizes {}: {}", spec.id(),
          device, buckets, problem);
      return BatchBuckets.NONE;
    }
    return buckets;
  }

  /**
   * Null if {@code model}'s outputs for the smallest row count that is not a bucket are the same
   * (within the precision's tolerance) when the rows are padded to their bucket; else what
   * differs. Null without a row count to pad.
   */
  static String paddingProblem(ModelSpec spec, BatchBuckets buckets,
      UnaryOperator<Map<String, Tensor>> model) {
    int rows = 0;
    for (int r = 1; r < buckets.largest(); r++) {
      if (buckets.padTo(r) != r) {
        rows = r;
        break;
      }
    }
    if (rows == 0) {
      return null;
    }
    int padded = buckets.padTo(rows);
    Map<String, Tensor> exact = Accuracy.randomInputs(spec, rows, 4, 2, 0xb0c7);
    Map<String, Tensor> inputs = new LinkedHashMap<>();
    exact.forEach((name, t) -> inputs.put(name, withRows(t, padded)));
    try {
      Map<String, Tensor> cut = new LinkedHashMap<>();
      for (var e : model.apply(inputs).entrySet()) {
        cut.put(e.getKey(), withRows(e.getValue(), rows));
      }
      String problem = LoadPasses.compare(model.apply(exact), cut, LoadPasses.tolerance(spec));
      return problem == null ? null : "with " + rows + " row(s) padded to " + padded + ", "
          + problem;
    } catch (RuntimeException e) {
      return "a call with " + rows + " row(s) padded to " + padded + " failed: "
          + TorchModel.firstLine(e.getMessage());
    }
  }

  /** {@code t} with {@code rows} rows: its first ones, or all of them followed by zero rows. */
  static Tensor withRows(Tensor t, long rows) {
    long[] shape = t.shape();
    long rowBytes = t.byteSize() / Math.max(shape[0], 1);
    shape[0] = rows;
    ByteBuffer out = ByteBuffer.allocateDirect(Math.toIntExact(rows * rowBytes))
        .order(ByteOrder.nativeOrder());
    ByteBuffer in = t.buffer().duplicate();
    in.limit(in.position() + (int) Math.min(in.remaining(), out.capacity()));
    out.put(in).clear();
    return Tensor.wrap(t.dtype(), out, shape);
  }

  /**
   * Calls {@code call} once per batch size a copy runs, largest first: each bucket, or without
   * buckets the spec's largest batch alone (1 without batching).
   */
  static void eachSize(ModelSpec spec, BatchBuckets buckets, IntConsumer call) {
    if (buckets.isEmpty()) {
      call.accept(spec.batching().map(b -> b.maxBatchSize()).orElse(1));
      return;
    }
    int[] sizes = buckets.sizes();
    for (int i = sizes.length - 1; i >= 0; i--) {
      call.accept(sizes[i]);
    }
  }

  /** Zeros of {@code rows} rows; dimensions that vary besides the batch are 1. */
  static Map<String, Tensor> inputs(ModelSpec spec, long rows) {
    Map<String, Tensor> inputs = new HashMap<>();
    for (TensorSpec t : spec.signature().inputs()) {
      long[] shape = t.shape();
      shape[0] = rows;
      for (int i = 1; i < shape.length; i++) {
        shape[i] = shape[i] == -1 ? 1 : shape[i];
      }
      inputs.put(t.name(), Tensor.zeros(t.dtype(), shape));
    }
    return inputs;
  }
}
