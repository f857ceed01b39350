package ai.nos.optim;

import ai.nos.Artifact;
import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.internal.torch.VerifiedArtifact;
import ai.nos.optim.internal.TensorRt;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The TensorRT step of {@link Optimizer#tensorRt}: decides whether TensorRT can serve a model
 * here and builds its engine into the cache, or says in one sentence why not.
 *
 * <p>Thread-safe. A build that failed is remembered by its cache key, so asking again answers at
 * once with the same reason instead of building again (a build takes minutes and the whole GPU;
 * what it made is freed either way: see {@link TensorRt}). The memory keeps the
 * {@value #MAX_REMEMBERED_FAILURES} most recent failed keys: a key forgotten is built again when
 * asked for.
 */
final class TensorRtStep {
  /** The batch range of a spec without batching: what a caller may send in one call. */
  static final int DEFAULT_MAX_BATCH = 32;
  private static final Pattern SM = Pattern.compile("sm_\\d+");
  /** How many failed build keys {@link #FAILED} keeps. */
  static final int MAX_REMEMBERED_FAILURES = 256;
  /**
   * The longest reason {@link #FAILED} keeps, in chars. A reason carries what TensorRT logged
   * during the build, up to 256 messages of 4,000 chars (TensorRtLog): 2 MB, and 512 MB for 256
   * keys, if kept whole. The build that failed returns its whole reason.
   */
  static final int MAX_REMEMBERED_REASON_CHARS = 8_000;
  /**
   * The reason of each failed build by its key hash, the {@value #MAX_REMEMBERED_FAILURES} most
   * recently failed only and each cut to {@value #MAX_REMEMBERED_REASON_CHARS} chars, so that an
   * application trying many distinct failing builds over its life does not grow this without
   * end. Insertion order: a key failing again moves to the end only when it is forgotten first (a
   * remembered key is answered, not rebuilt). Guarded by its own lock; a build never runs under
   * it.
   */
  private static final Map<String, String> FAILED = new LinkedHashMap<>() {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
      return size() > MAX_REMEMBERED_FAILURES;
    }
  };

  private TensorRtStep() {}

  /**
   * What the step came to: an engine file with the SHA-256 the cache checked, or the reason
   * TensorRT is not used.
   */
  record Outcome(Path engine, String sha256, String reason) {
    static Outcome refused(String reason) {
      return new Outcome(null, null, reason);
    }
  }

  /**
   * Builds (or finds in the cache) the engine for {@code spec} from {@code onnx}, INT8 calibrated
   * on {@code calibration} when it is not null, or returns why it cannot. Never throws for a
   * missing or broken TensorRT: that is a reason.
   */
  static Outcome run(ModelSpec spec, Path onnx, ArtifactCache cache, String cudaVersion,
      Calibration calibration) {
    TensorRt.Probe probe = TensorRt.probe();
    if (!probe.usable()) {
      return Outcome.refused(probe.reason());
    }
    Device device = TorchRuntime.resolve(spec.device(), spec.id());
    if (!device.isCuda()) {
      return Outcome.refused("TensorRT runs on CUDA devices only but model '" + spec.id()
          + "' resolves to " + device);
    }
    if (spec.precision() == Precision.BF16) {
      return Outcome.refused("the TensorRT step builds fp32 and fp16 engines but model '"
          + spec.id() + "' asks for bf16");
    }
    int index = device.index().orElse(0);
    String arch = arch(TorchRuntime.cudaDeviceName(index));
    int maxBatch = maxBatch(spec);
    TensorRt.Int8 int8 = calibration == null ? null
        : new TensorRt.Int8(calibration.batches(), calibration.rows());
    return fromPrivateCopy(spec, onnx, cache,
        sha256 -> key(spec, sha256, arch, probe.version(), cudaVersion, calibration),
        (copy, target) -> TensorRt.build(new TensorRt.Request(copy,
            spec.precision() == Precision.FP16, 1, maxBatch, maxBatch, index, arch, int8),
            target));
  }

  /** Builds an engine from the ONNX file at {@code copy} into {@code target}. */
  interface EngineBuild {
    void build(Path copy, Path target) throws IOException;
  }

  /**
   * The part of {@link #run} after TensorRT and the device were found fit: copies {@code onnx}
   * into a private file (owner-only folder under {@code java.io.tmpdir}) while hashing the bytes
   * copied, keys the engine by that digest, and has {@code build} parse the copy, never the
   * original, so the engine is built from the bytes its key names even if {@code onnx} is
   * rewritten meanwhile (TensorRT used to parse {@code onnx} by its path after it was hashed).
   * The copy is deleted before this returns. A model keeping tensors in external data files is
   * refused with the reason: those files are not in the copy's folder nor in the digest.
   *
   * @throws ai.nos.ModelLoadException if {@code onnx} cannot be read into the copy (a file that
   *     changed size while copied included); the message names the model and the file
   */
  static Outcome fromPrivateCopy(ModelSpec spec, Path onnx, ArtifactCache cache,
      Function<String, CacheKey> keyOf, EngineBuild build) {
    try (VerifiedArtifact copy = VerifiedArtifact.open(spec.id(), Artifact.of(onnx),
        List.of())) {
      CacheKey key = keyOf.apply(copy.sha256());
      String failed = remembered(key.hash());
      if (failed != null) {
        return Outcome.refused(failed + " (remembered from an earlier build in this JVM)");
      }
      String external = externalData(spec, onnx, copy.path());
      if (external != null) {
        return Outcome.refused(external);
      }
      try {
        ArtifactCache.Entry engine = cache.entry(key, target -> build.build(copy.path(), target));
        return new Outcome(engine.artifact(), engine.sha256(), null);
      } catch (OptimizationException e) {
        String reason = rootMessage(e);
        remember(key.hash(), reason);
        return Outcome.refused(reason);
      }
    }
  }

  /** Why the ONNX model at {@code copy} (of {@code onnx}) cannot be built here, or null. */
  private static String externalData(ModelSpec spec, Path onnx, Path copy) {
    String location;
    try {
      location = OnnxExternalData.firstLocation(copy);
    } catch (IOException e) {
      return "model '" + spec.id() + "': TensorRT cannot parse " + onnx + ": " + e.getMessage();
    }
    return location == null ? null : "model '" + spec.id() + "': " + onnx + " keeps tensors in"
        + " an external data file ('" + location + "' beside it), which the TensorRT step does"
        + " not read (it builds from a private copy of the one file it hashed); save the model"
        + " with its weights inside (onnx.save(model, path, save_as_external_data=False), up to"
        + " 2 GiB)";
  }

  /** The engine's largest batch: the spec's {@code maxBatchSize}, else the default. */
  static int maxBatch(ModelSpec spec) {
    return spec.batching().map(Batching::maxBatchSize).orElse(DEFAULT_MAX_BATCH);
  }

  /**
   * The engine's cache key. An INT8 engine's adds the quantization and the digest of its
   * calibration data, so that two calibration sets never share an engine; the fp16 and fp32
   * keys are what they were before INT8 existed (their cached engines stay valid).
   */
  static CacheKey key(ModelSpec spec, String onnxSha256, String arch, String tensorRtVersion,
      String cudaVersion, Calibration calibration) {
    int maxBatch = maxBatch(spec);
    boolean fp16 = spec.precision() == Precision.FP16;
    CacheKey.Builder key = CacheKey.builder().sourceSha256(onnxSha256)
        .option("step", "tensorrt")
        .option("precision", spec.precision().label())
        .option("batch", "1.." + maxBatch + " opt " + maxBatch)
        .deviceArch(arch)
        .version("tensorrt", tensorRtVersion).version("cuda", cudaVersion)
        .option("tf32", fp16 ? "n/a" : "off")
        .option("io", fp16 && calibration == null ? "half" : "float")
        .version("nos-optim", "2");
    if (calibration != null) {
      key.option("quantization", "int8-entropy2")
          .option("calibration", "sha256:" + calibration.sha256() + " rows "
              + calibration.rows() + " batches " + calibration.batches().size());
    }
    return key.build();
  }

  /** Checks the ONNX argument before anything native sees it. */
  static void checkOnnx(ModelSpec spec, Path onnx) {
    if (spec == null || onnx == null) {
      throw new IllegalArgumentException("spec and onnx must be given but were "
          + (spec == null ? null : "'" + spec.id() + "'") + ", " + onnx);
    }
    if (!Files.isRegularFile(onnx) || !Files.isReadable(onnx)) {
      throw new IllegalArgumentException("model '" + spec.id() + "': the ONNX file for"
          + " TensorRT must be a readable regular file but " + onnx + " is "
          + (Files.exists(onnx) ? "not one" : "missing"));
    }
  }

  /** {@code sm_90} from a name like {@code "NVIDIA H200 sm_90"}. */
  static String arch(String deviceName) {
    Matcher m = SM.matcher(deviceName);
    return m.find() ? m.group() : deviceName;
  }

  /** The reason the build under {@code keyHash} failed in this JVM, or null. */
  static String remembered(String keyHash) {
    synchronized (FAILED) {
      return FAILED.get(keyHash);
    }
  }

  /** Remembers that the build under {@code keyHash} failed, and why (a long reason cut). */
  static void remember(String keyHash, String reason) {
    String kept = reason.length() <= MAX_REMEMBERED_REASON_CHARS ? reason
        : reason.substring(0, MAX_REMEMBERED_REASON_CHARS) + "... (" + reason.length()
            + " chars, cut)";
    synchronized (FAILED) {
      FAILED.put(keyHash, kept);
    }
  }

  /** How many failed builds are remembered (for tests). */
  static int rememberedCount() {
    synchronized (FAILED) {
      return FAILED.size();
    }
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause().getMessage() != null) {
      t = t.getCause();
    }
    return t.getMessage() != null ? t.getMessage() : e.toString();
  }
}
