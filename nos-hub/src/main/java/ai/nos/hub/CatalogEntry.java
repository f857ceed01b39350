package ai.nos.hub;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Signature;
import ai.nos.TensorSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One model of a {@link Catalog}: its id, task, files, signature, default precision, and the
 * settings its task needs (image or text pre-processing, detection post-processing, labels,
 * whether an image embedding is normalized).
 *
 * <p>An entry is checked as a whole when built: artifact names are unique and one is
 * {@value CatalogArtifact#MODEL}; the task has the settings it needs and no others; a text
 * tokenizer names an artifact; a {@link Task#TEXT_GENERATION} entry has a {@value #TOKENIZER}
 * artifact, a {@link Task#SPEECH_RECOGNITION} entry an {@value #ENCODER} artifact; labels are
 * inline or in an artifact named {@code labels} (one per line, UTF-8), not both; and an image
 * model's first input is {@code [batch, 3, size, size]} with {@code size} the pre-processing's
 * output size where fixed. Messages start with the field, such as {@code artifacts[1].name} or
 * {@code image.crop}.
 *
 * <p>Instances are immutable and thread-safe. Builders are not thread-safe.
 */
public final class CatalogEntry {

  /** The name of the optional artifact holding the labels, one per line. */
  public static final String LABELS = "labels";

  /**
   * The name of the artifact holding a text generator's {@code tokenizer.json} (a speech
   * recognizer's, optional).
   */
  public static final String TOKENIZER = "tokenizer";

  /** The name of the artifact holding a speech recognizer's {@code encoder.pt}. */
  public static final String ENCODER = "encoder";

  /**
   * The name of the optional artifact holding a speech recognizer's HuggingFace
   * {@code generation_config.json}.
   */
  public static final String GENERATION_CONFIG = "generation_config";

  private final String id;
  private final Task task;
  private final String description;
  private final Provenance provenance;
  private final List<CatalogArtifact> artifacts;
  private final Signature signature;
  private final Precision precision;
  private final java.util.Set<ai.nos.Optimization> optimizations;
  private final Device device;
  private final Batching batching;
  private final ImagePreprocessing image;
  private final TextPreprocessing text;
  private final DetectionPostprocessing detection;
  private final List<String> labels;
  private final boolean normalize;

  private CatalogEntry(Builder b) {
    this.id = b.id;
    this.task = b.task;
    this.description = b.description;
    this.provenance = b.provenance;
    this.artifacts = List.copyOf(b.artifacts);
    this.signature = b.signature;
    this.precision = b.precision;
    this.optimizations = java.util.Collections.unmodifiableSet(b.optimizations.isEmpty()
        ? java.util.EnumSet.noneOf(ai.nos.Optimization.class)
        : java.util.EnumSet.copyOf(b.optimizations));
    this.device = b.device;
    this.batching = b.batching;
    this.image = b.image;
    this.text = b.text;
    this.detection = b.detection;
    this.labels = b.labels;
    this.normalize = b.normalize;
  }

  /** Returns a builder with precision FP32, device AUTO and nothing else set. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the entry of a custom model: the spec's id, signature, precision, device, batching
   * and load-time optimization steps, and one artifact {@value CatalogArtifact#MODEL} at the spec's
   * location, pinned to the spec's digest if it has one. The entry has no task.
   *
   * @throws IllegalArgumentException if {@code spec} is null
   */
  public static CatalogEntry of(ModelSpec spec) {
    if (spec == null) {
      throw new IllegalArgumentException("spec must not be null");
    }
    String location = spec.artifact().localPath()
        .map(p -> p.isAbsolute() ? p.toUri().toString() : p.toString())
        .orElse(spec.artifact().uri().toString());
    CatalogArtifact model = CatalogArtifact.of(CatalogArtifact.MODEL, location);
    if (spec.artifact().sha256().isPresent()) {
      model = model.withSha256(spec.artifact().sha256().get(), Downloader.UNKNOWN_SIZE);
    }
    Builder b = builder().id(spec.id()).artifact(model).signature(spec.signature())
        .precision(spec.precision()).device(spec.device())
        .optimize(spec.optimizations().toArray(new ai.nos.Optimization[0]));
    spec.batching().ifPresent(b::batching);
    return b.build();
  }

  /** Returns a builder holding every field of this entry. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.id = id;
    b.task = task;
    b.description = description;
    b.provenance = provenance;
    b.artifacts.addAll(artifacts);
    b.signature = signature;
    b.precision = precision;
    b.optimizations.addAll(optimizations);
    b.device = device;
    b.batching = batching;
    b.image = image;
    b.text = text;
    b.detection = detection;
    b.labels = labels;
    b.normalize = normalize;
    return b;
  }

  /** The id, as a {@link ModelSpec} id, e.g. {@code "torchvision/resnet50"}. */
  public String id() {
    return id;
  }

  /** The task, or empty for a custom model that only has a spec. */
  public Optional<Task> task() {
    return Optional.ofNullable(task);
  }

  /** A line for people (source, weights, licence); empty if none. */
  public String description() {
    return description;
  }

  /**
   * What the entry's files really are (the named model's architecture, a look-alike, or a test
   * model), or empty if the catalog does not say, as for a registered custom model.
   */
  public Optional<Provenance> provenance() {
    return Optional.ofNullable(provenance);
  }

  /** The files, in order; unmodifiable, never empty, one named {@value CatalogArtifact#MODEL}. */
  public List<CatalogArtifact> artifacts() {
    return artifacts;
  }

  /** The artifact with the given name, or empty. */
  public Optional<CatalogArtifact> artifact(String name) {
    return artifacts.stream().filter(a -> a.name().equals(name)).findFirst();
  }

  /** The tensors the model takes and returns. */
  public Signature signature() {
    return signature;
  }

  /**
   * The load-time optimization steps a model of this entry loads with by default (the spec
   * {@link Hub#spec} makes asks for them; each load still checks them); none unless set.
   */
  public java.util.Set<ai.nos.Optimization> optimizations() {
    return optimizations;
  }

  /** The default precision; {@link Precision#FP32} unless set. */
  public Precision precision() {
    return precision;
  }

  /** The default device; {@link Device#auto()} unless set. */
  public Device device() {
    return device;
  }

  /** The default batching, if any. */
  public Optional<Batching> batching() {
    return Optional.ofNullable(batching);
  }

  /** How images become input tensors; present for the image tasks. */
  public Optional<ImagePreprocessing> image() {
    return Optional.ofNullable(image);
  }

  /** How text becomes input tensors and outputs a vector; present for text embedding. */
  public Optional<TextPreprocessing> text() {
    return Optional.ofNullable(text);
  }

  /** How detector outputs become boxes; present for object detection. */
  public Optional<DetectionPostprocessing> detection() {
    return Optional.ofNullable(detection);
  }

  /**
   * The labels given inline, in class order; unmodifiable, empty if none (the entry may have a
   * {@value #LABELS} artifact instead).
   */
  public List<String> labels() {
    return labels;
  }

  /**
   * Whether an image embedding is scaled to unit L2 norm; false unless set, and only set for
   * {@link Task#IMAGE_EMBEDDING} (a text embedding says so in {@link TextPreprocessing}).
   */
  public boolean normalize() {
    return normalize;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof CatalogEntry)) {
      return false;
    }
    CatalogEntry e = (CatalogEntry) o;
    return id.equals(e.id) && task == e.task && description.equals(e.description)
        && provenance == e.provenance && artifacts.equals(e.artifacts)
        && signature.equals(e.signature)
        && precision == e.precision && optimizations.equals(e.optimizations)
        && device.equals(e.device)
        && Objects.equals(batching, e.batching) && Objects.equals(image, e.image)
        && Objects.equals(text, e.text) && Objects.equals(detection, e.detection)
        && labels.equals(e.labels) && normalize == e.normalize;
  }

  @Override
  public int hashCode() {
    return Objects.hash(id, task, description, provenance, artifacts, signature, precision,
        optimizations, device, batching, image, text, detection, labels, normalize);
  }

  /** The id, task, signature and artifacts. */
  @Override
  public String toString() {
    return "CatalogEntry{id=" + id + (task == null ? "" : ", task=" + task) + ", signature="
        + signature + ", artifacts=" + artifacts + "}";
  }

  /**
   * Collects the fields of an entry. Setters reject null at once; {@link #build()} checks the
   * entry as a whole and leaves the builder usable. Not thread-safe.
   */
  public static final class Builder {
    private String id;
    private Task task;
    private String description = "";
    private Provenance provenance;
    private final List<CatalogArtifact> artifacts = new ArrayList<>();
    private Signature signature;
    private Precision precision = Precision.FP32;
    private final java.util.EnumSet<ai.nos.Optimization> optimizations =
        java.util.EnumSet.noneOf(ai.nos.Optimization.class);
    private Device device = Device.auto();
    private Batching batching;
    private ImagePreprocessing image;
    private TextPreprocessing text;
    private DetectionPostprocessing detection;
    private List<String> labels = List.of();
    private boolean normalize;

    private Builder() {}

    /**
     * Sets the id. Required.
     *
     * @throws IllegalArgumentException if it is not a valid {@link ModelSpec} id
     */
    public Builder id(String id) {
      ModelSpec.builder().id(id);
      this.id = id;
      return this;
    }

    /** Sets the task; none (a custom model) by default. Null clears it. */
    public Builder task(Task task) {
      this.task = task;
      return this;
    }

    /**
     * Sets the description; empty by default.
     *
     * @throws NullPointerException if {@code description} is null
     */
    public Builder description(String description) {
      this.description = nonNull(description, "description");
      return this;
    }

    /** Sets what the entry's files really are; unknown (empty) by default. Null clears it. */
    public Builder provenance(Provenance provenance) {
      this.provenance = provenance;
      return this;
    }

    /**
     * Appends an artifact. At least the {@value CatalogArtifact#MODEL} artifact is required.
     *
     * @throws NullPointerException if {@code artifact} is null
     */
    public Builder artifact(CatalogArtifact artifact) {
      artifacts.add(nonNull(artifact, "artifacts[" + artifacts.size() + "]"));
      return this;
    }

    /**
     * Sets the signature. Required.
     *
     * @throws NullPointerException if {@code signature} is null
     */
    public Builder signature(Signature signature) {
      this.signature = nonNull(signature, "signature");
      return this;
    }

    /**
     * Sets the default precision; FP32 by default.
     *
     * @throws NullPointerException if {@code precision} is null
     */
    public Builder precision(Precision precision) {
      this.precision = nonNull(precision, "precision");
      return this;
    }

    /**
     * Sets the default load-time optimization steps, replacing any set before; none by default.
     *
     * @throws NullPointerException if an argument is null
     */
    public Builder optimize(ai.nos.Optimization... steps) {
      nonNull(steps, "optimize");
      java.util.EnumSet<ai.nos.Optimization> set = java.util.EnumSet.noneOf(
          ai.nos.Optimization.class);
      for (ai.nos.Optimization step : steps) {
        set.add(nonNull(step, "optimize step"));
      }
      optimizations.clear();
      optimizations.addAll(set);
      return this;
    }

    /**
     * Sets the default device; auto by default.
     *
     * @throws NullPointerException if {@code device} is null
     */
    public Builder device(Device device) {
      this.device = nonNull(device, "device");
      return this;
    }

    /**
     * Sets the default batching; none by default.
     *
     * @throws NullPointerException if {@code batching} is null
     */
    public Builder batching(Batching batching) {
      this.batching = nonNull(batching, "batching");
      return this;
    }

    /** Sets the image pre-processing; null clears it. */
    public Builder image(ImagePreprocessing image) {
      this.image = image;
      return this;
    }

    /** Sets the text pre-processing; null clears it. */
    public Builder text(TextPreprocessing text) {
      this.text = text;
      return this;
    }

    /** Sets the detection post-processing; null clears it. */
    public Builder detection(DetectionPostprocessing detection) {
      this.detection = detection;
      return this;
    }

    /**
     * Sets the labels, in class order; none by default.
     *
     * @throws NullPointerException if an argument is null
     */
    public Builder labels(List<String> labels) {
      nonNull(labels, "labels");
      for (int i = 0; i < labels.size(); i++) {
        nonNull(labels.get(i), "labels[" + i + "]");
      }
      this.labels = List.copyOf(labels);
      return this;
    }

    /**
     * Sets whether an image embedding is L2-normalized; false by default. Only
     * {@link Task#IMAGE_EMBEDDING} may set it ({@link #build()} checks).
     */
    public Builder normalize(boolean normalize) {
      this.normalize = normalize;
      return this;
    }

    /**
     * Returns the entry.
     *
     * @throws IllegalArgumentException if a required field is missing or the fields do not fit
     *     together (see {@link CatalogEntry}); the message names the field
     */
    public CatalogEntry build() {
      if (id == null) {
        throw new IllegalArgumentException("id is required");
      }
      if (signature == null) {
        throw new IllegalArgumentException("signature is required");
      }
      checkArtifacts();
      checkSettings();
      return new CatalogEntry(this);
    }

    private void checkArtifacts() {
      if (artifacts.isEmpty()) {
        throw new IllegalArgumentException(
            "artifacts must hold at least the '" + CatalogArtifact.MODEL + "' artifact");
      }
      for (int i = 0; i < artifacts.size(); i++) {
        for (int j = 0; j < i; j++) {
          if (artifacts.get(i).name().equals(artifacts.get(j).name())) {
            throw new IllegalArgumentException("artifacts[" + i + "].name must be unique but was '"
                + artifacts.get(i).name() + "', the name of artifacts[" + j + "]");
          }
        }
      }
      if (artifacts.stream().noneMatch(a -> a.name().equals(CatalogArtifact.MODEL))) {
        throw new IllegalArgumentException("artifacts must have one named '"
            + CatalogArtifact.MODEL + "' (the TorchScript file)");
      }
      boolean labelsFile = artifacts.stream().anyMatch(a -> a.name().equals(LABELS));
      if (labelsFile && !labels.isEmpty()) {
        throw new IllegalArgumentException(
            "labels must not be given both inline and as the artifact '" + LABELS + "'");
      }
    }

    private void checkSettings() {
      boolean images = task != null && task.takesImages();
      if (image == null && images) {
        throw new IllegalArgumentException("image is required by task " + task);
      }
      if (image != null && !images) {
        throw new IllegalArgumentException("image is not used by " + describe(task));
      }
      if (text == null && task == Task.TEXT_EMBEDDING) {
        throw new IllegalArgumentException("text is required by task " + task);
      }
      if (text != null && task != Task.TEXT_EMBEDDING) {
        throw new IllegalArgumentException("text is not used by " + describe(task));
      }
      if (detection == null && task == Task.OBJECT_DETECTION) {
        throw new IllegalArgumentException("detection is required by task " + task);
      }
      if (detection != null && task != Task.OBJECT_DETECTION) {
        throw new IllegalArgumentException("detection is not used by " + describe(task));
      }
      if (task == Task.TEXT_GENERATION) {
        requireArtifact(TOKENIZER, "tokenizer.json");
      }
      if (task == Task.SPEECH_RECOGNITION) {
        requireArtifact(ENCODER, "encoder.pt");
      }
      if (normalize && task != Task.IMAGE_EMBEDDING) {
        throw new IllegalArgumentException("normalize applies only to task "
            + Task.IMAGE_EMBEDDING + " (a text embedding sets text.normalize), not to "
            + describe(task));
      }
      if (image != null) {
        checkImageInput(signature.inputs().get(0), image.outputSize());
      }
      if (text != null) {
        if (artifacts.stream().noneMatch(a -> a.name().equals(text.tokenizer()))) {
          throw new IllegalArgumentException("text.tokenizer must name one of the artifacts but "
              + "was '" + text.tokenizer() + "'");
        }
        checkTextInputs(text.maxLength());
      }
    }

    private void requireArtifact(String name, String file) {
      if (artifacts.stream().noneMatch(a -> a.name().equals(name))) {
        throw new IllegalArgumentException("artifacts must have one named '" + name + "' (its "
            + file + ") for task " + task);
      }
    }

    private static String describe(Task task) {
      return task == null ? "an entry without a task" : "task " + task;
    }

    private static void checkImageInput(TensorSpec input, int size) {
      long[] shape = input.shape();
      if (shape.length != 4 || !fits(shape[1], 3) || !fits(shape[2], size)
          || !fits(shape[3], size)) {
        throw new IllegalArgumentException("signature.inputs[0] must be [batch, 3, " + size + ", "
            + size + "] (channels, then the image size after pre-processing; -1 for dynamic) "
            + "but was " + input);
      }
    }

    private void checkTextInputs(int maxLength) {
      List<TensorSpec> inputs = signature.inputs();
      for (int i = 0; i < inputs.size(); i++) {
        long[] shape = inputs.get(i).shape();
        if (shape.length != 2 || shape[1] > maxLength) {
          throw new IllegalArgumentException("signature.inputs[" + i + "] must be [batch, tokens]"
              + " with at most text.maxLength (" + maxLength + ") tokens but was "
              + inputs.get(i));
        }
      }
    }

    private static boolean fits(long dim, long size) {
      return dim == TensorSpec.DYNAMIC || dim == size;
    }

    private static <T> T nonNull(T value, String field) {
      return Objects.requireNonNull(value, () -> field + " must not be null");
    }
  }
}
