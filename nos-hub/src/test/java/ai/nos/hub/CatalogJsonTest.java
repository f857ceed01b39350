package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Precision;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

final class CatalogJsonTest {

  static final String SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

  /** A catalog using every field; single quotes stand for double quotes. */
  static final String FULL = ("{'version': 1, 'entries': ["
      + "{'id': 'acme/classifier', 'task': 'image_classification', 'description': 'a test',"
      + " 'provenance': 'look_alike', 'artifacts': [{'name': 'model',"
      + " 'uri': 'https://example.org/c.pt', 'sha256': '" + SHA
      + "', 'size': 1234}],"
      + " 'spec': {'signature': {'inputs': [{'name': 'image', 'dtype': 'float32',"
      + " 'shape': [-1, 3, 224, 224]}], 'outputs': [{'name': 'logits', 'dtype': 'float32',"
      + " 'shape': [-1, 2]}]}, 'precision': 'fp16', 'device': 'cpu',"
      + " 'batching': {'maxBatchSize': 8}},"
      + " 'image': {'resize': 256, 'resizeMode': 'shorter_side', 'interpolation': 'bicubic',"
      + " 'crop': 224, 'mean': [0.5, 0.5, 0.5], 'std': [0.25, 0.25, 0.25], 'channels': 'bgr'},"
      + " 'labels': ['cat', 'dog']},"
      + "{'id': 'acme/embedder', 'task': 'text_embedding',"
      + " 'artifacts': [{'uri': '{baseUri}/acme/embedder/model.pt'},"
      + " {'name': 'tokenizer', 'uri': '{baseUri}/acme/embedder/tokenizer.json'}],"
      + " 'spec': {'signature': {'inputs': [{'name': 'input_ids', 'dtype': 'int64',"
      + " 'shape': [-1, -1]}], 'outputs': [{'name': 'out', 'dtype': 'float32',"
      + " 'shape': [-1, -1, 8]}]}},"
      + " 'text': {'tokenizer': 'tokenizer', 'maxLength': 128, 'pooling': 'mean',"
      + " 'normalize': true}},"
      + "{'id': 'acme/detector', 'task': 'object_detection',"
      + " 'artifacts': [{'uri': '{baseUri}/acme/detector/model.pt'},"
      + " {'name': 'labels', 'uri': '{baseUri}/acme/detector/labels.txt'}],"
      + " 'spec': {'signature': {'inputs': [{'name': 'images', 'dtype': 'float32',"
      + " 'shape': [-1, 3, 640, 640]}], 'outputs': [{'name': 'output0', 'dtype': 'float32',"
      + " 'shape': [-1, 84, 8400]}]}},"
      + " 'image': {'resize': 640, 'resizeMode': 'letterbox', 'padValue': 114},"
      + " 'detection': {'decoder': 'yolov8', 'iouThreshold': 0.7}}"
      + "]}").replace('\'', '"');

  /** FULL with the first {@code from} replaced by {@code to} (quotes as above). */
  static String fullWith(String from, String to) {
    String f = from.replace('\'', '"');
    assertTrue(FULL.contains(f), f);
    return FULL.replaceFirst(Pattern.quote(f), Matcher.quoteReplacement(to.replace('\'', '"')));
  }

  private static String failure(String json) {
    return assertThrows(IllegalArgumentException.class, () -> Catalog.fromJson(json))
        .getMessage();
  }

  @Test
  void fromJson_everyField_read() {
    Catalog catalog = Catalog.fromJson(FULL);
    assertEquals(List.of("acme/classifier", "acme/embedder", "acme/detector"), catalog.ids());

    CatalogEntry c = catalog.entry("acme/classifier");
    assertEquals(Task.IMAGE_CLASSIFICATION, c.task().orElseThrow());
    assertEquals("a test", c.description());
    assertEquals(Provenance.LOOK_ALIKE, c.provenance().orElseThrow());
    CatalogArtifact model = c.artifact("model").orElseThrow();
    assertEquals("https://example.org/c.pt", model.uri());
    assertEquals(SHA, model.sha256().orElseThrow());
    assertEquals(1234, model.size().orElseThrow());
    assertEquals("image: float32[-1, 3, 224, 224]", c.signature().inputs().get(0).toString());
    assertEquals(Precision.FP16, c.precision());
    assertEquals(Device.cpu(), c.device());
    assertEquals(8, c.batching().orElseThrow().maxBatchSize());
    ImagePreprocessing image = c.image().orElseThrow();
    assertEquals(ImagePreprocessing.builder().resize(256).crop(224)
        .interpolation(ImagePreprocessing.Interpolation.BICUBIC).mean(0.5, 0.5, 0.5)
        .std(0.25, 0.25, 0.25).channels(ImagePreprocessing.ChannelOrder.BGR).build(), image);
    assertEquals(224, image.outputSize());
    assertEquals(List.of("cat", "dog"), c.labels());

    CatalogEntry e = catalog.entry("acme/embedder");
    assertTrue(e.provenance().isEmpty(), "not given, not invented");
    assertEquals(new TextPreprocessing("tokenizer", 128, TextPreprocessing.Pooling.MEAN, true),
        e.text().orElseThrow());
    assertTrue(e.artifact("model").orElseThrow().isTemplate());
    assertTrue(e.artifact("model").orElseThrow().sha256().isEmpty());
    assertEquals(DType.INT64, e.signature().inputs().get(0).dtype());
    assertEquals(Precision.FP32, e.precision());

    CatalogEntry d = catalog.entry("acme/detector");
    assertEquals(new DetectionPostprocessing(DetectionPostprocessing.BoxDecoder.YOLOV8, 0.25, 0.7,
        300), d.detection().orElseThrow());
    assertEquals(114, d.image().orElseThrow().padValue());
    assertEquals(ImagePreprocessing.ResizeMode.LETTERBOX, d.image().orElseThrow().resizeMode());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      // from | to | expected message
      "'task': 'image_classification', | 'bogus': 1, 'task': 'image_classification', | "
          + "unknown field 'bogus' at $.entries[0] (known: id, task, description, provenance, "
          + "artifacts, spec, image, text, detection, labels, normalize)",
      "'name': 'model', | 'nam': 'model', | unknown field 'nam' at $.entries[0].artifacts[0] "
          + "(known: name, uri, sha256, size)",
      "'sha256': '9f86d081 | 'sha256': 'zz9f86d081 | $.entries[0].artifacts[0].sha256 must be "
          + "64 hex characters but was 'zz9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6"
          + "c15b0f00a08' (66 characters)",
      "'size': 1234 | 'size': 0 | $.entries[0].artifacts[0].size must be > 0 but was 0",
      "'size': 1234 | 'size': '1234' | $.entries[0].artifacts[0].size must be an integer but was "
          + "\"1234\"",
      "'shape': [-1, 2] | 'shape': [-1, -3] | $.entries[0].spec.signature.outputs[0].shape[1] "
          + "must be -1 (dynamic) or >= 1 but was -3 in tensor 'logits'",
      "'outputs': [ | 'outputz': [ | unknown field 'outputz' at $.entries[0].spec.signature "
          + "(known: inputs, outputs)",
      "'precision': 'fp16' | 'precision': 'fp8' | $.entries[0].spec.precision must be one of "
          + "fp32, float32, fp16, float16, half, bf16, bfloat16 but was 'fp8'",
      "'precision': 'fp16' | 'id': 'x' | unknown field 'id' at $.entries[0].spec (known: "
          + "signature, precision, device, batching, optimize)",
      "'shape': [-1, 3, 224, 224] | 'shape': [-1, 3, 256, 256] | $.entries[0].spec.signature"
          + ".inputs[0] must be [batch, 3, 224, 224] (channels, then the image size after "
          + "pre-processing; -1 for dynamic) but was image: float32[-1, 3, 256, 256]",
      "'crop': 224 | 'crop': 300 | $.entries[0].image.crop must be at most resize (256) but was "
          + "300",
      "'mean': [0.5, 0.5, 0.5] | 'mean': [0.5, 0.5] | $.entries[0].image.mean must have 3 values "
          + "(one per channel) but had 2",
      "'std': [0.25, 0.25, 0.25] | 'std': [0.25, 0, 0.25] | $.entries[0].image.std[1] must be a "
          + "finite number > 0 but was 0.0",
      "'std': [0.25, 0.25, 0.25] | 'std': [0.25, 1e-50, 0.25] | $.entries[0].image.std[1] must be "
          + "> 0 as a float (pixels are normalized in float32) but was 1.0E-50, which is 0.0 as a "
          + "float",
      "'mean': [0.5, 0.5, 0.5] | 'mean': [0.5, -1e300, 0.5] | $.entries[0].image.mean[1] must be "
          + "finite as a float (pixels are normalized in float32) but was -1.0E300, which is "
          + "-Infinity as a float",
      "'channels': 'bgr' | 'channels': 'BGR' | $.entries[0].image.channels must be one of rgb, "
          + "bgr but was 'BGR'",
      "'task': 'image_classification' | 'task': 'text_embedding' | $.entries[0].image is not "
          + "used by task text_embedding",
      "'labels': ['cat', 'dog'] | 'labels': ['cat', 2] | $.entries[0].labels[1] must be a string "
          + "but was 2",
      "'id': 'acme/classifier' | 'id': 'acme//classifier' | $.entries[0].id must match "
          + "[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)* (1-128 characters) but was "
          + "'acme//classifier' (16 characters)",
      "'id': 'acme/embedder' | 'id': 'acme/classifier' | $.entries[1].id must be unique but was "
          + "'acme/classifier', the id of $.entries[0]",
      "'uri': '{baseUri}/acme/embedder/model.pt' | 'uri': '{baseUri}/../x.pt' | $.entries[1]"
          + ".artifacts[0].uri must be {baseUri}/ followed by a relative path inside the base "
          + "but was '{baseUri}/../x.pt'",
      "'uri': '{baseUri}/acme/embedder/model.pt' | 'uri': 'ftp://h/x.pt' | $.entries[1]"
          + ".artifacts[0].uri scheme must be file, http or https but was 'ftp' in 'ftp://h/x.pt'",
      "{'name': 'tokenizer', | {'name': 'vocab', | $.entries[1].text.tokenizer must name one of "
          + "the artifacts but was 'tokenizer'",
      "'maxLength': 128 | 'maxLength': 0 | $.entries[1].text.maxLength must be between 1 and "
          + "65536 but was 0",
      "'pooling': 'mean' | 'pooling': 'max' | $.entries[1].text.pooling must be one of mean, cls, "
          + "none but was 'max'",
      "'normalize': true | 'normalize': 1 | $.entries[1].text.normalize must be true or false but "
          + "was 1",
      "'iouThreshold': 0.7 | 'iouThreshold': 1.5 | $.entries[2].detection.iouThreshold must be "
          + "in [0, 1] but was 1.5",
      "'decoder': 'yolov8', | 'decoder': 'yolov5', | $.entries[2].detection.decoder must be one "
          + "of yolov8 but was 'yolov5'",
      "'padValue': 114 | 'padValue': 114, 'crop': 600 | $.entries[2].image.crop cannot be "
          + "combined with resizeMode letterbox",
      "'version': 1 | 'version': 2 | $.version must be 1 but was 2",
      "'provenance': 'look_alike' | 'provenance': 'real' | $.entries[0].provenance must be one "
          + "of architecture, look_alike, test_model but was 'real'",
  })
  void fromJson_invalid_messageNamesJsonPath(String from, String to, String expected) {
    assertEquals(expected, failure(fullWith(from, to)));
  }

  @Test
  void fromJson_entryRules_messages() {
    assertEquals("$.entries[1].artifacts must have one named 'model' (the TorchScript file)",
        failure(fullWith("{'uri': '{baseUri}/acme/embedder/model.pt'}",
            "{'name': 'weights', 'uri': '{baseUri}/acme/embedder/model.pt'}")));
    assertEquals("$.entries[1].artifacts[1].name must be unique but was 'model', the name of "
        + "artifacts[0]", failure(fullWith("{'name': 'tokenizer', 'uri'", "{'uri'")));
    assertEquals("missing required field 'sha256' at $.entries[0].artifacts[0] (a size needs a "
        + "digest; give neither to use the lock file)",
        failure(fullWith("'sha256': '" + SHA + "', ", "")));
    assertEquals("$.entries[2].labels must not be given both inline and as the artifact "
        + "'labels'", failure(fullWith("'iouThreshold': 0.7}", "'iouThreshold': 0.7}, "
            + "'labels': ['a']")));
    assertEquals("$.entries[2].detection is required by task object_detection",
        failure(fullWith(", 'detection': {'decoder': 'yolov8', 'iouThreshold': 0.7}", "")));
    assertEquals("missing required field 'spec' at $.entries[0]",
        failure("{'version': 1, 'entries': [{'id': 'a', 'artifacts': []}]}".replace('\'', '"')));
  }

  @Test
  void fromJson_notJson_illegalArgument() {
    assertTrue(failure("{\"version\": 1,").startsWith("catalog is not valid JSON: "));
    assertTrue(failure("").startsWith("$ must be an object but was empty"));
    assertEquals("$ must be an object but was []", failure("[]"));
    assertTrue(failure("{\"version\": 1, \"version\": 1}").contains("Duplicate field"));
    assertTrue(failure("{} {}").startsWith("catalog is not valid JSON: "));
    assertTrue(failure("[".repeat(100)).startsWith("catalog is not valid JSON: "));
  }

  @Test
  void fromFile_namesFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("catalog.json");
    Files.writeString(file, fullWith("'size': 1234", "'size': -5"));
    String message = assertThrows(IllegalArgumentException.class, () -> Catalog.fromFile(file))
        .getMessage();
    assertEquals(file + ": $.entries[0].artifacts[0].size must be > 0 but was -5", message);
    Files.writeString(file, FULL);
    assertEquals(3, Catalog.fromFile(file).size());
    assertThrows(UncheckedIOException.class, () -> Catalog.fromFile(dir.resolve("absent.json")));
  }

  @Test
  void fromFile_endlessDevice_isRefusedAfterTheCap() {
    // A device reports size 0 and never ends: reading it whole filled the heap.
    Path endless = Path.of("/dev/zero");
    assumeTrue(Files.isReadable(endless), "no /dev/zero here");
    String message = assertThrows(IllegalArgumentException.class,
        () -> Catalog.fromFile(endless)).getMessage();
    assertEquals("/dev/zero: a catalog must be at most 16777216 bytes but this one has more",
        message);
  }

  @Test
  void lockFile_read() {
    CatalogJson.Pin pin = CatalogJson.readLock(
        ("{'sha256': '" + SHA.toUpperCase() + "', 'size': 5}").replace('\'', '"').getBytes());
    assertEquals(new CatalogJson.Pin(SHA, 5), pin);
    assertEquals("$.size must be > 0 but was 0", assertThrows(IllegalArgumentException.class,
        () -> CatalogJson.readLock(("{'sha256': '" + SHA + "', 'size': 0}").replace('\'', '"')
            .getBytes())).getMessage());
    assertEquals("missing required field 'size' at $", assertThrows(
        IllegalArgumentException.class, () -> CatalogJson.readLock(("{'sha256': '" + SHA + "'}")
            .replace('\'', '"').getBytes())).getMessage());
  }
}
