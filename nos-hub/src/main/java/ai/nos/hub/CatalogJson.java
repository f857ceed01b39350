package ai.nos.hub;

import static ai.nos.internal.json.JsonFields.array;
import static ai.nos.internal.json.JsonFields.at;
import static ai.nos.internal.json.JsonFields.bool;
import static ai.nos.internal.json.JsonFields.choice;
import static ai.nos.internal.json.JsonFields.integer;
import static ai.nos.internal.json.JsonFields.longValue;
import static ai.nos.internal.json.JsonFields.number;
import static ai.nos.internal.json.JsonFields.object;
import static ai.nos.internal.json.JsonFields.required;
import static ai.nos.internal.json.JsonFields.text;

import ai.nos.ModelSpec;
import ai.nos.internal.json.JsonValue;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/*
 * Reading catalogs and lock files from JSON.
 *
 * As in nos-core's SpecJson, the tree model is walked by hand: the value types stay free of
 * Jackson, every value goes through the same builders (and checks) as Java code, and every error
 * names its JSON path. Builder messages start with the field they are about ("artifacts[1].name
 * must be ..."), so prefixing the JSON path of the enclosing object makes them JSON paths.
 *
 * The "spec" object of an entry is a ModelSpec document without id and artifact: it is read by
 * ModelSpec.fromJson itself (with a stand-in id and artifact), so the two formats cannot drift
 * apart, and the "$" of its messages is replaced by the path of the spec object.
 *
 * Hostile input: nesting depth is capped, duplicate keys and trailing tokens are rejected, every
 * Jackson exception becomes an IllegalArgumentException, and values echoed in messages are
 * shortened.
 */
final class CatalogJson {

  /** The format version this reader understands. */
  static final int VERSION = 1;

  /** Catalogs hold a few hundred entries; a bigger document is not a catalog. */
  static final int MAX_BYTES = 16 << 20;

  private static final int MAX_NESTING_DEPTH = 64;

  private static final List<String> CATALOG_FIELDS = List.of("version", "entries");
  private static final List<String> ENTRY_FIELDS = List.of("id", "task", "description",
      "provenance", "artifacts", "spec", "image", "text", "detection", "labels", "normalize");
  private static final List<String> ARTIFACT_FIELDS = List.of("name", "uri", "sha256", "size");
  private static final List<String> SPEC_FIELDS =
      List.of("signature", "precision", "device", "batching", "optimize");
  private static final List<String> IMAGE_FIELDS = List.of("resize", "resizeMode",
      "interpolation", "crop", "mean", "std", "channels", "padValue", "resampler",
      "cropRounding");
  private static final List<String> TEXT_FIELDS =
      List.of("tokenizer", "maxLength", "pooling", "normalize");
  private static final List<String> DETECTION_FIELDS =
      List.of("decoder", "scoreThreshold", "iouThreshold", "maxDetections");
  private static final List<String> LOCK_FIELDS = List.of("sha256", "size");

  /** A "$" that starts a JSON path in a message of ModelSpec.fromJson. */
  private static final Pattern ROOT = Pattern.compile("\\$(?=[.\\[ ]|$)");

  private static final JsonFactory FACTORY = JsonValue.factory(MAX_NESTING_DEPTH);

  /** The digest and size a lock file pins. */
  record Pin(String sha256, long size) {}

  private CatalogJson() {}

  /** Reads the entries of a catalog document, in order. */
  static List<CatalogEntry> read(byte[] json) {
    return catalog(tree(json, "catalog"));
  }

  /** Reads a lock file: {@code {"sha256": "<64 hex>", "size": <bytes>}}. */
  static Pin readLock(byte[] json) {
    JsonValue root = tree(json, "lock file");
    object(root, "$", LOCK_FIELDS);
    String sha256 = text(required(root, "sha256", "$"), "$.sha256");
    long size = longValue(required(root, "size", "$"), "$.size");
    String hex = at("$", () -> Checks.sha256(sha256));
    if (size < 1) {
      throw new IllegalArgumentException("$.size must be > 0 but was " + size);
    }
    return new Pin(hex, size);
  }

  private static JsonValue tree(byte[] json, String what) {
    JsonValue root;
    try {
      // From bytes, so that Jackson detects the encoding and reports bad bytes with a location.
      root = JsonValue.parse(FACTORY, json);
    } catch (JacksonException e) {
      throw new IllegalArgumentException(what + " is not valid JSON: " + e.getOriginalMessage()
          + location(e), e);
    }
    if (root == null) {
      throw new IllegalArgumentException("$ must be an object but was empty");
    }
    return root;
  }

  private static String location(JacksonException e) {
    return e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column "
        + e.getLocation().getColumnNr();
  }

  private static List<CatalogEntry> catalog(JsonValue root) {
    object(root, "$", CATALOG_FIELDS);
    long version = longValue(required(root, "version", "$"), "$.version");
    if (version != VERSION) {
      throw new IllegalArgumentException(
          "$.version must be " + VERSION + " but was " + version);
    }
    JsonValue entries = array(required(root, "entries", "$"), "$.entries");
    List<CatalogEntry> result = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    for (int i = 0; i < entries.size(); i++) {
      String path = "$.entries[" + i + "]";
      CatalogEntry entry = entry(entries.get(i), path);
      Integer first = seen.putIfAbsent(entry.id(), i);
      if (first != null) {
        throw new IllegalArgumentException(path + ".id must be unique but was '" + entry.id()
            + "', the id of $.entries[" + first + "]");
      }
      result.add(entry);
    }
    return result;
  }

  private static CatalogEntry entry(JsonValue node, String path) {
    object(node, path, ENTRY_FIELDS);
    CatalogEntry.Builder b = CatalogEntry.builder();
    String id = text(required(node, "id", path), path + ".id");
    at(path, () -> b.id(id));
    if (node.has("task")) {
      b.task(choice(node.get("task"), path + ".task", Task.values()));
    }
    if (node.has("description")) {
      b.description(text(node.get("description"), path + ".description"));
    }
    if (node.has("provenance")) {
      b.provenance(choice(node.get("provenance"), path + ".provenance", Provenance.values()));
    }
    JsonValue artifacts = array(required(node, "artifacts", path), path + ".artifacts");
    for (int i = 0; i < artifacts.size(); i++) {
      b.artifact(artifact(artifacts.get(i), path + ".artifacts[" + i + "]"));
    }
    spec(required(node, "spec", path), path + ".spec", b);
    if (node.has("image")) {
      b.image(image(node.get("image"), path + ".image"));
    }
    if (node.has("text")) {
      b.text(textPreprocessing(node.get("text"), path + ".text", TEXT_FIELDS));
    }
    if (node.has("detection")) {
      b.detection(detection(node.get("detection"), path + ".detection"));
    }
    if (node.has("labels")) {
      JsonValue labels = array(node.get("labels"), path + ".labels");
      List<String> list = new ArrayList<>();
      for (int i = 0; i < labels.size(); i++) {
        list.add(text(labels.get(i), path + ".labels[" + i + "]"));
      }
      b.labels(list);
    }
    if (node.has("normalize")) {
      b.normalize(bool(node.get("normalize"), path + ".normalize"));
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      // The entry's signature is written inside "spec" in JSON.
      String field = e.getMessage().startsWith("signature") ? ".spec." : ".";
      throw new IllegalArgumentException(path + field + e.getMessage(), e);
    }
  }

  private static CatalogArtifact artifact(JsonValue node, String path) {
    object(node, path, ARTIFACT_FIELDS);
    String name = node.has("name") ? text(node.get("name"), path + ".name")
        : CatalogArtifact.MODEL;
    String uri = text(required(node, "uri", path), path + ".uri");
    CatalogArtifact artifact = at(path, () -> CatalogArtifact.of(name, uri));
    if (!node.has("sha256")) {
      if (node.has("size")) {
        throw new IllegalArgumentException("missing required field 'sha256' at " + path
            + " (a size needs a digest; give neither to use the lock file)");
      }
      return artifact;
    }
    String sha256 = text(node.get("sha256"), path + ".sha256");
    long size = node.has("size") ? longValue(node.get("size"), path + ".size")
        : Downloader.UNKNOWN_SIZE;
    if (size < 1 && node.has("size")) {
      throw new IllegalArgumentException(path + ".size must be > 0 but was " + size);
    }
    return at(path, () -> artifact.withSha256(sha256, size));
  }

  private static void spec(JsonValue node, String path, CatalogEntry.Builder b) {
    object(node, path, SPEC_FIELDS);
    Map<String, String> placeholders = new java.util.LinkedHashMap<>();
    placeholders.put("id", "catalog-entry");
    placeholders.put("artifact", "model.pt");
    JsonValue document = node.withFieldsFirst(placeholders);
    ModelSpec spec;
    try {
      spec = ModelSpec.fromJson(document.toString());
    } catch (IllegalArgumentException e) {
      String message = ROOT.matcher(e.getMessage()).replaceAll(Matcher.quoteReplacement(path));
      throw new IllegalArgumentException(message, e);
    }
    b.signature(spec.signature()).precision(spec.precision()).device(spec.device())
        .optimize(spec.optimizations().toArray(new ai.nos.Optimization[0]));
    spec.batching().ifPresent(b::batching);
  }

  private static ImagePreprocessing image(JsonValue node, String path) {
    object(node, path, IMAGE_FIELDS);
    ImagePreprocessing.Builder b = ImagePreprocessing.builder();
    int resize = integer(required(node, "resize", path), path + ".resize");
    at(path, () -> b.resize(resize));
    if (node.has("resizeMode")) {
      b.resizeMode(choice(node.get("resizeMode"), path + ".resizeMode",
          ImagePreprocessing.ResizeMode.values()));
    }
    if (node.has("interpolation")) {
      b.interpolation(choice(node.get("interpolation"), path + ".interpolation",
          ImagePreprocessing.Interpolation.values()));
    }
    if (node.has("crop")) {
      int crop = integer(node.get("crop"), path + ".crop");
      at(path, () -> b.crop(crop));
    }
    if (node.has("resampler")) {
      b.resampler(choice(node.get("resampler"), path + ".resampler",
          ImagePreprocessing.Resampler.values()));
    }
    if (node.has("cropRounding")) {
      b.cropRounding(choice(node.get("cropRounding"), path + ".cropRounding",
          ImagePreprocessing.CropRounding.values()));
    }
    if (node.has("mean")) {
      double[] mean = numbers(node.get("mean"), path + ".mean");
      at(path, () -> b.mean(mean));
    }
    if (node.has("std")) {
      double[] std = numbers(node.get("std"), path + ".std");
      at(path, () -> b.std(std));
    }
    if (node.has("channels")) {
      b.channels(choice(node.get("channels"), path + ".channels",
          ImagePreprocessing.ChannelOrder.values()));
    }
    if (node.has("padValue")) {
      int pad = integer(node.get("padValue"), path + ".padValue");
      at(path, () -> b.padValue(pad));
    }
    return at(path, b::build);
  }

  private static TextPreprocessing textPreprocessing(JsonValue node, String path,
      List<String> fields) {
    object(node, path, fields);
    String tokenizer = text(required(node, "tokenizer", path), path + ".tokenizer");
    int maxLength = integer(required(node, "maxLength", path), path + ".maxLength");
    TextPreprocessing.Pooling pooling = choice(required(node, "pooling", path),
        path + ".pooling", TextPreprocessing.Pooling.values());
    boolean normalize = node.has("normalize")
        && bool(node.get("normalize"), path + ".normalize");
    return at(path, () -> new TextPreprocessing(tokenizer, maxLength, pooling, normalize));
  }

  private static DetectionPostprocessing detection(JsonValue node, String path) {
    object(node, path, DETECTION_FIELDS);
    DetectionPostprocessing.BoxDecoder decoder = choice(required(node, "decoder", path),
        path + ".decoder", DetectionPostprocessing.BoxDecoder.values());
    double score = node.has("scoreThreshold")
        ? number(node.get("scoreThreshold"), path + ".scoreThreshold")
        : DetectionPostprocessing.DEFAULT_SCORE_THRESHOLD;
    double iou = node.has("iouThreshold")
        ? number(node.get("iouThreshold"), path + ".iouThreshold")
        : DetectionPostprocessing.DEFAULT_IOU_THRESHOLD;
    int max = node.has("maxDetections")
        ? integer(node.get("maxDetections"), path + ".maxDetections")
        : DetectionPostprocessing.DEFAULT_MAX_DETECTIONS;
    return at(path, () -> new DetectionPostprocessing(decoder, score, iou, max));
  }









  private static double[] numbers(JsonValue node, String path) {
    array(node, path);
    double[] values = new double[node.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = number(node.get(i), path + "[" + i + "]");
    }
    return values;
  }

}
