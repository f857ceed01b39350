package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import ai.nos.internal.Accuracy;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import org.bytedeco.pytorch.InferenceMode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link Optimization#CUDA_GRAPHS} for a loaded {@link TorchModel}: whether its signature allows
 * recorded graphs, which batch-size buckets to record, the recording itself (CUDA's
 * {@link CudaGraphs}, or a recorder a test gives), and the check of the replays against the
 * eager model; for a copy swapped back from the host tier, the same buckets recorded lazily
 * ({@link #lazy}). Every reason to run eagerly instead is logged once, naming the model.
 * Stateless.
 */
final class ModelGraphs {
  private static final Logger LOG = LoggerFactory.getLogger(TorchModel.class);
  private static final String LABEL = Optimization.CUDA_GRAPHS.label();

  private ModelGraphs() {}

  /**
   * Makes a {@link GraphBuckets.Recorder} for a model: the forward function runs the module on
   * static inputs and returns its outputs. The recorder is closed after the buckets.
   */
  interface RecorderFactory {
    <R extends GraphBuckets.Recorder & AutoCloseable> R create(Device device,
        Function<List<org.bytedeco.pytorch.Tensor>, List<org.bytedeco.pytorch.Tensor>> forward);
  }

  /**
   * The model's forward pass recorded per bucket, or null (logged) when the step does not apply
   * on {@code device}, the signature rules it out, or recording fails.
   *
   * @param factory the recorder to use; null: CUDA's, on CUDA devices only
   */
  static GraphBuckets record(ModelSpec spec, Device device, RecorderFactory factory,
      List<GraphBuckets.InputShape> shapes,
      Function<List<org.bytedeco.pytorch.Tensor>, List<org.bytedeco.pytorch.Tensor>> forward) {
    RecorderFactory recorders = recorders(spec, device, factory, CudaGraphs.WARMUP_RUNS);
    if (recorders == null) {
      return null;
    }
    String unfit = problem(spec);
    if (unfit != null) {
      LOG.warn("model '{}': {} cannot be used: {}; it runs eagerly", spec.id(), LABEL, unfit);
      return null;
    }
    try (InferenceMode guard = new InferenceMode()) {
      var recorder = recorders.create(device, forward);
      return GraphBuckets.record(buckets(spec), shapes, recorder, recorder);
    } catch (RuntimeException | LinkageError e) {
      // LinkageError: the CUDA runtime's bindings did not load (a CPU-only build).
      LOG.warn("model '{}': {} cannot be recorded on {}: {}; it runs eagerly", spec.id(), LABEL,
          device, TorchModel.firstLine(e.getMessage()));
      // libtorch's whole message (its C++ frames with TORCH_SHOW_CPP_STACKTRACES=1) for whoever
      // looks into why.
      LOG.debug("model '{}': {} not recorded, in full", spec.id(), LABEL, e);
      return null;
    }
  }

  /**
   * The spec's buckets for a copy whose graphs a load already recorded and checked, recorded
   * again lazily ({@link GraphBuckets#lazy}): each bucket by the first call that fits it. A
   * bucket whose recording fails is logged and runs eagerly. Null (logged) where the recorder
   * cannot be made.
   *
   * @param factory the recorder to use; null: CUDA's, with {@code warmups} runs per capture
   */
  static GraphBuckets lazy(ModelSpec spec, Device device, RecorderFactory factory, int warmups,
      List<GraphBuckets.InputShape> shapes,
      Function<List<org.bytedeco.pytorch.Tensor>, List<org.bytedeco.pytorch.Tensor>> forward) {
    RecorderFactory recorders = recorders(spec, device, factory, warmups);
    if (recorders == null) {
      return null;
    }
    try {
      var recorder = recorders.create(device, forward);
      return GraphBuckets.lazy(buckets(spec), shapes, recorder, (size, e) -> {
        LOG.warn("model '{}': {} cannot be recorded for batch size {} on {}: {}; calls of that"
            + " size run eagerly", spec.id(), LABEL, size, device,
            TorchModel.firstLine(e.getMessage()));
        LOG.debug("model '{}': {} bucket {} not recorded, in full", spec.id(), LABEL, size, e);
      }, recorder);
    } catch (RuntimeException | LinkageError e) {
      LOG.warn("model '{}': {} cannot be recorded on {}: {}; it runs eagerly", spec.id(), LABEL,
          device, TorchModel.firstLine(e.getMessage()));
      return null;
    }
  }

  /**
   * What {@link #record} and {@link #lazy} make their recorder with: {@code factory}, or else
   * CUDA's with {@code warmups} runs before each capture; null (logged) off CUDA without a
   * factory. Making a recorder is left to the caller, inside its handling of failures: CUDA's
   * loads the CUDA runtime's bindings, which a CPU-only build lacks.
   */
  private static RecorderFactory recorders(ModelSpec spec, Device device,
      RecorderFactory factory, int warmups) {
    if (factory != null) {
      return factory;
    }
    if (!device.isCuda()) {
      LOG.info("model '{}': {} applies to CUDA devices only; it runs eagerly on {}", spec.id(),
          LABEL, device);
      return null;
    }
    return new RecorderFactory() {
      @Override
      @SuppressWarnings("unchecked") // CudaGraphs is both bounds; create's signature is generic
      public <R extends GraphBuckets.Recorder & AutoCloseable> R create(Device on,
          Function<List<org.bytedeco.pytorch.Tensor>, List<org.bytedeco.pytorch.Tensor>> run) {
        return (R) new CudaGraphs(on.index().orElse(0), run, warmups);
      }
    };
  }

  /**
   * Whether the replays give the eager outputs on random inputs of 1 row and of 3 (padded to a
   * bucket when 3 is not one), within the spec's precision's tolerance; logs why not.
   */
  static boolean check(ModelSpec spec, Device device, int[] sizes,
      UnaryOperator<Map<String, Tensor>> eager, UnaryOperator<Map<String, Tensor>> replayed) {
    double tolerance = LoadPasses.tolerance(spec);
    int largest = sizes[sizes.length - 1];
    for (int rows : new int[] {1, Math.min(3, largest)}) {
      Map<String, Tensor> inputs = Accuracy.randomInputs(spec, rows, 1, 2, 0x6a4 + rows);
      String problem;
      try {
        problem = LoadPasses.compare(eager.apply(inputs), replayed.apply(inputs), tolerance);
      } catch (RuntimeException e) {
        problem = "a replay failed: " + TorchModel.firstLine(e.getMessage());
      }
      if (problem != null) {
        LOG.warn("model '{}': {} rejected on {}: with {} row(s), {}; it runs eagerly",
            spec.id(), LABEL, device, rows, problem);
        return false;
      }
    }
    return true;
  }

  /** Why the spec's signature rules out recorded graphs, or null if it does not. */
  static String problem(ModelSpec spec) {
    if (!spec.imageInputs().isEmpty()) {
      return "image inputs " + spec.imageInputs().keySet() + " are pre-processed per call";
    }
    for (TensorSpec in : spec.signature().inputs()) {
      long[] shape = in.shape();
      if (shape.length == 0 || shape[0] != -1) {
        return "input '" + in.name() + "' has shape " + java.util.Arrays.toString(shape)
            + "; the first dimension must be the batch (-1)";
      }
      for (int d = 1; d < shape.length; d++) {
        if (shape[d] < 0) {
          return "input '" + in.name() + "' has shape " + java.util.Arrays.toString(shape)
              + "; every dimension but the batch must be fixed";
        }
      }
    }
    for (TensorSpec out : spec.signature().outputs()) {
      long[] shape = out.shape();
      if (shape.length == 0 || shape[0] != -1) {
        return "output '" + out.name() + "' has shape " + java.util.Arrays.toString(shape)
            + "; the first dimension must be the batch (-1)";
      }
    }
    return null;
  }

  /**
   * The batch-size buckets, the same a batched copy pads its batches to
   * ({@link ai.nos.internal.batch.BatchBuckets#sizes}): the preferred batch sizes plus the
   * largest batch; without preferred sizes the powers of two up to the largest batch (and the
   * largest batch itself); without batching 1, 2, 4, ... 32. Ascending.
   */
  static int[] buckets(ModelSpec spec) {
    return spec.batching().map(ai.nos.internal.batch.BatchBuckets::sizes)
        .orElseGet(() -> ai.nos.internal.batch.BatchBuckets.derived(32));
  }
}
