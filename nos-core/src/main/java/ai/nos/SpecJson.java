package ai.nos;

import static ai.nos.internal.json.JsonFields.array;
import static ai.nos.internal.json.JsonFields.at;
import static ai.nos.internal.json.JsonFields.bool;
import static ai.nos.internal.json.JsonFields.choice;
import static ai.nos.internal.json.JsonFields.echo;
import static ai.nos.internal.json.JsonFields.integer;
import static ai.nos.internal.json.JsonFields.number;
import static ai.nos.internal.json.JsonFields.object;
import static ai.nos.internal.json.JsonFields.required;
import static ai.nos.internal.json.JsonFields.shorten;
import static ai.nos.internal.json.JsonFields.text;

import ai.nos.internal.files.BoundedFiles;
import ai.nos.internal.json.JsonValue;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/*
 * Reading and writing ModelSpec as JSON.
 *
 * Why a tree and not annotations: the value types stay free of Jackson, every value goes
 * through the same builders (and so the same checks) as Java code, and each error can name the
 * JSON path it comes from. Errors from the builders start with the path of the field relative to
 * the spec ("signature.inputs[1].shape[0] must be ..."), so prefixing "$." (or the JSON path of
 * the tensor) turns them into JSON paths without a second set of messages.
 *
 * Hostile input: the parser caps nesting depth, rejects duplicate keys and trailing tokens, and
 * every Jackson exception becomes an IllegalArgumentException. The walk below is not recursive,
 * so nothing a document holds can overflow the stack; values echoed in messages are shortened.
 *
 * Only jackson-core: the tree is JsonValue (read by jackson-core's streaming parser) and the
 * writer its generator, so a JVM that reads or writes a spec loads no class of Jackson's databind
 * (about 400 classes and 90 ms of a fresh JVM's first result on the 2-core VM, issue 20 item 5).
 */
final class SpecJson {

  /** Deeper than any spec needs (5), shallow enough that no parser stack can overflow. */
  static final int MAX_NESTING_DEPTH = 64;

  /** A spec is a few kilobytes; a bigger file is more likely the model than its spec. */
  static final long MAX_FILE_BYTES = 1 << 20;


  private static final List<String> SPEC_FIELDS =
      List.of("id", "artifact", "signature", "precision", "device", "batching", "replicas",
          "scaling", "memoryBytes", "optimize", "imageInputs", "maxCallBytes");
  private static final List<String> ARTIFACT_FIELDS = List.of("uri", "sha256");
  private static final List<String> SIGNATURE_FIELDS = List.of("inputs", "outputs");
  private static final List<String> TENSOR_FIELDS = List.of("name", "dtype", "shape");
  private static final List<String> BATCHING_FIELDS = List.of("maxBatchSize",
      "maxQueueDelayMicros", "preferredBatchSizes", "maxQueueSize", "padding", "unpad");
  private static final List<String> IMAGE_FIELDS = List.of("size", "resize", "interpolation",
      "crop", "mean", "std", "bgr", "padValue", "resampler", "cropRounding");
  private static final List<String> SCALING_FIELDS = List.of("minReplicas", "maxReplicas",
      "target", "value", "windowMillis", "upWindowMillis");
  private static final List<String> PADDING_FIELDS = List.of("input", "dim", "value");
  private static final List<String> UNPAD_FIELDS = List.of("output", "dim", "input", "inputDim");

  /** The longest queue delay whose nanoseconds fit a long, in microseconds. */
  private static final long MAX_DELAY_MICROS = Long.MAX_VALUE / 1000;

  /** Integers up to 2^53 are exact as doubles; a pad value among them is written without ".0". */
  private static final double EXACT_INTEGERS = 0x1p53;

  private static final JsonFactory FACTORY = JsonValue.factory(MAX_NESTING_DEPTH);

  private SpecJson() {}

  /**
   * Lays out like Python's json.dumps(indent=2): two spaces, '"key": value', '\n' lines, and an
   * empty array as '[]'.
   */
  private static DefaultPrettyPrinter prettyPrinter() {
    DefaultIndenter indenter = new DefaultIndenter("  ", "\n");
    DefaultPrettyPrinter printer = new DefaultPrettyPrinter(Separators.createDefaultInstance()
        .withObjectFieldValueSpacing(Separators.Spacing.AFTER).withArrayEmptySeparator(""));
    printer.indentObjectsWith(indenter);
    printer.indentArraysWith(indenter);
    return printer;
  }

  static ModelSpec read(String json) {
    if (json == null) {
      throw new IllegalArgumentException("ModelSpec JSON must not be null");
    }
    try {
      return spec(JsonValue.parse(FACTORY, json));
    } catch (JacksonException e) {
      throw notJson(e);
    }
  }

  static ModelSpec read(Path file) {
    if (file == null) {
      throw new IllegalArgumentException("ModelSpec JSON file must not be null");
    }
    byte[] json = bytesOf(file);
    ModelSpec spec;
    try {
      // From bytes, so that Jackson detects the encoding and reports bad bytes with a location.
      spec = spec(JsonValue.parse(FACTORY, json));
    } catch (JacksonException e) {
      throw new IllegalArgumentException(file + ": " + notJson(e).getMessage(), e);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
    Path dir = file.toAbsolutePath().getParent();
    return dir == null ? spec
        : spec.toBuilder().artifact(spec.artifact().resolveAgainst(dir)).build();
  }

  /**
   * The file's bytes. A path that does not lead to a readable file is a bad argument, as a bad
   * spec in it is: both are the caller's to fix, so both are IllegalArgumentExceptions naming the
   * file and why, with the IOException as the cause.
   */
  private static byte[] bytesOf(Path file) {
    String what = "ModelSpec JSON file " + file;
    if (Files.isDirectory(file)) {
      throw new IllegalArgumentException(what + " is a directory; give the spec file in it");
    }
    try {
      long size = Files.size(file);
      if (size > MAX_FILE_BYTES) {
        throw new IllegalArgumentException(what + " must be at most " + MAX_FILE_BYTES
            + " bytes but was " + size + " bytes; is it the model itself?");
      }
      // The size check above cannot see a device or a pipe (size 0, maybe endless).
      byte[] json = BoundedFiles.readAtMost(file, (int) MAX_FILE_BYTES);
      if (json == null) {
        throw new IllegalArgumentException(what + " must be at most " + MAX_FILE_BYTES
            + " bytes but holds more; is it the model itself?");
      }
      return json;
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(what + " does not exist", e);
    } catch (AccessDeniedException e) {
      throw new IllegalArgumentException(what + " cannot be read: permission denied", e);
    } catch (FileSystemException e) {
      throw new IllegalArgumentException(what + " cannot be read: "
          + (e.getReason() != null ? e.getReason() : e.toString()), e);
    } catch (IOException e) {
      throw new IllegalArgumentException(what + " cannot be read: " + e, e);
    }
  }

  private static IllegalArgumentException notJson(JacksonException e) {
    return new IllegalArgumentException("ModelSpec JSON is not valid JSON: " + e.getMessage(), e);
  }

  private static ModelSpec spec(JsonValue root) {
    if (root == null) {
      throw new IllegalArgumentException("$ must be an object but was empty");
    }
    object(root, "$", SPEC_FIELDS);
    ModelSpec.Builder b = ModelSpec.builder();
    String id = text(required(root, "id", "$"), "$.id");
    at("$", () -> b.id(id));
    b.artifact(artifact(required(root, "artifact", "$")));
    b.signature(signature(required(root, "signature", "$")));
    if (root.has("precision")) {
      String precision = text(root.get("precision"), "$.precision");
      at("$", () -> b.precision(Precision.of(precision)));
    }
    if (root.has("device")) {
      String device = text(root.get("device"), "$.device");
      at("$", () -> b.device(device));
    }
    if (root.has("batching")) {
      b.batching(batching(root.get("batching")));
    }
    if (root.has("replicas")) {
      int replicas = integer(root.get("replicas"), "$.replicas");
      at("$", () -> b.replicas(replicas));
    }
    if (root.has("scaling")) {
      b.scaling(scaling(root.get("scaling")));
    }
    if (root.has("memoryBytes")) {
      JsonValue node = root.get("memoryBytes");
      if (!node.isIntegralNumber() || !node.canConvertToLong()) {
        throw new IllegalArgumentException(
            "$.memoryBytes must be an integer but was " + echo(node));
      }
      at("$", () -> b.memoryBytes(node.longValue()));
    }
    if (root.has("maxCallBytes")) {
      JsonValue node = root.get("maxCallBytes");
      if (!node.isIntegralNumber() || !node.canConvertToLong()) {
        throw new IllegalArgumentException("$.maxCallBytes must be an integer but was "
            + echo(node));
      }
      at("$", () -> b.maxCallBytes(node.longValue()));
    }
    if (root.has("optimize")) {
      JsonValue node = root.get("optimize");
      if (!node.isArray()) {
        throw new IllegalArgumentException("$.optimize must be an array of step names but was "
            + echo(node));
      }
      List<Optimization> steps = new ArrayList<>();
      for (int i = 0; i < node.size(); i++) {
        String name = text(node.get(i), "$.optimize[" + i + "]");
        try {
          steps.add(Optimization.of(name));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("$.optimize[" + i + "]: " + e.getMessage(), e);
        }
      }
      at("$", () -> b.optimize(steps.toArray(new Optimization[0])));
    }
    if (root.has("imageInputs")) {
      JsonValue node = root.get("imageInputs");
      if (!node.isObject()) {
        throw new IllegalArgumentException("$.imageInputs must be an object of input name to"
            + " image settings but was " + echo(node));
      }
      var names = node.fieldNames();
      while (names.hasNext()) {
        String name = names.next();
        ImageInput image = imageInput(node.get(name), "$.imageInputs." + name);
        at("$", () -> b.imageInput(name, image));
      }
    }
    return at("$", b::build);
  }

  private static ImageInput imageInput(JsonValue node, String path) {
    object(node, path, IMAGE_FIELDS);
    int size = integer(required(node, "size", path), path + ".size");
    ImageInput.Builder b = at(path, () -> ImageInput.resizeTo(size));
    if (node.has("resize")) {
      ImageInput.Resize resize = choice(node.get("resize"), path + ".resize",
          ImageInput.Resize.values());
      b.resize(resize);
    }
    if (node.has("interpolation")) {
      ImageInput.Interpolation mode = choice(node.get("interpolation"),
          path + ".interpolation", ImageInput.Interpolation.values());
      b.interpolation(mode);
    }
    if (node.has("crop")) {
      int crop = integer(node.get("crop"), path + ".crop");
      at(path, () -> b.crop(crop));
    }
    if (node.has("resampler")) {
      b.resampler(choice(node.get("resampler"), path + ".resampler",
          ImageInput.Resampler.values()));
    }
    if (node.has("cropRounding")) {
      b.cropRounding(choice(node.get("cropRounding"), path + ".cropRounding",
          ImageInput.CropRounding.values()));
    }
    if (node.has("mean") || node.has("std")) {
      float[] mean = node.has("mean") ? triple(node.get("mean"), path + ".mean")
          : new float[] {0f, 0f, 0f};
      float[] std = node.has("std") ? triple(node.get("std"), path + ".std")
          : new float[] {1f, 1f, 1f};
      at(path, () -> b.normalize(mean, std));
    }
    if (node.has("bgr")) {
      b.bgr(bool(node.get("bgr"), path + ".bgr"));
    }
    if (node.has("padValue")) {
      int pad = integer(node.get("padValue"), path + ".padValue");
      at(path, () -> b.padValue(pad));
    }
    return at(path, b::build);
  }

  private static float[] triple(JsonValue node, String path) {
    JsonValue values = array(node, path);
    if (values.size() != 3) {
      throw new IllegalArgumentException(path + " must hold 3 numbers but held "
          + values.size());
    }
    float[] f = new float[3];
    for (int i = 0; i < 3; i++) {
      f[i] = (float) number(values.get(i), path + "[" + i + "]");
    }
    return f;
  }

  private static ScalingPolicy scaling(JsonValue node) {
    String path = "$.scaling";
    object(node, path, SCALING_FIELDS);
    int min = node.has("minReplicas") ? integer(node.get("minReplicas"), path + ".minReplicas")
        : 1;
    int max = integer(required(node, "maxReplicas", path), path + ".maxReplicas");
    ScalingPolicy.Target target = ScalingPolicy.Target.QUEUE_DEPTH;
    if (node.has("target")) {
      String label = text(node.get("target"), path + ".target");
      try {
        target = ScalingPolicy.Target.of(label);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(path + ".target must be queueDepth or"
            + " p99LatencyMicros but was '" + shorten(label) + "'", e);
      }
    }
    ScalingPolicy.Target t = target;
    double value = number(required(node, "value", path), path + ".value");
    ScalingPolicy p = at("$", () -> ScalingPolicy.of(min, max, t, value));
    if (node.has("windowMillis")) {
      long ms = millis(node.get("windowMillis"), path + ".windowMillis");
      p = p.window(Duration.ofMillis(ms));
    }
    if (node.has("upWindowMillis")) {
      long ms = millis(node.get("upWindowMillis"), path + ".upWindowMillis");
      p = p.upWindow(Duration.ofMillis(ms));
    }
    return p;
  }

  /** A window in milliseconds: at most a day, which no scaling decision should wait longer. */
  private static long millis(JsonValue node, String path) {
    int ms = integer(node, path);
    if (ms < 0 || ms > 86_400_000) {
      throw new IllegalArgumentException(path + " must be in [0, 86400000] but was " + ms);
    }
    return ms;
  }

  private static Batching batching(JsonValue node) {
    String path = "$.batching";
    object(node, path, BATCHING_FIELDS);
    Batching.Builder b = Batching.builder();
    int max = integer(required(node, "maxBatchSize", path), path + ".maxBatchSize");
    at("$", () -> b.maxBatchSize(max));
    if (node.has("maxQueueDelayMicros")) {
      String field = path + ".maxQueueDelayMicros";
      JsonValue delay = node.get("maxQueueDelayMicros");
      if (!delay.isIntegralNumber() || !delay.canConvertToLong()) {
        throw new IllegalArgumentException(field + " must be an integer but was " + echo(delay));
      }
      long micros = delay.longValue();
      if (micros < 0 || micros > MAX_DELAY_MICROS) {
        throw new IllegalArgumentException(field + " must be in [0, " + MAX_DELAY_MICROS
            + "] but was " + micros);
      }
      at("$", () -> b.maxQueueDelay(Duration.of(micros, ChronoUnit.MICROS)));
    }
    if (node.has("preferredBatchSizes")) {
      String field = path + ".preferredBatchSizes";
      JsonValue sizes = array(node.get("preferredBatchSizes"), field);
      int[] preferred = new int[sizes.size()];
      for (int i = 0; i < preferred.length; i++) {
        preferred[i] = integer(sizes.get(i), field + "[" + i + "]");
      }
      at("$", () -> b.preferredBatchSizes(preferred));
    }
    if (node.has("maxQueueSize")) {
      int size = integer(node.get("maxQueueSize"), path + ".maxQueueSize");
      at("$", () -> b.maxQueueSize(size));
    }
    if (node.has("padding")) {
      JsonValue rules = array(node.get("padding"), path + ".padding");
      for (int i = 0; i < rules.size(); i++) {
        b.padding(padding(rules.get(i), path + ".padding[" + i + "]"));
      }
    }
    if (node.has("unpad")) {
      JsonValue rules = array(node.get("unpad"), path + ".unpad");
      for (int i = 0; i < rules.size(); i++) {
        b.unpad(unpad(rules.get(i), path + ".unpad[" + i + "]"));
      }
    }
    return at("$", b::build);
  }

  private static Padding padding(JsonValue node, String path) {
    object(node, path, PADDING_FIELDS);
    String input = text(required(node, "input", path), path + ".input");
    int dim = integer(required(node, "dim", path), path + ".dim");
    JsonValue value = required(node, "value", path);
    if (!value.isNumber()) {
      throw new IllegalArgumentException(path + ".value must be a number but was " + echo(value));
    }
    return at(path, () -> Padding.of(input, dim, value.doubleValue()));
  }

  private static Padding.Unpad unpad(JsonValue node, String path) {
    object(node, path, UNPAD_FIELDS);
    String output = text(required(node, "output", path), path + ".output");
    int dim = integer(required(node, "dim", path), path + ".dim");
    String input = text(required(node, "input", path), path + ".input");
    int inputDim = integer(required(node, "inputDim", path), path + ".inputDim");
    return at(path, () -> Padding.unpad(output, dim, input, inputDim));
  }


  private static Artifact artifact(JsonValue node) {
    if (node.isTextual()) {
      return at("$", () -> Artifact.of(node.textValue()));
    }
    if (!node.isObject()) {
      throw new IllegalArgumentException(
          "$.artifact must be a string or an object but was " + echo(node));
    }
    object(node, "$.artifact", ARTIFACT_FIELDS);
    String uri = text(required(node, "uri", "$.artifact"), "$.artifact.uri");
    Artifact artifact = at("$", () -> Artifact.of(uri));
    if (!node.has("sha256")) {
      return artifact;
    }
    String sha256 = text(node.get("sha256"), "$.artifact.sha256");
    return at("$", () -> artifact.withSha256(sha256));
  }

  private static Signature signature(JsonValue node) {
    object(node, "$.signature", SIGNATURE_FIELDS);
    Signature.Builder b = Signature.builder();
    tensors(required(node, "inputs", "$.signature"), "$.signature.inputs", b::input);
    tensors(required(node, "outputs", "$.signature"), "$.signature.outputs", b::output);
    return at("$", b::build);
  }

  private static void tensors(JsonValue node, String path, Consumer<TensorSpec> sink) {
    if (!node.isArray()) {
      throw new IllegalArgumentException(path + " must be an array but was " + echo(node));
    }
    for (int i = 0; i < node.size(); i++) {
      sink.accept(tensor(node.get(i), path + "[" + i + "]"));
    }
  }

  private static TensorSpec tensor(JsonValue node, String path) {
    object(node, path, TENSOR_FIELDS);
    String name = text(required(node, "name", path), path + ".name");
    String dtypeName = text(required(node, "dtype", path), path + ".dtype");
    DType dtype = at(path, () -> DType.of(dtypeName));
    JsonValue shapeNode = required(node, "shape", path);
    if (!shapeNode.isArray()) {
      throw new IllegalArgumentException(
          path + ".shape must be an array but was " + echo(shapeNode));
    }
    long[] shape = new long[shapeNode.size()];
    for (int i = 0; i < shape.length; i++) {
      JsonValue dim = shapeNode.get(i);
      if (!dim.isIntegralNumber() || !dim.canConvertToLong()) {
        throw new IllegalArgumentException(
            path + ".shape[" + i + "] must be an integer but was " + echo(dim));
      }
      shape[i] = dim.longValue();
    }
    return at(path, () -> TensorSpec.of(name, dtype, shape));
  }

  static String write(ModelSpec spec) {
    StringWriter out = new StringWriter();
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.setPrettyPrinter(prettyPrinter());
      write(g, spec);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a spec's JSON into memory", e);
    }
    return out.toString();
  }

  private static void write(JsonGenerator g, ModelSpec spec) throws IOException {
    g.writeStartObject();
    g.writeStringField("id", spec.id());
    g.writeObjectFieldStart("artifact");
    g.writeStringField("uri", spec.artifact().location());
    if (spec.artifact().sha256().isPresent()) {
      g.writeStringField("sha256", spec.artifact().sha256().get());
    }
    g.writeEndObject();
    g.writeObjectFieldStart("signature");
    writeTensors(g, "inputs", spec.signature().inputs());
    writeTensors(g, "outputs", spec.signature().outputs());
    g.writeEndObject();
    g.writeStringField("precision", spec.precision().label());
    g.writeStringField("device", spec.device().toString());
    if (spec.batching().isPresent()) {
      writeBatching(g, spec.batching().get());
    }
    if (spec.replicas() != 1) {
      g.writeNumberField("replicas", spec.replicas());
    }
    if (spec.scaling().isPresent()) {
      ScalingPolicy p = spec.scaling().get();
      g.writeObjectFieldStart("scaling");
      g.writeNumberField("minReplicas", p.minReplicas());
      g.writeNumberField("maxReplicas", p.maxReplicas());
      g.writeStringField("target", p.target().label());
      g.writeNumberField("value", p.value());
      g.writeNumberField("windowMillis", p.window().toMillis());
      g.writeNumberField("upWindowMillis", p.upWindow().toMillis());
      g.writeEndObject();
    }
    if (spec.memoryBytes().isPresent()) {
      g.writeNumberField("memoryBytes", spec.memoryBytes().getAsLong());
    }
    if (!spec.optimizations().isEmpty()) {
      g.writeArrayFieldStart("optimize");
      for (Optimization step : spec.optimizations()) {
        g.writeString(step.label());
      }
      g.writeEndArray();
    }
    if (!spec.imageInputs().isEmpty()) {
      g.writeObjectFieldStart("imageInputs");
      for (var image : spec.imageInputs().entrySet()) {
        g.writeFieldName(image.getKey());
        writeImage(g, image.getValue());
      }
      g.writeEndObject();
    }
    if (spec.maxCallBytes().isPresent()) {
      g.writeNumberField("maxCallBytes", spec.maxCallBytes().getAsLong());
    }
    g.writeEndObject();
  }

  private static void writeImage(JsonGenerator g, ImageInput image) throws IOException {
    g.writeStartObject();
    g.writeNumberField("size", image.size());
    g.writeStringField("resize", image.resize().name().toLowerCase(java.util.Locale.ROOT));
    g.writeStringField("interpolation",
        image.interpolation().name().toLowerCase(java.util.Locale.ROOT));
    g.writeNumberField("crop", image.crop());
    g.writeArrayFieldStart("mean");
    for (float m : image.mean()) {
      g.writeNumber(m);
    }
    g.writeEndArray();
    g.writeArrayFieldStart("std");
    for (float v : image.std()) {
      g.writeNumber(v);
    }
    g.writeEndArray();
    g.writeBooleanField("bgr", image.bgr());
    g.writeNumberField("padValue", image.padValue());
    g.writeStringField("resampler", image.resampler().name().toLowerCase(java.util.Locale.ROOT));
    g.writeStringField("cropRounding",
        image.cropRounding().name().toLowerCase(java.util.Locale.ROOT));
    g.writeEndObject();
  }

  private static void writeBatching(JsonGenerator g, Batching batching) throws IOException {
    g.writeObjectFieldStart("batching");
    g.writeNumberField("maxBatchSize", batching.maxBatchSize());
    g.writeNumberField("maxQueueDelayMicros", batching.maxQueueDelay().toNanos() / 1000);
    g.writeArrayFieldStart("preferredBatchSizes");
    for (int size : batching.preferredBatchSizes()) {
      g.writeNumber(size);
    }
    g.writeEndArray();
    g.writeNumberField("maxQueueSize", batching.maxQueueSize());
    g.writeArrayFieldStart("padding");
    for (Padding p : batching.padding()) {
      g.writeStartObject();
      g.writeStringField("input", p.input());
      g.writeNumberField("dim", p.dim());
      double v = p.value();
      boolean integer = v == Math.rint(v) && Math.abs(v) <= EXACT_INTEGERS
          && Double.doubleToRawLongBits(v) != Double.doubleToRawLongBits(-0.0);
      if (integer) {
        g.writeNumberField("value", (long) v);
      } else {
        g.writeNumberField("value", v);
      }
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeArrayFieldStart("unpad");
    for (Padding.Unpad u : batching.unpad()) {
      g.writeStartObject();
      g.writeStringField("output", u.output());
      g.writeNumberField("dim", u.dim());
      g.writeStringField("input", u.input());
      g.writeNumberField("inputDim", u.inputDim());
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeEndObject();
  }

  private static void writeTensors(JsonGenerator g, String field, List<TensorSpec> tensors)
      throws IOException {
    g.writeArrayFieldStart(field);
    for (TensorSpec t : tensors) {
      g.writeStartObject();
      g.writeStringField("name", t.name());
      g.writeStringField("dtype", t.dtype().label());
      g.writeArrayFieldStart("shape");
      for (long dim : t.shape()) {
        g.writeNumber(dim);
      }
      g.writeEndArray();
      g.writeEndObject();
    }
    g.writeEndArray();
  }
}
