package ai.nos.benchmarks.gpu;

import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.PinnedBuffer;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.optim.ArtifactCache;
import ai.nos.optim.Calibration;
import ai.nos.optim.Optimizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * TensorRT rows of the ResNet-50 table (issue #22) on the GPU machine (scripts/gpu/bench.sh trt),
 * beside scripts/gpu/optim_baseline.py's torch.compile rows in the same call: the engine built by
 * {@link Optimizer#tensorRt} from the ONNX export of the same weights
 * (scripts/gpu/make_trt_onnx.py; one profile over batch 1..256, fp16 kernels, no TF32 in fp32),
 * checked by the accuracy guard against the TorchScript file in fp32, then served through
 * {@code ModelManager.load} like any artifact, batch 1, 8, 64, 256, from an ordinary {@link Tensor}
 * and from a {@link PinnedBuffer} (at 64 and 256 also from two callers at once,
 * {@link Timing#callers}). The first lines say how long the build and the guard took (the cache
 * makes later loads instant) and what the guard measured.
 *
 * <p>{@code int8}: an INT8 engine with fp16 for the rest and half IO (an fp16 spec with
 * {@link Calibration}), calibrated on {@value #CALIBRATION_BATCHES} batches of
 * {@value #CALIBRATION_ROWS} random N(0, 1) images (the inputs of the timed rows come from
 * another seed). The weights are random too (make_gpu_models.py), so the guard's error is printed
 * but not judged (tolerance 1): the rows measure speed, not what INT8 keeps of a trained model.
 *
 * <p>Rows are OptimBench's format (windows of SECONDS, {@link Timing#windows}).
 * Args: MODELS_DIR ONNX SECONDS [fp16|fp32|int8 ...].
 */
public final class TrtBench {
  private static final int[] BATCHES = {1, 8, 64, 256};
  private static final int WINDOWS = Integer.getInteger("nos.bench.windows", 3);
  private static final int CALIBRATION_BATCHES = 8;
  private static final int CALIBRATION_ROWS = 32;

  private TrtBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    Path onnx = Path.of(args[1]);
    double seconds = Double.parseDouble(args[2]);
    String[] precisions = args.length > 3
        ? java.util.Arrays.copyOfRange(args, 3, args.length) : new String[] {"fp16"};
    System.out.printf("TrtBench: %s%n", TorchRuntime.cudaDeviceName(0));
    Optimizer optimizer = Optimizer.builder()
        .cache(ArtifactCache.builder().directory(Path.of("/tmp/trt-cache")).build()).build();
    try (ModelManager manager = ModelManager.builder().noFootprintCatalog().build()) {
      for (String p : precisions) {
        Precision precision = p.equals("fp32") ? Precision.FP32 : Precision.FP16;
        boolean int8 = p.equals("int8");
        String label = int8 ? "int8" : precision.label();
        ModelSpec spec = GpuModels.resnet50(dir, "resnet50-trt-" + label, precision, 256)
            .toBuilder().device("cuda:0").build();
        long t0 = System.nanoTime();
        Optimizer.Result r = int8 ? optimizer.tensorRt(spec, onnx, calibration(spec))
            : optimizer.tensorRt(spec, onnx);
        System.out.printf("TrtBench: %s engine built, guarded: %.1f s; steps %s, guard %s,"
            + " fallback %s%n", label, (System.nanoTime() - t0) / 1e9, r.steps(), r.guard(),
            r.fallback());
        if (!r.optimized()) {
          System.out.println("TrtBench: no TensorRT engine serves; rows skipped");
          continue;
        }
        t0 = System.nanoTime();
        try (Model m = manager.load(r.spec())) {
          System.out.printf("TrtBench: %s load from the cache %.0f ms; %s%n", label,
              (System.nanoTime() - t0) / 1e6, manager.models().stream()
                  .filter(i -> i.id().equals(spec.id())).findFirst().orElse(null));
          System.out.println("| model | dtype | path | batch | images/s | p50 ms |"
              + " images/s min | images/s per window |");
          System.out.println("|---|---|---|---|---|---|---|---|");
          for (int batch : BATCHES) {
            Map<String, Tensor> in = GpuModels.inputs(spec, batch, 7);
            row(label, "NOS TensorRT", batch,
                Timing.windows(() -> m.infer(in), batch, seconds, WINDOWS));
            try (PinnedBuffer image = PinnedBuffer.allocate(DType.FLOAT32, batch, 3, 224, 224)) {
              image.buffer().put(in.get("image").buffer());
              Map<String, Tensor> pinned = Map.of("image", image.tensor());
              row(label, "NOS TensorRT, pinned input", batch,
                  Timing.windows(() -> m.infer(pinned), batch, seconds, WINDOWS));
              if (batch >= 64) {
                // Two callers, each with its own pinned input: one call's copies run while the
                // other's engine computes (each execution context has a stream of its own).
                try (PinnedBuffer second = PinnedBuffer.allocate(DType.FLOAT32, batch, 3, 224,
                    224)) {
                  second.buffer().put(in.get("image").buffer());
                  Map<String, Tensor> other = Map.of("image", second.tensor());
                  row(label, "NOS TensorRT, pinned input, 2 callers", batch,
                      Timing.callers(List.of(() -> m.infer(pinned), () -> m.infer(other)),
                          batch, seconds, WINDOWS));
                }
              }
            }
          }
        }
      }
    }
  }

  /** Random images, seeds 100.. (the timed rows use seed 7), tolerance 1: see the class comment. */
  private static Calibration calibration(ModelSpec spec) {
    List<Map<String, Tensor>> batches = new ArrayList<>();
    for (int b = 0; b < CALIBRATION_BATCHES; b++) {
      batches.add(GpuModels.inputs(spec, CALIBRATION_ROWS, 100 + b));
    }
    return Calibration.builder(batches).tolerance(1).build();
  }

  private static void row(String dtype, String path, int batch, Timing.Windows w) {
    System.out.printf("| resnet50 | %s | %s | %d | %.0f | %.2f | %.0f | %s |%n",
        dtype, path, batch, w.median(), w.p50Nanos() / 1e6, w.min(),
        String.join(" ", w.perSecond().stream().map(x -> String.format("%.0f", x)).toList()));
  }
}
