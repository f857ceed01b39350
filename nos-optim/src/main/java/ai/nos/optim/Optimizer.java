package ai.nos.optim;

import ai.nos.Artifact;
import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.internal.torch.VerifiedArtifact;
import ai.nos.optim.internal.TorchScriptPasses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a model faster before it serves, safely: applies the TorchScript passes asked for,
 * caches the result on disk by content ({@link ArtifactCache}), and checks it once against the
 * eager model with the {@link AccuracyGuard}. A result that fails the guard is not used: the
 * original spec comes back, and the log names the step.
 *
 * <pre>{@code
 * Optimizer optimizer = Optimizer.builder().freeze(true).build();
 * Optimizer.Result r = optimizer.optimize(spec);
 * try (Model model = Nos.load(r.spec())) { ... }   // the optimized artifact, if it passed
 * }</pre>
 *
 * <p>Thread-safe; two processes optimizing the same model build it once (the cache's locks).
 * Steps that cannot be saved as a file run at each load instead, asked for in the spec
 * ({@link ai.nos.Optimization}: channels-last, freeze, {@code optimize_for_inference}, whose CPU
 * result libtorch 2.10 cannot load back from a file ("required keyword attribute 'value' is
 * undefined"), cuDNN benchmark mode and CUDA graphs); an AOTInductor package ({@code .pt2}) is
 * loaded as a spec's artifact. {@link #tensorRt} builds and serves TensorRT engines where
 * TensorRT can and falls back to the libtorch path, saying why, where it cannot.
 */
public final class Optimizer {
  private static final Logger LOG = LoggerFactory.getLogger(Optimizer.class);
  private static final String LIBTORCH = "2.10.0";
  /** The CUDA of the Bytedeco presets NOS is built with (org.bytedeco:cuda 13.1-9.19-1.5.13). */
  private static final String CUDA = "13.1";

  private final ArtifactCache cache;
  private final boolean freeze;
  private final int guardBatch;
  private final long seed;

  private Optimizer(Builder b) {
    this.cache = b.cache != null ? b.cache : ArtifactCache.builder().build();
    this.freeze = b.freeze;
    this.guardBatch = b.guardBatch;
    this.seed = b.seed;
  }

  /** A builder with no passes on, the default cache directory, a guard batch of 4. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * What {@link #optimize}, {@link #adopt} or {@link #tensorRt} did.
   *
   * @param spec the spec to serve
   * @param steps the steps applied to make {@code spec}'s artifact
   * @param optimized whether {@code spec} points at an optimized artifact that passed the guard
   * @param guard the guard's verdict, or null when nothing was checked
   * @param artifact the optimized artifact, or null when none was made
   * @param fallback why a step asked for was not used and {@code spec} is the best path without
   *     it (e.g. TensorRT missing); null when nothing fell back
   */
  public record Result(ModelSpec spec, List<String> steps, boolean optimized,
      GuardResult guard, Path artifact, String fallback) {

    /** A result where nothing fell back. */
    public Result(ModelSpec spec, List<String> steps, boolean optimized, GuardResult guard,
        Path artifact) {
      this(spec, steps, optimized, guard, artifact, null);
    }
  }

  /**
   * Optimizes the model a spec describes, on the device the spec resolves to.
   *
   * @return the spec to serve: pointing at the optimized artifact, pinned by the sha256 of the
   *     bytes that passed the guard, if it passed, else the given spec unchanged (also for a
   *     compiled artifact, such as an AOTInductor package, which no TorchScript pass applies to:
   *     {@link Result#fallback()} says so)
   * @throws OptimizationException if a pass fails (nothing is cached then), the result does
   *     not load or fails to run on the guard's inputs (the pass broke the model; a result that
   *     runs and differs is not an exception: the spec comes back), the spec's own model fails
   *     on them (it does not compute its signature: nothing can be checked against it; the
   *     cause is its exception), or the cached artifact's bytes changed after the cache checked
   *     them (the message gives both SHA-256s)
   * @throws IllegalArgumentException if {@code spec} is null or its artifact is not a local file
   * @throws ai.nos.ModelLoadException if the artifact cannot be read or is not the bytes its
   *     sha256 pins (nothing is built then)
   */
  public Result optimize(ModelSpec spec) {
    if (spec == null) {
      throw new IllegalArgumentException("spec must be given but was null");
    }
    List<String> steps = new ArrayList<>();
    if (freeze) {
      steps.add("freeze");
    }
    if (steps.isEmpty()) {
      return new Result(spec, steps, false, null, null);
    }
    if (spec.artifact().localPath().isEmpty()) {
      throw new IllegalArgumentException("model '" + spec.id() + "': optimization needs a local"
          + " artifact but was " + spec.artifact().uri());
    }
    Device device = TorchRuntime.resolve(spec.device(), spec.id());
    // The passes read the bytes that were hashed (and checked against the spec's sha256): a
    // source rewritten between keying and building would poison the entry of the bytes keyed.
    try (VerifiedArtifact source = VerifiedArtifact.open(spec.id(), spec.artifact(), List.of())) {
      return optimize(spec, device, source, steps);
    }
  }

  private Result optimize(ModelSpec spec, Device device, VerifiedArtifact source,
      List<String> steps) {
    if (source.isCompiled()) {
      // It failed in libtorch's TorchScript reader ("constants.pkl: file not found") naming the
      // load's private copy: the tensorRt step's libtorch path threw for a package it could serve.
      String reason = "step '" + String.join("+", steps) + "' is a TorchScript pass but "
          + source.origin() + " is a compiled artifact (an AOTInductor package or an engine),"
          + " served as it is";
      LOG.info("model '{}': {}", spec.id(), reason);
      return new Result(spec, steps, false, null, null, reason);
    }
    String arch = device.isCuda() ? TorchRuntime.cudaDeviceName(device.index().orElse(0))
        : "cpu";
    // Version 2 casts to the precision before freezing: version 1's fp16 and bf16 entries were
    // frozen in fp32 and cannot run in their precision.
    CacheKey.Builder keyBuilder = CacheKey.builder().sourceSha256(source.sha256())
        .option("freeze", Boolean.toString(freeze))
        .option("precision", spec.precision().label())
        .deviceArch(arch).version("libtorch", LIBTORCH).version("nos-optim", "2");
    if (device.isCuda()) {
      keyBuilder.version("cuda", CUDA);
    }
    CacheKey key = keyBuilder.build();
    String step = String.join("+", steps);
    ArtifactCache.Entry built = cache.entry(key, target ->
        TorchScriptPasses.run(source.path(), device, spec.precision(), freeze, target));
    return guarded(spec, device, built.artifact(), built.sha256(), step, steps,
        UnaryOperator.identity(), null);
  }

  /**
   * The TensorRT step: builds a TensorRT engine for the spec's model from its ONNX export (one
   * optimization profile over batch 1 to the spec's largest batch, or
   * {@value TensorRtStep#DEFAULT_MAX_BATCH} without batching; fp16 kernels for an fp16 spec, and
   * no TF32 for an fp32 one), cached on disk like every artifact with TensorRT's version, the
   * device's architecture and the precision in the key, checks it once against the spec's own
   * model in fp32 with the {@link AccuracyGuard}, and returns the spec pointing at the engine
   * (pinned by its sha256), which {@code Nos.load} serves like any artifact (a {@code .engine},
   * {@code .plan} or {@code .trt} file, or the cache's entry, is a TensorRT engine to NOS).
   *
   * <p>Where TensorRT cannot serve the model it falls back to the best libtorch path this
   * optimizer makes ({@link #optimize}) and says why, once in the log and in
   * {@link Result#fallback()}: TensorRT's libraries missing (naming the library, e.g.
   * {@code libnvinfer.so.10}, and how to install it), a builder resource missing for this GPU, a
   * CPU device, a bf16 spec, an ONNX file TensorRT cannot parse or one keeping its tensors in
   * external data files (TensorRT parses a private copy of the one file, the bytes hashed into the
   * engine's cache key), an engine that fails the guard.
   * A build that failed is not retried in the same JVM.
   *
   * <pre>{@code
   * Optimizer.Result r = optimizer.tensorRt(spec, Path.of("resnet50.onnx"));
   * if (r.fallback() != null) log.info("no TensorRT: {}", r.fallback());
   * try (Model model = Nos.load(r.spec())) { ... }   // the engine, if it passed
   * }</pre>
   *
   * @param onnx the model exported to ONNX with a dynamic first (batch) dimension, computing
   *     what the spec's artifact computes, its inputs and outputs named as the spec's signature
   * @throws IllegalArgumentException if an argument is null or {@code onnx} is not a readable
   *     regular file
   * @throws OptimizationException if the libtorch path it falls back to fails to build
   */
  public Result tensorRt(ModelSpec spec, Path onnx) {
    TensorRtStep.checkOnnx(spec, onnx);
    return tensorRt(spec, onnx, null, "tensorrt");
  }

  /**
   * The TensorRT step with INT8 kernels, calibrated on representative inputs: as
   * {@link #tensorRt(ModelSpec, Path)}, with TensorRT's entropy calibration (version 2) choosing
   * each activation's INT8 scale from the activations {@code calibration}'s batches produce, at
   * a calibration profile of their batch size. The spec's precision says what the rest of the
   * engine is: for an fp16 spec, layers TensorRT does not run in int8 run in fp16; for an fp32
   * spec they run in fp32, TF32 off. Either way the engine's inputs and outputs are float
   * (TensorRT calibrates in fp32; an fp16 spec's half inputs are cast on the device). A bf16 spec
   * falls back. The guard compares the engine with the spec's model in fp32 on the calibration
   * batches at {@link Calibration#tolerance()} (the class comment says why not random inputs and
   * why not fp16's threshold); the engine is cached under a key that holds a digest of the
   * calibration data, so other data builds another engine. Falls back, saying why, where the fp16
   * step does, and where calibration fails.
   *
   * <p>Why an argument and not a setting of the optimizer: INT8 is the one TensorRT option that
   * needs data, and an engine without its data cannot be built, so the data's presence is what
   * asks for INT8; no combination of settings can be half-given. The same optimizer builds fp16
   * and INT8 engines of one model side by side.
   *
   * <pre>{@code
   * Calibration calibration = Calibration.of(batches);   // ~8 batches of real inputs
   * Optimizer.Result r = optimizer.tensorRt(spec, Path.of("resnet50.onnx"), calibration);
   * if (r.fallback() != null) log.info("no INT8 engine: {}", r.fallback());
   * try (Model model = Nos.load(r.spec())) { ... }
   * }</pre>
   *
   * @param calibration the batches, each a map of every input of the spec's signature to a host
   *     tensor of its dtype and shape, all of the same rows, at most the engine's largest batch
   *     (the spec's {@code maxBatchSize}, or {@value TensorRtStep#DEFAULT_MAX_BATCH} without
   *     batching)
   * @throws IllegalArgumentException if an argument is null, {@code onnx} is not a readable
   *     regular file, or a batch does not fit the spec (the message names the batch, the input,
   *     what the signature declares and what was given); nothing native has run then
   * @throws OptimizationException if the libtorch path it falls back to fails to build
   */
  public Result tensorRt(ModelSpec spec, Path onnx, Calibration calibration) {
    TensorRtStep.checkOnnx(spec, onnx);
    if (calibration == null) {
      throw new IllegalArgumentException("model '" + spec.id() + "': calibration must be given"
          + " for an INT8 engine (tensorRt(spec, onnx) builds without INT8)");
    }
    calibration.check(spec, TensorRtStep.maxBatch(spec));
    return tensorRt(spec, onnx, calibration, "tensorrt-int8");
  }

  private Result tensorRt(ModelSpec spec, Path onnx, Calibration calibration, String step) {
    TensorRtStep.Outcome outcome = TensorRtStep.run(spec, onnx, cache, CUDA, calibration);
    String reason = outcome.reason();
    if (reason == null) {
      Device device = TorchRuntime.resolve(spec.device(), spec.id());
      BiFunction<Model, Model, GuardResult> guard = calibration == null ? null
          : (ref, cand) -> AccuracyGuard.verify(ref, cand, step, calibration.batches(),
              calibration.tolerance());
      try {
        Result trt = guarded(spec, device, outcome.engine(), outcome.sha256(), step,
            List.of(step), UnaryOperator.identity(), guard);
        if (trt.optimized()) {
          return trt;
        }
        reason = "the TensorRT engine " + outcome.engine() + " failed the accuracy guard: "
            + trt.guard();
      } catch (OptimizationException e) {
        reason = e.getMessage();
      }
    }
    Result best = optimize(spec);
    LOG.warn("TensorRT step for model '{}' not used: {}; serving {} instead", spec.id(), reason,
        best.optimized() ? "the libtorch path optimized by " + String.join("+", best.steps())
            : "the spec's libtorch model");
    return new Result(best.spec(), best.steps(), best.optimized(), best.guard(),
        best.artifact(), reason);
  }

  /**
   * Checks a model compiled outside NOS against the spec's own artifact run in fp32, once, with
   * the {@link AccuracyGuard}, on the device the spec resolves to; for an AOTInductor package
   * made by {@code torch._inductor.aoti_compile_and_package} (whose compiled code checks
   * nothing itself), or any artifact NOS loads that should compute what the spec's does.
   *
   * <pre>{@code
   * Optimizer.Result r = optimizer.adopt(spec, Path.of("resnet50-fp16.pt2"), "aotinductor");
   * ModelSpec serve = r.spec();   // the package if it passed, else the spec as it was
   * }</pre>
   *
   * @param compiled the compiled artifact, in the spec's precision, with the spec's signature
   * @param step what made it, for the log and {@link Result#steps()}
   * @return the spec pointing at {@code compiled}, pinned by the sha256 of the bytes that passed
   *     the guard, if it passed, else the given spec
   * @throws OptimizationException if the compiled model does not load, or it or the spec's own
   *     model fails on the guard's inputs (the cause is the failing model's exception)
   * @throws ai.nos.ModelLoadException if the spec's own artifact cannot be loaded
   * @throws IllegalArgumentException if an argument is null, the step blank, or {@code compiled}
   *     not a readable regular file (nothing is loaded then)
   */
  public Result adopt(ModelSpec spec, Path compiled, String step) {
    return adopt(spec, compiled, step, UnaryOperator.identity());
  }

  /** As {@link #adopt(ModelSpec, Path, String)}, the candidate seen through {@code view}. */
  Result adopt(ModelSpec spec, Path compiled, String step, UnaryOperator<Model> view) {
    if (spec == null || compiled == null || step == null || step.isBlank()) {
      throw new IllegalArgumentException("spec, compiled and step must be given (step not"
          + " blank) but were " + (spec == null ? null : "'" + spec.id() + "'") + ", "
          + compiled + ", " + (step == null ? null : "'" + step + "'"));
    }
    if (!Files.isRegularFile(compiled) || !Files.isReadable(compiled)) {
      throw new IllegalArgumentException("model '" + spec.id() + "': the compiled artifact must"
          + " be a readable regular file but " + compiled + " is "
          + (Files.exists(compiled) ? "not one" : "missing"));
    }
    Device device = TorchRuntime.resolve(spec.device(), spec.id());
    return guarded(spec, device, compiled, CacheKey.sha256Of(compiled), step, List.of(step),
        view, null);
  }

  /**
   * Loads the spec's model in fp32 and {@code artifact}, pinned to {@code sha256}, as the spec
   * says, runs the guard ({@code guard} on the reference and the candidate, or when null the
   * optimizer's own: random inputs at the spec's precision's threshold), and returns the spec to
   * serve.
   */
  private Result guarded(ModelSpec spec, Device device, Path artifact, String sha256,
      String step, List<String> steps, UnaryOperator<Model> view,
      BiFunction<Model, Model, GuardResult> guard) {
    ModelSpec reference = guardSpec(spec).id(spec.id() + "-reference")
        .precision(ai.nos.Precision.FP32).device(device).build();
    // The candidate is pinned to the bytes the cache verified (or the compiled file as hashed
    // once), so that the load refuses other bytes and the spec returned serves exactly what
    // passed the guard. Hashing a cache entry again here read whatever it held by then.
    Artifact pinned = Artifact.of(artifact).withSha256(sha256);
    ModelSpec candidate = guardSpec(spec).id(spec.id() + "-" + step.replace('+', '-'))
        .artifact(pinned).device(device).build();
    try (ModelManager manager = ModelManager.builder().devices(device).noFootprintCatalog()
        .build(); Model ref = manager.load(reference)) {
      Model loaded;
      try {
        loaded = manager.load(candidate);
      } catch (ai.nos.NosException e) {
        String message = "optimization step '" + step + "' rejected for model '" + spec.id()
            + "': " + artifact + " does not load: " + e.getMessage();
        LOG.warn(message);
        throw new OptimizationException(message, e);
      }
      try (Model cand = view.apply(loaded)) {
        // At most the spec's largest batch: a batch the served model never takes would be
        // refused by the spec's own batching.
        int batch = spec.batching().map(b -> Math.min(guardBatch, b.maxBatchSize()))
            .orElse(guardBatch);
        GuardResult verdict;
        try {
          verdict = guard == null
              ? AccuracyGuard.verify(ref, cand, step, batch, seed) : guard.apply(ref, cand);
        } catch (OptimizationException e) {
          throw e;
        } catch (ai.nos.NosException e) {
          // The guard wraps the candidate's failures; any other is the reference's own. It
          // escaped as an InferenceException naming '<id>-reference', a model the caller never
          // made, from methods that document none.
          String message = "model '" + spec.id() + "': the spec's own model ("
              + spec.artifact().localPath().map(Path::toString).orElse(spec.artifact().uri()
                  .toString()) + ", run in fp32 as the guard's reference) fails on the guard's"
              + " inputs, so step '" + step + "' cannot be checked against it: " + e.getMessage();
          LOG.warn(message);
          throw new OptimizationException(message, e);
        }
        if (!verdict.passed()) {
          return new Result(spec, steps, false, verdict, artifact);
        }
        LOG.info("model '{}' optimized by {} ({})", spec.id(), step, artifact);
        return new Result(spec.toBuilder().artifact(pinned).build(), steps, true, verdict,
            artifact);
      }
    }
  }

  /**
   * The spec's model as the guard loads it: what decides its results (artifact, signature,
   * precision, load-time steps, image inputs) as the spec says, but one copy and no limit on the
   * guard's calls, which are the optimizer's own: a spec's maxCallBytes admitting fewer rows than
   * the guard batch refused the guard's first call, naming a model the caller never made.
   */
  private static ModelSpec.Builder guardSpec(ModelSpec spec) {
    return spec.toBuilder().replicas(1).scaling(null).maxCallBytes(Long.MAX_VALUE);
  }

  /** Settings of an {@link Optimizer}. Not thread-safe. */
  public static final class Builder {
    private ArtifactCache cache;
    private boolean freeze;
    private int guardBatch = 4;
    private long seed = 1;

    private Builder() {}

    /** Where optimized artifacts are kept; default {@link ArtifactCache#defaultDirectory()}. */
    public Builder cache(ArtifactCache cache) {
      Objects.requireNonNull(cache, "cache must not be null");
      this.cache = cache;
      return this;
    }

    /** TorchScript {@code freeze}: parameters become constants the compiler can fold. */
    public Builder freeze(boolean freeze) {
      this.freeze = freeze;
      return this;
    }

    /** Batch size of the guard's random inputs, at most a batched spec's largest; default 4. */
    public Builder guardBatch(int batch) {
      if (batch < 1) {
        throw new IllegalArgumentException("guardBatch must be >= 1 but was " + batch);
      }
      this.guardBatch = batch;
      return this;
    }

    /** Seed of the guard's random inputs; default 1. */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    public Optimizer build() {
      return new Optimizer(this);
    }
  }
}
