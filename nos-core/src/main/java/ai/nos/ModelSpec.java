package ai.nos;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Everything needed to load and serve one model: its id, where its file is, the tensors it takes
 * and returns, and how to run it.
 *
 * <pre>{@code
 * ModelSpec spec = ModelSpec.builder()
 *     .id("digits")
 *     .artifact("models/digits/digits.pt")
 *     .signature(Signature.builder()
 *         .input("image", DType.FLOAT32, -1, 1, 8, 8)
 *         .output("logits", DType.FLOAT32, -1, 10)
 *         .build())
 *     .maxBatchSize(64)
 *     .build();
 * }</pre>
 *
 * <p>A spec is also a JSON document ({@link #fromJson(Path)}, {@link #toJson()}), so it can sit
 * beside the model file it describes.
 *
 * <p>An invalid value is rejected with an {@link IllegalArgumentException} whose message starts
 * with the path of the field it is about, such as {@code id}, {@code artifact.sha256} or
 * {@code signature.inputs[1].shape[2]}, and gives what was expected and what was given; JSON
 * errors name the JSON path instead, such as {@code $.signature.inputs[1].shape[2]}.
 *
 * <p>Instances are immutable and thread-safe. Builders are not thread-safe.
 */
public final class ModelSpec {

  private static final Pattern ID =
      Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*");
  private static final int MAX_ID_LENGTH = 128;
  private static final double MAX_FLOAT16 = 65504;
  /** The largest finite bfloat16: the largest float with the low 16 bits cleared. */
  private static final double MAX_BFLOAT16 = Float.intBitsToFloat(0x7f7f_0000);

  private final String id;
  private final Artifact artifact;
  private final Signature signature;
  private final Precision precision;
  private final Device device;
  private final Batching batching;
  private final int replicas;
  private final ScalingPolicy scaling;
  private final long memoryBytes;
  private final long maxCallBytes;
  private final Set<Optimization> optimizations;
  private final Map<String, ImageInput> imageInputs;

  private ModelSpec(Builder builder) {
    this.id = builder.id;
    this.artifact = builder.artifact;
    this.signature = builder.signature;
    this.precision = builder.precision;
    this.device = builder.device;
    this.batching = builder.batching;
    this.replicas = builder.replicas;
    this.scaling = builder.scaling;
    this.memoryBytes = builder.memoryBytes;
    this.maxCallBytes = builder.maxCallBytes;
    this.optimizations = Collections.unmodifiableSet(builder.optimizations.isEmpty()
        ? EnumSet.noneOf(Optimization.class) : EnumSet.copyOf(builder.optimizations));
    this.imageInputs = Collections.unmodifiableMap(new java.util.LinkedHashMap<>(
        builder.imageInputs));
  }

  /** Returns a builder with precision FP32, device AUTO, no batching and nothing else set. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns a builder holding every field of this spec. */
  public Builder toBuilder() {
    Builder builder = new Builder();
    builder.id = id;
    builder.artifact = artifact;
    builder.signature = signature;
    builder.precision = precision;
    builder.device = device;
    builder.batching = batching;
    builder.replicas = replicas;
    builder.scaling = scaling;
    builder.memoryBytes = memoryBytes;
    builder.maxCallBytes = maxCallBytes;
    builder.optimizations = EnumSet.noneOf(Optimization.class);
    builder.optimizations.addAll(optimizations);
    builder.imageInputs = new java.util.LinkedHashMap<>(imageInputs);
    return builder;
  }

  /**
   * Reads a spec from JSON text. A relative artifact path stays relative (see
   * {@link #fromJson(Path)} to resolve it against the file's directory).
   *
   * @param json the JSON document
   * @return the spec
   * @throws IllegalArgumentException if {@code json} is null, not valid JSON, has an unknown or
   *     missing field, a value of the wrong JSON type or an invalid value; the message names the
   *     JSON path, e.g. {@code $.signature.inputs[0].shape[1]}
   */
  public static ModelSpec fromJson(String json) {
    return SpecJson.read(json);
  }

  /**
   * Reads a spec from a JSON file. A relative artifact path is resolved against the directory of
   * the file.
   *
   * @param file the JSON file
   * @return the spec
   * @throws IllegalArgumentException if {@code file} is null, does not exist, is a directory,
   *     cannot be read (the message names the file and why; the cause is the
   *     {@link java.io.IOException}) or is over 1 MiB; or as {@link #fromJson(String)}, with the
   *     file named first
   */
  public static ModelSpec fromJson(Path file) {
    return SpecJson.read(file);
  }

  /**
   * Writes this spec as pretty-printed JSON with a stable field order: {@code id},
   * {@code artifact}, {@code signature}, {@code precision} and {@code device} always, every other
   * field only when it is set ({@code replicas} when not 1; a {@code batching}, {@code scaling} or
   * {@code imageInputs} block with all of its fields, defaults included).
   * {@code ModelSpec.fromJson(spec.toJson())} equals {@code spec}.
   */
  public String toJson() {
    return SpecJson.write(this);
  }

  /**
   * The id: segments of {@code [A-Za-z0-9][A-Za-z0-9._-]*} joined by '/', e.g.
   * {@code "torchvision/resnet50"}.
   */
  public String id() {
    return id;
  }

  /** Where the model file is. */
  public Artifact artifact() {
    return artifact;
  }

  /** The tensors the model takes and returns. */
  public Signature signature() {
    return signature;
  }

  /** The precision to run in; {@link Precision#FP32} unless set. */
  public Precision precision() {
    return precision;
  }

  /** Where to run; {@link Device#auto()} unless set. */
  public Device device() {
    return device;
  }

  /** How to batch concurrent requests; empty (each call runs alone) unless set. */
  public Optional<Batching> batching() {
    return Optional.ofNullable(batching);
  }

  /**
   * How many copies a {@link ModelManager} keeps, each on its own device; 1 unless set. A model
   * loaded with {@link Nos#load(ModelSpec)} goes through the default manager, so this applies
   * there too.
   */
  public int replicas() {
    return replicas;
  }

  /**
   * How the manager scales this model's copies with its traffic, or empty: the copies stay at
   * {@link #replicas()} (or the manager's default policy, if it has one). With a policy the model
   * starts with {@code max(replicas, minReplicas)} copies.
   */
  public Optional<ScalingPolicy> scaling() {
    return Optional.ofNullable(scaling);
  }

  /**
   * The device memory one copy needs (weights plus working memory at the largest batch), when the
   * spec states it. A {@link ModelManager} uses it to place the model before it has measured it.
   */
  public OptionalLong memoryBytes() {
    return memoryBytes > 0 ? OptionalLong.of(memoryBytes) : OptionalLong.empty();
  }

  /**
   * The most bytes one call may bring in and take out, when the spec states it: the bytes of its
   * input tensors (an image input's pixels plus the float32 model input they become, see
   * {@link #imageInputs()}) plus an estimate of its outputs' (the signature's output shapes at the
   * call's batch size, a dynamic dimension past the first counted as 1). A call over it is refused
   * with an {@link IllegalArgumentException} before any native call, instead of the process being
   * killed by the operating system for memory mid-call.
   *
   * <p>Unset, the limit is 1/128 of the physical memory of the machine (of the container, where
   * the JVM sees a limit), 1 GiB where the JVM cannot tell. Why so low: a model's working memory
   * within a call is many times its input; the digit CNN this project ships peaks at 81 times its
   * input on the CPU (a 102 MB batch took 8.3 GB), and convolutional networks commonly take 50 to
   * 100 times. On a 16 GiB machine the default is 128 MiB, e.g. 200 ResNet images of 224x224 in
   * fp32 in one call. Set it for a model known to need less or more.
   *
   * <p>A limit under the spec's smallest call (the least batch, every other dynamic dimension at
   * 1) is refused when the spec is built; without one, {@link ModelManager#load} refuses a spec
   * whose smallest call is over the loading machine's default. Either way such a model would
   * refuse every call.
   */
  public OptionalLong maxCallBytes() {
    return maxCallBytes > 0 ? OptionalLong.of(maxCallBytes) : OptionalLong.empty();
  }

  /**
   * The load-time optimization steps asked for (none unless set), in the order they run;
   * unmodifiable. See {@link Optimization}.
   */
  public Set<Optimization> optimizations() {
    return optimizations;
  }

  /**
   * The inputs pre-processed on the model's device, by name (none unless set); unmodifiable. See
   * {@link ImageInput}.
   */
  public Map<String, ImageInput> imageInputs() {
    return imageInputs;
  }

  @Override
  public boolean equals(Object o) {
    if (this == o) {
      return true;
    }
    if (!(o instanceof ModelSpec)) {
      return false;
    }
    ModelSpec m = (ModelSpec) o;
    return id.equals(m.id)
        && artifact.equals(m.artifact)
        && signature.equals(m.signature)
        && precision == m.precision
        && device.equals(m.device)
        && Objects.equals(batching, m.batching)
        && replicas == m.replicas
        && Objects.equals(scaling, m.scaling)
        && memoryBytes == m.memoryBytes
        && maxCallBytes == m.maxCallBytes
        && optimizations.equals(m.optimizations)
        && imageInputs.equals(m.imageInputs);
  }

  @Override
  public int hashCode() {
    return Objects.hash(id, artifact, signature, precision, device, batching, replicas,
        scaling, memoryBytes, maxCallBytes, optimizations, imageInputs);
  }

  @Override
  public String toString() {
    return "ModelSpec{id=" + id + ", artifact=" + artifact + ", signature=" + signature
        + ", precision=" + precision + ", device=" + device
        + (batching == null ? "" : ", batching=" + batching)
        + (replicas == 1 ? "" : ", replicas=" + replicas)
        + (scaling == null ? "" : ", scaling=" + scaling)
        + (memoryBytes == 0 ? "" : ", memoryBytes=" + memoryBytes)
        + (maxCallBytes == 0 ? "" : ", maxCallBytes=" + maxCallBytes)
        + (optimizations.isEmpty() ? "" : ", optimize=" + optimizations)
        + (imageInputs.isEmpty() ? "" : ", imageInputs=" + imageInputs) + "}";
  }

  /**
   * Collects the fields of a spec. Setters reject null and obviously invalid values at once;
   * {@link #build()} checks that the required fields are set and leaves the builder usable. A
   * field set twice keeps the last value. Not thread-safe.
   */
  public static final class Builder {
    private String id;
    private Artifact artifact;
    private Signature signature;
    private Precision precision = Precision.FP32;
    private Device device = Device.auto();
    private Batching batching;
    private int replicas = 1;
    private ScalingPolicy scaling;
    private EnumSet<Optimization> optimizations = EnumSet.noneOf(Optimization.class);
    private long memoryBytes;
    private long maxCallBytes;
    private Map<String, ImageInput> imageInputs = new java.util.LinkedHashMap<>();

    private Builder() {}

    /**
     * Pre-processes input {@code input} on the model's device (see {@link ImageInput}); the
     * signature must declare it {@code uint8 [batch, height, width, 3]}, checked by
     * {@link #build()}. JSON: {@code "imageInputs": {"image": {"size": 232, "resize":
     * "shorter_side", "interpolation": "bilinear", "crop": 224, "mean": [...], "std": [...],
     * "bgr": false, "padValue": 114}}} (only {@code size} is required).
     *
     * @throws NullPointerException if an argument is null
     */
    public Builder imageInput(String input, ImageInput image) {
      imageInputs.put(nonNull(input, "imageInput name"), nonNull(image, "imageInput"));
      return this;
    }

    /**
     * Sets the id. Required.
     *
     * @param id 1-128 characters: segments of {@code [A-Za-z0-9][A-Za-z0-9._-]*} separated by
     *     single '/', e.g. {@code "digits"} or {@code "torchvision/resnet50"}
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code id} does not match the id pattern
     */
    public Builder id(String id) {
      nonNull(id, "id");
      if (id.length() > MAX_ID_LENGTH || !ID.matcher(id).matches()) {
        throw new IllegalArgumentException("id must match " + ID.pattern() + " (1-"
            + MAX_ID_LENGTH + " characters) but was "
            + (id == null ? "null" : "'" + id + "' (" + id.length() + " characters)"));
      }
      this.id = id;
      return this;
    }

    /**
     * Sets where the model file is. Required.
     *
     * @throws NullPointerException if {@code artifact} is null
     */
    public Builder artifact(Artifact artifact) {
      this.artifact = nonNull(artifact, "artifact");
      return this;
    }

    /**
     * Sets the model file, as by {@link Artifact#of(Path)}.
     *
     * @throws IllegalArgumentException as {@link Artifact#of(Path)}
     */
    public Builder artifact(Path path) {
      return artifact(Artifact.of(nonNull(path, "artifact")));
    }

    /**
     * Sets the model file or URL, as by {@link Artifact#of(String)}.
     *
     * @throws IllegalArgumentException as {@link Artifact#of(String)}
     */
    public Builder artifact(String pathOrUri) {
      return artifact(Artifact.of(nonNull(pathOrUri, "artifact")));
    }

    /**
     * Sets the tensors the model takes and returns. Required.
     *
     * @throws NullPointerException if {@code signature} is null
     */
    public Builder signature(Signature signature) {
      this.signature = nonNull(signature, "signature");
      return this;
    }

    /**
     * Sets the precision; {@link Precision#FP32} by default.
     *
     * @throws NullPointerException if {@code precision} is null
     */
    public Builder precision(Precision precision) {
      this.precision = nonNull(precision, "precision");
      return this;
    }

    /**
     * Sets where to run; {@link Device#auto()} by default.
     *
     * @throws NullPointerException if {@code device} is null
     */
    public Builder device(Device device) {
      this.device = nonNull(device, "device");
      return this;
    }

    /**
     * Sets where to run, as by {@link Device#parse}.
     *
     * @throws IllegalArgumentException as {@link Device#parse}
     */
    public Builder device(String device) {
      return device(Device.parse(nonNull(device, "device")));
    }

    /**
     * Sets how to batch concurrent requests; none by default.
     *
     * @throws NullPointerException if {@code batching} is null
     */
    public Builder batching(Batching batching) {
      this.batching = nonNull(batching, "batching");
      return this;
    }

    /**
     * Sets the largest batch, keeping the other batching settings if batching was set.
     *
     * @param maxBatchSize {@code >= 1}
     * @throws IllegalArgumentException if {@code maxBatchSize < 1}
     */
    public Builder maxBatchSize(int maxBatchSize) {
      Batching.Builder b = batching == null ? Batching.builder() : batching.toBuilder();
      this.batching = b.maxBatchSize(maxBatchSize).build();
      return this;
    }

    /**
     * Sets how many copies a manager keeps, each on its own device.
     *
     * @throws IllegalArgumentException if {@code replicas < 1}
     */
    public Builder replicas(int replicas) {
      if (replicas < 1) {
        throw new IllegalArgumentException("replicas must be >= 1 but was " + replicas);
      }
      this.replicas = replicas;
      return this;
    }

    /**
     * Scales the model's copies with its traffic (see {@link ScalingPolicy}); null for none.
     * {@link #build()} checks that {@code replicas} is at most its {@code maxReplicas}.
     */
    public Builder scaling(ScalingPolicy policy) {
      this.scaling = policy;
      return this;
    }

    /**
     * Sets the load-time optimization steps (replacing any set before; none to clear). Order
     * does not matter: they run in {@link Optimization}'s order.
     *
     * @throws NullPointerException if an argument is null
     */
    public Builder optimize(Optimization... steps) {
      nonNull(steps, "optimize steps");
      EnumSet<Optimization> set = EnumSet.noneOf(Optimization.class);
      for (Optimization step : steps) {
        if (step == null) {
          throw new IllegalArgumentException("optimization steps must not be null but were "
              + Arrays.toString(steps));
        }
        set.add(step);
      }
      this.optimizations = set;
      return this;
    }

    /**
     * States the device memory one copy needs, in bytes; a manager places the model by it until
     * it has measured the model itself.
     *
     * @throws IllegalArgumentException if {@code memoryBytes < 1}
     */
    public Builder memoryBytes(long memoryBytes) {
      if (memoryBytes < 1) {
        throw new IllegalArgumentException("memoryBytes must be >= 1 but was " + memoryBytes);
      }
      this.memoryBytes = memoryBytes;
      return this;
    }

    /**
     * Sets the most bytes one call may bring in and take out (see {@link ModelSpec#maxCallBytes()}
     * for what counts and the default). JSON: {@code "maxCallBytes": 4294967296}.
     *
     * @throws IllegalArgumentException if {@code maxCallBytes < 1}
     */
    public Builder maxCallBytes(long maxCallBytes) {
      if (maxCallBytes < 1) {
        throw new IllegalArgumentException("maxCallBytes must be >= 1 but was " + maxCallBytes);
      }
      this.maxCallBytes = maxCallBytes;
      return this;
    }

    private static <T> T nonNull(T value, String field) {
      return Objects.requireNonNull(value, () -> field + " must not be null");
    }

    /**
     * Returns the spec.
     *
     * @throws IllegalArgumentException if id, artifact or signature is not set (the message names
     *     the first missing one, e.g. {@code "ModelSpec.id is required"}), if a batching
     *     padding or unpad rule does not fit the signature (the message names the rule's field,
     *     e.g. {@code batching.padding[0].dim}), if batching contradicts a fixed first (batch)
     *     dimension (an input's N with a maxBatchSize or preferred size other than N, or an
     *     output's that not every batch has), or if maxCallBytes is under the bytes of the
     *     smallest call the signature allows (the message names both and the largest tensor,
     *     its shape and bytes)
     */
    public ModelSpec build() {
      if (id == null) {
        throw new IllegalArgumentException("ModelSpec.id is required");
      }
      if (artifact == null) {
        throw new IllegalArgumentException("ModelSpec.artifact is required");
      }
      if (signature == null) {
        throw new IllegalArgumentException("ModelSpec.signature is required");
      }
      if (batching != null) {
        checkPadding(batching, signature);
        checkFixedBatch(batching, signature);
      }
      imageInputs.keySet().forEach(name -> checkImageInput(name, signature));
      if (scaling != null && replicas > scaling.maxReplicas()) {
        throw new IllegalArgumentException("ModelSpec.replicas must be at most the scaling"
            + " policy's maxReplicas (" + scaling.maxReplicas() + ") but was " + replicas);
      }
      ModelSpec spec = new ModelSpec(this);
      if (maxCallBytes > 0) {
        checkSmallestCall(spec, maxCallBytes);
      }
      return spec;
    }

    /**
     * A limit under the smallest call the signature allows would refuse every call as too big;
     * the model would load for nothing. (Without a limit, the default is the loading machine's:
     * {@link ModelManager#load} checks it there.)
     */
    private static void checkSmallestCall(ModelSpec spec, long maxCallBytes) {
      ai.nos.internal.Inputs.SmallestCall least = ai.nos.internal.Inputs.smallestCall(spec);
      if (least.bytes() > maxCallBytes) {
        throw new IllegalArgumentException("maxCallBytes must be at least " + least.bytes()
            + ", the bytes of the smallest call the signature allows (the least batch, each"
            + " other dynamic dimension at 1; " + least.largest() + "), but was " + maxCallBytes);
      }
    }

    /** An image input is declared uint8 [batch, height, width, 3]. */
    private static void checkImageInput(String name, Signature signature) {
      TensorSpec input = signature.input(name).orElseThrow(() -> new IllegalArgumentException(
          "imageInputs names '" + name + "' but the signature's inputs are "
              + signature.inputNames()));
      long[] shape = input.shape();
      if (input.dtype() != DType.UINT8 || shape.length != 4 || shape[3] != 3) {
        throw new IllegalArgumentException("imageInputs." + name + " must be declared uint8"
            + " [batch, height, width, 3] but is " + input.dtype().label() + " "
            + java.util.Arrays.toString(shape));
      }
    }

    /**
     * Batching takes every tensor's first dimension for the batch: it merges calls along it and
     * splits each output along it. A fixed first dimension N on the inputs makes every call N
     * rows, so the one batch that fits the signature is one call of N rows: a larger
     * maxBatchSize merged calls into batches the signature refuses (a model traced at 1 row
     * fails them, and each call then runs alone again), a smaller one refused every call, and a
     * preferred size other than N is never reached. An output's fixed first dimension holds only
     * where every batch has that many rows. The usual shape is a dynamic (-1) first dimension;
     * a fixed one is kept for a model that takes exactly N rows, with batching of N or none.
     */
    private static void checkFixedBatch(Batching batching, Signature signature) {
      int max = batching.maxBatchSize();
      TensorSpec fixed = null;
      for (TensorSpec in : signature.inputs()) {
        if (!in.isDynamic(0)) {
          fixed = in; // Signature checked that every fixed first dimension agrees.
          break;
        }
      }
      if (fixed != null) {
        long n = fixed.dim(0);
        String why = "input '" + fixed.name() + "' has a fixed first dimension (the batch): "
            + fixed + ", so every call has exactly " + rows(n) + " and ";
        if (max != n) {
          throw new IllegalArgumentException("batching.maxBatchSize must be " + n + " but was "
              + max + ": " + why + (max > n ? "a batch of several calls would have more rows"
                  + " than the signature allows" : "each would be refused as over maxBatchSize")
              + "; declare the first dimension -1 to batch calls together");
        }
        List<Integer> preferred = batching.preferredBatchSizes();
        for (int i = 0; i < preferred.size(); i++) {
          if (preferred.get(i) != n) {
            throw new IllegalArgumentException("batching.preferredBatchSizes[" + i + "] must be "
                + n + " but was " + preferred.get(i) + ": " + why + "no batch has "
                + rows(preferred.get(i)) + "; declare the first dimension -1 to batch calls"
                + " together");
          }
        }
      }
      List<TensorSpec> outputs = signature.outputs();
      for (int i = 0; i < outputs.size(); i++) {
        TensorSpec out = outputs.get(i);
        long m = out.dim(0);
        boolean onlyBatch = fixed != null ? m == fixed.dim(0) : m == 1 && max == 1;
        if (!out.isDynamic(0) && !onlyBatch) {
          throw new IllegalArgumentException("signature.outputs[" + i + "].shape[0] must be -1"
              + " (the batch) with batching but was " + m + " in " + out + ": batching splits"
              + " every output along its first dimension, and its batches have "
              + (fixed != null ? rows(fixed.dim(0)) : "1 to " + max + " rows"));
        }
      }
    }

    private static String rows(long n) {
      return n + (n == 1 ? " row" : " rows");
    }

    /** Each rule names a tensor of the signature and a dynamic dimension of it. */
    private static void checkPadding(Batching batching, Signature signature) {
      for (int i = 0; i < batching.padding().size(); i++) {
        Padding p = batching.padding().get(i);
        String path = "batching.padding[" + i + "]";
        TensorSpec input = signature.input(p.input()).orElseThrow(() ->
            new IllegalArgumentException(path + ".input must name an input of the signature "
                + signature.inputNames() + " but was '" + p.input() + "'"));
        checkDim(path + ".dim", "input", input, p.dim());
        checkValue(path + ".value", input, p.value());
      }
      for (int i = 0; i < batching.unpad().size(); i++) {
        Padding.Unpad u = batching.unpad().get(i);
        String path = "batching.unpad[" + i + "]";
        TensorSpec output = signature.output(u.output()).orElseThrow(() ->
            new IllegalArgumentException(path + ".output must name an output of the signature "
                + signature.outputNames() + " but was '" + u.output() + "'"));
        checkDim(path + ".dim", "output", output, u.dim());
      }
    }

    private static void checkDim(String path, String kind, TensorSpec tensor, int dim) {
      String what = kind + " '" + tensor.name() + "' (shape " + Arrays.toString(tensor.shape())
          + ")";
      if (dim >= tensor.rank()) {
        throw new IllegalArgumentException(path + " must be < " + tensor.rank() + ", the rank of "
            + what + ", but was " + dim);
      }
      if (!tensor.isDynamic(dim)) {
        throw new IllegalArgumentException(path + " must be a dynamic (-1) dimension of " + what
            + " but dim " + dim + " is " + tensor.dim(dim));
      }
    }

    /** The pad value must be exact in the input's dtype (for a float type: within its range). */
    private static void checkValue(String path, TensorSpec input, double value) {
      boolean integer = value == Math.rint(value);
      String expected;
      boolean ok;
      switch (input.dtype()) {
        case FLOAT32:
          expected = "a value in [-3.4028235E38, 3.4028235E38]";
          ok = Math.abs(value) <= Float.MAX_VALUE;
          break;
        case FLOAT16:
          expected = "a value in [-65504, 65504]";
          ok = Math.abs(value) <= MAX_FLOAT16;
          break;
        case BFLOAT16:
          expected = "a value in [-3.3895314E38, 3.3895314E38]";
          ok = Math.abs(value) <= MAX_BFLOAT16;
          break;
        case INT64:
          expected = "an integer in [-2^63, 2^63)";
          ok = integer && value >= -0x1p63 && value < 0x1p63;
          break;
        case INT32:
          expected = "an integer in [-2^31, 2^31)";
          ok = integer && value >= Integer.MIN_VALUE && value <= Integer.MAX_VALUE;
          break;
        case UINT8:
          expected = "an integer in [0, 255]";
          ok = integer && value >= 0 && value <= 255;
          break;
        default:
          expected = "0 or 1";
          ok = value == 0 || value == 1;
          break;
      }
      if (!ok) {
        throw new IllegalArgumentException(path + " must be " + expected + " for "
            + input.dtype() + " input '" + input.name() + "' but was " + value);
      }
    }
  }
}
