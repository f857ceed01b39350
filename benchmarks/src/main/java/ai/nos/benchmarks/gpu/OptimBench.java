package ai.nos.benchmarks.gpu;

import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.PinnedBuffer;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * NOS rows of the nos-optim benchmark (issue #5) on the GPU machine (scripts/gpu/bench.sh optim),
 * beside scripts/gpu/optim_baseline.py's Python rows in the same call: ResNet-50 and ViT-B/16
 * TorchScript (random weights), fp32 and fp16, batch 1, 8, 64, 256, one caller, as served (host
 * float32 in, logits back to the host):
 *
 * <ul>
 *   <li>NOS plain TorchScript: the file as it is;
 *   <li>NOS optimized: with the load-time steps channels-last, freeze and cuDNN benchmark mode
 *       (each load checks them against the plain model);
 *   <li>the same with optimize_for_inference instead of freeze (its conv-add-relu fusion);
 *   <li>NOS optimized + CUDA graphs: the optimized steps plus {@code cuda_graphs}, one graph per
 *       batch size of the table (the spec's preferred batch sizes 1, 8, 64, 256);
 *   <li>the optimize_for_inference steps plus {@code cuda_graphs} (fp16's best steps on the
 *       2026-11-27 run, with graphs);
 *
 * <li>NOS AOTInductor: the package {@code AOTI_DIR/<model>-<dtype>-cuda.pt2} from
 *       scripts/gpu/make_aoti.py (ResNet-50 only), first checked against the TorchScript file
 *       with {@code Optimizer.adopt} (the accuracy guard), then loaded through NOS with cuDNN
 *       benchmark mode, and again with CUDA graphs; and {@code <model>-<dtype>-cuda-buckets.pt2},
 *       one library per batch size of the table (static shapes, as torch.compile specialises).
 * </ul>
 *
 * <p>With {@code -Dnos.bench.pinned=true} (bench.sh overhead and aoti-cl) each row is measured
 * twice: from an ordinary tensor, as above, and from a {@link PinnedBuffer} ("pinned input"),
 * the input Python's eager rows have.
 *
 * <p>Each cell is {@code -Dnos.bench.windows=N} (default 3) measured windows of SECONDS each
 * ({@link Timing#windows}): images/s is the median window's work over its wall time, then the p50
 * of every call in them, the slowest window's images/s and each window's. The first six columns
 * are the old rows' (scripts/gpu/optim_table.py reads them), with images/s from the windows now
 * instead of batch / p50.
 *
 * <p>With {@code -Dnos.bench.sdpOrder=cudnn,flash} (names of {@link SdpOrder#BACKENDS}) those
 * scaled-dot-product-attention backends go first in libtorch's process-wide priority order before
 * any model loads, and the log says the order in force (bench.sh vit with VIT_SDP_ORDERS: which
 * backend ViT-B/16's fused attention gets in libtorch 2.10). With {@code -Dnos.bench.batches=64}
 * (a comma-separated subset) only those batch sizes are measured; the CUDA graphs are still
 * recorded for all four.
 *
 * <p>A rejected step is logged as a warning (the log level is warn) above its rows.
 * Args: MODELS_DIR SECONDS [MODEL|all [AOTI_DIR [buckets|best|best-freeze]]].
 */
public final class OptimBench {
  private static final int[] BATCHES = {1, 8, 64, 256};
  /** With -Dnos.bench.pinned=true each row is measured again from a {@link PinnedBuffer}. */
  private static final boolean PINNED = Boolean.getBoolean("nos.bench.pinned");
  /**
   * With -Dnos.bench.callers=true, rows at batch 64 and 256 from ordinary direct memory and from
   * two callers at once ({@link #callerRows}).
   */
  private static final boolean CALLERS = Boolean.getBoolean("nos.bench.callers");
  /** With -Dnos.bench.precision=fp16 (or fp32) only that precision's rows. */
  private static final String ONLY_PRECISION = System.getProperty("nos.bench.precision");
  /** Measured windows per cell. */
  private static final int WINDOWS = Integer.getInteger("nos.bench.windows", 3);
  /** With -Dnos.bench.batches=64,256 only those batch sizes are measured. */
  private static final int[] MEASURED = java.util.Arrays.stream(
      System.getProperty("nos.bench.batches", "1,8,64,256").split(","))
      .mapToInt(b -> Integer.parseInt(b.trim())).toArray();

  private OptimBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 2;
    // An optional third argument keeps one model: resnet50 or vit_b_16.
    String only = args.length > 2 && !args[2].equals("all") ? args[2] : null;
    Path aotiDir = args.length > 3 ? Path.of(args[3]) : null;
    // An optional fifth argument "buckets": only the packages with a library per batch size,
    // beside the best TorchScript path (for a short lease).
    boolean bucketsOnly = args.length > 4 && args[4].equals("buckets");
    // Or "best": only ResNet-50's best TorchScript path (CL, ofi, cudnn + CUDA graphs), for #20's
    // rows; "best-freeze": the same with freeze instead of optimize_for_inference (ViT-B/16's
    // best in the seventh session: ofi's rewrites cost it about 20% at batch 64).
    boolean bestOnly = args.length > 4 && args[4].equals("best");
    boolean bestFreeze = args.length > 4 && args[4].equals("best-freeze");
    SdpOrder.applyIfAsked("OptimBench");
    System.out.printf("OptimBench: %s%n", TorchRuntime.cudaDeviceName(0));
    System.out.printf("(%d windows of %s s a cell)%n", WINDOWS, seconds);
    System.out.println("| model | dtype | path | batch | images/s | p50 ms | images/s min"
        + " | images/s per window |");
    System.out.println("|---|---|---|---|---|---|---|---|");
    try (ModelManager manager = ModelManager.builder().noFootprintCatalog().build()) {
      // overhead.pt (make_gpu_models.py: ResNet-50's signature, next to no compute) only when
      // asked: its plain row is the time of a call outside the model (bench.sh overhead).
      for (String file : new String[] {"resnet50.pt", "vit_b_16.pt", "overhead.pt"}) {
        String name = file.replace(".pt", "");
        if (only != null ? !only.equals(name) : name.equals("overhead")) {
          continue;
        }
        for (Precision precision : new Precision[] {Precision.FP32, Precision.FP16}) {
          if (ONLY_PRECISION != null && !ONLY_PRECISION.equals(precision.label())) {
            continue;
          }
          ModelSpec plain = GpuModels.image(dir.resolve(file), name + "-" + precision.label(),
              precision, 256).toBuilder().device("cuda:0").build();
          ModelSpec optimized = plain.toBuilder().id(plain.id() + "-optimized")
              .optimize(Optimization.CHANNELS_LAST, Optimization.FREEZE,
                  Optimization.CUDNN_BENCHMARK).build();
          ModelSpec ofi = plain.toBuilder().id(plain.id() + "-ofi")
              .optimize(Optimization.CHANNELS_LAST, Optimization.OPTIMIZE_FOR_INFERENCE,
                  Optimization.CUDNN_BENCHMARK).build();
          ModelSpec graphs = optimized.toBuilder().id(plain.id() + "-graphs")
              .batching(ai.nos.Batching.builder().maxBatchSize(256)
                  .preferredBatchSizes(BATCHES).build())
              .optimize(Optimization.CHANNELS_LAST, Optimization.FREEZE,
                  Optimization.CUDNN_BENCHMARK, Optimization.CUDA_GRAPHS).build();
          ModelSpec ofiGraphs = graphs.toBuilder().id(plain.id() + "-ofi-graphs")
              .optimize(Optimization.CHANNELS_LAST, Optimization.OPTIMIZE_FOR_INFERENCE,
                  Optimization.CUDNN_BENCHMARK, Optimization.CUDA_GRAPHS).build();
          Map<ModelSpec, String> rows = new java.util.LinkedHashMap<>();
          rows.put(plain, "NOS plain TorchScript");
          rows.put(optimized, "NOS optimized (channels-last, freeze, cudnn)");
          rows.put(ofi, "NOS channels-last, optimize_for_inference, cudnn");
          rows.put(graphs, "NOS optimized + CUDA graphs");
          rows.put(ofiGraphs, "NOS CL, ofi, cudnn + CUDA graphs");
          Path aoti = aotiDir == null ? null
              : aotiDir.resolve(name + "-" + precision.label() + "-cuda.pt2");
          if (aoti != null && java.nio.file.Files.isRegularFile(aoti)) {
            // The package against the TorchScript it was compiled from (same seed), once.
            try {
              ai.nos.optim.Optimizer.Result adopted = ai.nos.optim.Optimizer.builder().build()
                  .adopt(plain.toBuilder().id(plain.id() + "-adopt").build(), aoti,
                      "aotinductor");
              System.out.printf("(%s %s, AOTInductor package vs TorchScript fp32: %s, %s)%n",
                  name, precision.label(), adopted.guard(),
                  adopted.optimized() ? "adopted" : "not adopted");
            } catch (ai.nos.NosException e) {
              System.out.printf("(%s %s, AOTInductor package refused: %s)%n", name,
                  precision.label(), e.getMessage());
            }
            ModelSpec compiled = plain.toBuilder().id(plain.id() + "-aoti").artifact(aoti)
                .optimize(Optimization.CUDNN_BENCHMARK).build();
            rows.put(compiled, "NOS AOTInductor (cudnn)");
            rows.put(compiled.toBuilder().id(plain.id() + "-aoti-graphs")
                .batching(graphs.batching().orElseThrow())
                .optimize(Optimization.CUDNN_BENCHMARK, Optimization.CUDA_GRAPHS).build(),
                "NOS AOTInductor + CUDA graphs");
          }
          if (bucketsOnly || bestOnly) {
            rows.keySet().retainAll(List.of(ofiGraphs));
          }
          if (bestFreeze) {
            rows.keySet().retainAll(List.of(graphs));
          }
          if (name.equals("overhead")) {
            rows.keySet().retainAll(List.of(plain));
          }
          for (String layout : new String[] {"", "-cl", "-cl-autotune"}) {
            Path buckets = aotiDir == null ? null : aotiDir.resolve(
                name + "-" + precision.label() + "-cuda" + layout + "-buckets.pt2");
            if (buckets != null && java.nio.file.Files.isRegularFile(buckets)) {
              rows.put(plain.toBuilder().id(plain.id() + "-aoti" + layout + "-buckets")
                  .artifact(buckets).optimize(Optimization.CUDNN_BENCHMARK).build(),
                  "NOS AOTInductor, a library per batch size"
                  + (layout.isEmpty() ? "" : ", channels-last")
                  + (layout.endsWith("-autotune") ? ", max-autotune" : ""));
            }
          }
          if (bucketsOnly && rows.size() == 1) {
            continue;
          }
          for (var row : rows.entrySet()) {
            ModelSpec spec = row.getKey();
            String path = row.getValue();
            try (Model m = manager.load(spec)) {
              System.out.printf("(%s %s, %s: runs with %s)%n", name, precision.label(), path,
                  manager.models().stream().filter(i -> i.id().equals(spec.id()))
                      .map(ai.nos.ModelInfo::optimizations).findFirst().orElse(List.of()));
              for (int batch : MEASURED) {
                Map<String, Tensor> in = GpuModels.inputs(spec, batch, 7);
                row(name, precision, path, batch,
                    Timing.windows(() -> m.infer(in), batch, seconds, WINDOWS));
                if (CALLERS && batch >= 64) {
                  callerRows(m, in, name, precision, path, batch, seconds);
                }
                if (PINNED) {
                  try (PinnedBuffer image = PinnedBuffer.allocate(DType.FLOAT32, batch, 3, 224,
                      224)) {
                    image.buffer().put(in.get("image").buffer());
                    Map<String, Tensor> pinned = Map.of("image", image.tensor());
                    row(name, precision, path + ", pinned input", batch,
                        Timing.windows(() -> m.infer(pinned), batch, seconds, WINDOWS));
                  }
                }
              }
            }
          }
        }
      }
    }
    if (PINNED) {
      System.out.printf("(inputs moved straight from pinned memory: %d)%n",
          ai.nos.internal.torch.PinnedMemory.directCopies());
    }
  }

  /**
   * Issue #20's rows at one batch size: the input in ordinary direct memory ({@code Tensor.wrap},
   * staged through a pinned block: what every {@code Tensor} was before NOS pinned its own large
   * tensors), then two callers at once, each with a {@code Tensor} of its own and each with a
   * {@link PinnedBuffer} of its own (one call's copies run while the other computes: the calls run
   * on two streams).
   */
  private static void callerRows(Model m, Map<String, Tensor> in, String name,
      Precision precision, String path, int batch, double seconds) throws Exception {
    Tensor image = in.get("image");
    java.nio.ByteBuffer direct = java.nio.ByteBuffer.allocateDirect(image.buffer().remaining())
        .order(java.nio.ByteOrder.nativeOrder());
    direct.put(image.buffer()).flip();
    Map<String, Tensor> ordinary = Map.of("image", Tensor.wrap(DType.FLOAT32, direct,
        image.shape()));
    row(name, precision, path + ", ordinary direct memory (staged)", batch,
        Timing.windows(() -> m.infer(ordinary), batch, seconds, WINDOWS));
    Map<String, Tensor> second = GpuModels.inputs(m.spec(), batch, 8);
    row(name, precision, path + ", 2 callers", batch,
        Timing.callers(List.of(() -> m.infer(in), () -> m.infer(second)), batch, seconds,
            WINDOWS));
    try (PinnedBuffer a = PinnedBuffer.allocate(DType.FLOAT32, image.shape());
        PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, image.shape())) {
      a.buffer().put(image.buffer());
      b.buffer().put(second.get("image").buffer());
      Map<String, Tensor> pa = Map.of("image", a.tensor());
      Map<String, Tensor> pb = Map.of("image", b.tensor());
      row(name, precision, path + ", pinned input, 2 callers", batch,
          Timing.callers(List.of(() -> m.infer(pa), () -> m.infer(pb)), batch, seconds,
              WINDOWS));
    }
  }

  private static void row(String model, Precision precision, String path, int batch,
      Timing.Windows w) {
    System.out.printf("| %s | %s | %s | %d | %.0f | %.2f | %.0f | %s |%n", model,
        precision.label(), path, batch, w.median(), w.p50Nanos() / 1e6, w.min(),
        String.join(" ", w.perSecond().stream().map(x -> String.format("%.0f", x)).toList()));
  }
}
