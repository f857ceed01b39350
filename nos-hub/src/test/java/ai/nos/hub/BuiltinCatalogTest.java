package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.DType;
import ai.nos.TensorSpec;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The catalog shipped in the jar: each entry validates, and none pins an invented file. */
final class BuiltinCatalogTest {

  static final List<String> IDS = List.of("torchvision/resnet50", "google/vit-base-patch16-224",
      "openai/clip-vit-base-patch32/image", "openai/clip-vit-base-patch32/text",
      "sentence-transformers/all-MiniLM-L6-v2", "ultralytics/yolov8n", "nos/llm-tiny",
      "nos/whisper-micro");

  /**
   * NOS's own models, committed under the repository's models/ folder (their base when run from
   * a checkout): each artifact is pinned to the committed file's digest and size.
   */
  static final String OWN = "nos/";

  static Stream<String> ids() {
    return IDS.stream();
  }

  static String resourceText() throws Exception {
    try (InputStream in = Catalog.class.getResourceAsStream(Catalog.BUILTIN_RESOURCE)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void builtin_holdsTheModelsOfTheIssue() {
    assertEquals(IDS, Catalog.builtin().ids());
    assertEquals(Catalog.fromJson(readUnchecked()), Catalog.builtin());
  }

  private static String readUnchecked() {
    try {
      return resourceText();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @ParameterizedTest
  @MethodSource("ids")
  void builtinEntry_validatesAndPinsOnlyCommittedFiles(String id) throws Exception {
    CatalogEntry entry = Catalog.builtin().entry(id);
    Task task = entry.task().orElseThrow();
    assertFalse(entry.description().isBlank(), id);
    for (CatalogArtifact artifact : entry.artifacts()) {
      assertTrue(artifact.isTemplate(), artifact.toString());
      if (id.startsWith(OWN)) {
        String relative = artifact.uri().substring(CatalogArtifact.BASE_URI.length() + 1);
        assertTrue(relative.startsWith(id.substring(OWN.length()) + "/"), artifact.toString());
        Path file = modelsDir().resolve(relative);
        assertEquals(sha256(file), artifact.sha256().orElseThrow(), "digest of " + file);
        assertEquals(Files.size(file), artifact.size().orElseThrow(), "size of " + file);
        continue;
      }
      assertTrue(artifact.uri().startsWith(CatalogArtifact.BASE_URI + "/"
          + id.replaceFirst("/(image|text)$", "") + "/"), artifact.toString());
      assertTrue(artifact.sha256().isEmpty(), "no invented digest: " + artifact);
      assertTrue(artifact.size().isEmpty(), "no invented size: " + artifact);
    }
    assertTrue(entry.artifact(CatalogArtifact.MODEL).isPresent(), id);
    if (task == Task.TEXT_GENERATION) {
      assertTrue(entry.artifact(CatalogEntry.TOKENIZER).orElseThrow().uri()
          .endsWith("tokenizer.json"), id);
      assertEquals(List.of("input_ids", "positions", "slots", "k_cache", "v_cache"),
          entry.signature().inputNames(), id);
    } else if (task == Task.SPEECH_RECOGNITION) {
      assertTrue(entry.artifact(CatalogArtifact.MODEL).orElseThrow().uri().endsWith("decoder.pt"));
      assertTrue(entry.artifact(CatalogEntry.ENCODER).orElseThrow().uri().endsWith("encoder.pt"));
      assertEquals(List.of("input_ids", "positions", "slots", "k_cache", "v_cache", "xk_cache",
          "xv_cache"), entry.signature().inputNames(), id);
    } else if (task.takesImages()) {
      ImagePreprocessing image = entry.image().orElseThrow();
      TensorSpec input = entry.signature().inputs().get(0);
      assertEquals(DType.FLOAT32, input.dtype(), id);
      assertEquals(List.of(-1L, 3L, (long) image.outputSize(), (long) image.outputSize()),
          Arrays.stream(input.shape()).boxed().toList(), id);
    } else {
      TextPreprocessing text = entry.text().orElseThrow();
      assertTrue(entry.artifact(text.tokenizer()).orElseThrow().uri().endsWith("tokenizer.json"));
      assertEquals(List.of("input_ids", "attention_mask"), entry.signature().inputNames(), id);
      entry.signature().inputs().forEach(t -> assertEquals(DType.INT64, t.dtype(), id));
    }
    if (task == Task.IMAGE_CLASSIFICATION || task == Task.OBJECT_DETECTION) {
      assertTrue(entry.artifact(CatalogEntry.LABELS).isPresent(), id + " has a labels file");
    }
    assertEquals(task == Task.OBJECT_DETECTION, entry.detection().isPresent(), id);
  }

  /**
   * The table scripts/hub/export_models.py dispatches on: what it exports for each entry. The
   * exporter refuses to run when an exporter function declares another provenance than this
   * table, and this test when the catalog does, so a look-alike cannot be listed as the real model.
   */
  @ParameterizedTest
  @MethodSource("ids")
  void builtinEntry_provenanceIsWhatTheExporterMakes(String id) throws Exception {
    JsonNode table = new ObjectMapper().readTree(scriptsDir().resolve("hub/provenance.json")
        .toFile()).get("entries");
    assertEquals(IDS, names(table.fieldNames()), "one row per entry, in order");
    CatalogEntry entry = Catalog.builtin().entry(id);
    Provenance made = Provenance.valueOf(
        table.get(id).get("provenance").asText().toUpperCase(java.util.Locale.ROOT));
    assertEquals(made, entry.provenance().orElse(null), id + ": provenance in catalog.json");
    String description = entry.description().toLowerCase(java.util.Locale.ROOT);
    String line = Hub.builder().build().list().lines()
        .filter(l -> l.startsWith(id + " ")).findFirst().orElseThrow();
    assertTrue(line.contains("  " + made.label() + "  "), line);
    switch (made) {
      case LOOK_ALIKE:
        assertTrue(description.startsWith("a look-alike of "), description);
        break;
      case ARCHITECTURE:
        assertTrue(description.contains("scripts/hub/export_models.py")
            && description.contains("random weights") && description.contains("--pretrained"),
            description);
        assertEquals("export_models.py", table.get(id).path("script")
            .asText("export_models.py"), id);
        break;
      default:
        assertTrue(description.contains("random weights"), description);
        break;
    }
    if (made != Provenance.LOOK_ALIKE) {
      assertFalse(description.contains("look-alike") || description.contains("-sized"),
          description);
    }
  }

  private static <T> List<T> names(java.util.Iterator<T> it) {
    List<T> list = new java.util.ArrayList<>();
    it.forEachRemaining(list::add);
    return list;
  }

  static Path scriptsDir() {
    return Path.of(System.getProperty("nos.scripts.dir", "../scripts"));
  }

  static Path modelsDir() {
    return Path.of(System.getProperty("nos.models.dir", "../models"));
  }

  static String sha256(Path file) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(Files.readAllBytes(file)));
  }

  /** A generator's entry needs its second file, and takes no image settings. */
  @ParameterizedTest
  @CsvSource({"nos/llm-tiny, tokenizer, tokenizer.json",
      "nos/whisper-micro, encoder, encoder.pt"})
  void generatorEntry_needsItsSecondFile_takesNoImageSettings(String id, String artifact,
      String file) {
    CatalogEntry entry = Catalog.builtin().entry(id);
    Task task = entry.task().orElseThrow();
    assertFalse(task.takesImages());
    CatalogEntry.Builder without = CatalogEntry.builder().id("test/without").task(task)
        .signature(entry.signature())
        .artifact(entry.artifact(CatalogArtifact.MODEL).orElseThrow());
    assertEquals("artifacts must have one named '" + artifact + "' (its " + file + ") for task "
        + task.label(), assertThrows(IllegalArgumentException.class, without::build)
        .getMessage());
    CatalogEntry.Builder withImage = entry.toBuilder()
        .image(Catalog.builtin().entry("torchvision/resnet50").image().orElseThrow());
    assertEquals("image is not used by task " + task.label(),
        assertThrows(IllegalArgumentException.class, withImage::build).getMessage());
  }

  @Test
  void speechRecognition_isWrittenSpeechRecognition() {
    assertEquals("speech_recognition", Task.SPEECH_RECOGNITION.label());
    assertEquals(Task.SPEECH_RECOGNITION, Catalog.builtin().entry("nos/whisper-micro").task()
        .orElseThrow());
  }

  @Test
  void builtin_expectedTaskSettings() {
    Catalog c = Catalog.builtin();
    assertEquals(1000, c.entry("torchvision/resnet50").signature().outputs().get(0).dim(1));
    assertEquals(TextPreprocessing.Pooling.MEAN,
        c.entry("sentence-transformers/all-MiniLM-L6-v2").text().orElseThrow().pooling());
    assertTrue(c.entry("sentence-transformers/all-MiniLM-L6-v2").text().orElseThrow().normalize());
    assertEquals(TextPreprocessing.Pooling.NONE,
        c.entry("openai/clip-vit-base-patch32/text").text().orElseThrow().pooling());
    assertEquals(512, c.entry("openai/clip-vit-base-patch32/image").signature().outputs().get(0)
        .dim(1));
    assertEquals(512, c.entry("openai/clip-vit-base-patch32/text").signature().outputs().get(0)
        .dim(1));
    assertEquals(ImagePreprocessing.ResizeMode.LETTERBOX,
        c.entry("ultralytics/yolov8n").image().orElseThrow().resizeMode());
    // Convolutional models load channels-last and frozen, with cuDNN's benchmark mode (on an
    // H200, ResNet-50 fp32: 4.62 -> 3.06 ms at batch 1, 5,677 -> 6,742 images/s at 256).
    var conv = java.util.Set.of(ai.nos.Optimization.CHANNELS_LAST, ai.nos.Optimization.FREEZE,
        ai.nos.Optimization.CUDNN_BENCHMARK);
    assertEquals(conv, c.entry("torchvision/resnet50").optimizations());
    assertEquals(conv, c.entry("ultralytics/yolov8n").optimizations());
    assertEquals(java.util.Set.of(), c.entry("google/vit-base-patch16-224").optimizations());
  }

  @Test
  void builtinSpec_withoutBaseUri_explainsWhatToDo(@TempDir Path cache) {
    Hub hub = Hub.builder().build();
    assumeTrue(hub.baseUri().isEmpty(),
        "nos.hub.baseUri is set in this JVM");
    Downloader downloader = Downloader.builder().cacheDir(cache).build();
    String message = assertThrows(IllegalStateException.class,
        () -> hub.spec("torchvision/resnet50", downloader)).getMessage();
    assertEquals("torchvision/resnet50: artifact 'model' is at "
        + "{baseUri}/torchvision/resnet50/model.pt but no base URI is set. NOS hosts no artifacts "
        + "yet: export the model with scripts/hub/export_*.py, then set -Dnos.hub.baseUri=<where "
        + "the export is served from> or Hub.builder().baseUri(...)", message);
  }
}
