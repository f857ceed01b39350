package ai.nos.internal.torch;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AOTIModelContainerRunner;
import org.bytedeco.pytorch.AOTIModelContainerRunnerCpu;
import org.bytedeco.pytorch.StringIntMap;
import org.bytedeco.pytorch.TensorVector;

/**
 * An AOTInductor model ({@link AotiPackage}) opened by libtorch's container runner
 * ({@code AOTIModelContainerRunnerCpu}, or {@code AOTIModelContainerRunnerCuda} on a GPU), the
 * forward pass of a {@link TorchModel} whose artifact is a {@code .pt2} package.
 *
 * <h2>Concurrency</h2>
 * The container holds {@link #INSTANCES} model instances (one set of weights, shared) and gives
 * each call a free one, waiting while all are busy: {@link #run} is safe from any thread, and as
 * many calls as there are instances run at once (the manager's two batch workers per copy).
 * {@link #close} frees the container; the owning {@link TorchModel}'s lease calls it once, after
 * the last call.
 *
 * <h2>Batch sizes</h2>
 * A package holds one library, for any batch its export allowed, or one per batch size
 * ({@code batch_<size>}, {@link AotiPackage}), each with its own container and its own copy of
 * the weights; a call then runs on the sizes ({@link AotiBuckets}: padded up, or in pieces).
 *
 * <h2>What NOS checks</h2>
 * The compiled code does not check its inputs (only with {@code AOTI_RUNTIME_CHECK_INPUTS} set in
 * the environment). NOS checks every call against the spec's signature before it reaches the
 * library, checks at open that the weights' floating-point type is the spec's precision (a
 * float16 library fed float32 would read the wrong bytes), and the owning model runs one call
 * at load to check the outputs against the signature.
 */
final class AotiRunner implements CompiledRunner {
  /** Model instances in the container: calls that run at once. */
  static final int INSTANCES = 2;

  /** The runners by the batch size their library was compiled for ({@code ANY_BATCH}: any). */
  private final SortedMap<Integer, AOTIModelContainerRunner> runners;
  /** The compiled batch sizes, increasing; null for one library that takes any batch. */
  private final int[] sizes;
  private final long bytes;

  private AotiRunner(SortedMap<Integer, AOTIModelContainerRunner> runners, long bytes) {
    this.runners = runners;
    this.sizes = runners.containsKey(AotiPackage.ANY_BATCH) ? null
        : runners.keySet().stream().mapToInt(Integer::intValue).toArray();
    this.bytes = bytes;
  }

  /**
   * Extracts the package (once per content, under {@link AotiPackage#defaultRoot()}) from its
   * verified copy and opens its library on {@code device}.
   *
   * @throws ModelLoadException if the package cannot be extracted, its library is not a whole
   *     shared library for this machine (checked before the loader maps it), the spec's input
   *     sizes after the batch are not those it was compiled for (read from its packaged source,
   *     {@link AotiInputSizes}, before the loader maps it), libtorch cannot open
   *     the library (compiled for another device, or by a torch whose runtime calls this libtorch
   *     lacks), or its weights are not in the spec's precision
   */
  static AotiRunner open(ModelSpec spec, VerifiedArtifact verified, Device device) {
    String modelId = spec.id();
    Precision precision = spec.precision();
    Path file = verified.origin();
    SortedMap<Integer, Path> libraries = AotiPackage.extract(modelId, verified.path(), file,
        verified.sha256(), AotiPackage.defaultRoot(), AotiPackage.Limits.DEFAULT);
    libraries.values().forEach(library -> ElfCheck.requireSharedLibrary(modelId, library, file));
    libraries.values().forEach(library -> AotiInputSizes.check(spec, library, file));
    SortedMap<Integer, AOTIModelContainerRunner> runners = new TreeMap<>();
    try {
      for (var e : libraries.entrySet()) {
        AOTIModelContainerRunner runner = open(modelId, file, e.getValue(), device);
        runners.put(e.getKey(), runner);
        checkPrecision(modelId, file, runner, precision);
      }
    } catch (RuntimeException e) {
      runners.values().forEach(AOTIModelContainerRunner::close);
      throw e;
    }
    long bytes = 0;
    for (Path library : libraries.values()) {
      bytes += folderBytes(library.getParent());
    }
    return new AotiRunner(runners, bytes);
  }

  private static AOTIModelContainerRunner open(String modelId, Path file, Path library,
      Device device) {
    try {
      return device.isCuda()
          ? new org.bytedeco.pytorch.cuda.AOTIModelContainerRunnerCuda(library.toString(),
              INSTANCES, "cuda:" + device.index().orElse(0), library.getParent().toString(),
              false)
          : new AOTIModelContainerRunnerCpu(library.toString(), INSTANCES, false);
    } catch (RuntimeException e) {
      throw new ModelLoadException("model '" + modelId + "': libtorch cannot open the"
          + " AOTInductor library " + library.getFileName() + " of "
          + file + " on " + device + ": " + TorchModel.firstLine(e.getMessage())
          + " (a package runs on the device kind it was compiled for, by a libtorch whose"
          + " runtime has what its code calls)", e);
    }
  }

  /** Refuses a library whose floating-point weights are not all of the spec's precision. */
  private static void checkPrecision(String modelId, Path file, AOTIModelContainerRunner runner,
      Precision precision) {
    TreeSet<String> found = new TreeSet<>();
    try (PointerScope scope = new PointerScope()) {
      StringIntMap dtypes = runner.getConstantNamesToDtypes();
      for (var it = dtypes.begin(); !it.equals(dtypes.end()); it = it.increment()) {
        DType d = null;
        for (var type : org.bytedeco.pytorch.global.torch.ScalarType.values()) {
          if (type.value == it.second()) {
            d = TorchTensors.dtype(type);
          }
        }
        if (d != null && d.isFloatingPoint()) {
          found.add(d.label());
        }
      }
    }
    if (!found.isEmpty() && !found.equals(new TreeSet<>(List.of(precision.dtype().label())))) {
      throw new ModelLoadException("model '" + modelId + "': the AOTInductor library of " + file
          + " has " + found + " weights but the spec's precision is " + precision + " ("
          + precision.dtype().label() + "); give the precision it was compiled for");
    }
  }

  private static long folderBytes(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      long total = 0;
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        total += Files.size(f);
      }
      return total;
    } catch (IOException e) {
      return 0;
    }
  }

  /**
   * Runs the inputs (on the model's device, in signature order); the outputs in order. A
   * package compiled per batch size runs the call on its sizes ({@link AotiBuckets}).
   */
  @Override
  public List<org.bytedeco.pytorch.Tensor> run(List<org.bytedeco.pytorch.Tensor> inputs) {
    if (sizes == null) {
      return run(runners.get(AotiPackage.ANY_BATCH), inputs);
    }
    return AotiBuckets.run(inputs, sizes, (size, padded) -> run(runners.get(size), padded));
  }

  /** The batch sizes the package was compiled for, increasing; empty if it takes any. */
  int[] batchSizes() {
    return sizes == null ? new int[0] : sizes.clone();
  }

  private static List<org.bytedeco.pytorch.Tensor> run(AOTIModelContainerRunner runner,
      List<org.bytedeco.pytorch.Tensor> inputs) {
    TensorVector args = new TensorVector();
    inputs.forEach(args::push_back);
    TensorVector out = runner.run(args);
    List<org.bytedeco.pytorch.Tensor> tensors = new ArrayList<>((int) out.size());
    for (long i = 0; i < out.size(); i++) {
      tensors.add(out.get(i));
    }
    return tensors;
  }

  /** Bytes of the extracted libraries: each holds its copy of the weights. */
  @Override
  public long bytes() {
    return bytes;
  }

  @Override
  public String kind() {
    return "AOTInductor";
  }

  @Override
  public void close() {
    runners.values().forEach(AOTIModelContainerRunner::close);
  }
}
