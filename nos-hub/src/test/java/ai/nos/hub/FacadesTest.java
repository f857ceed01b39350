package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Signature;
import ai.nos.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The task facades end to end over fake models with fixed outputs. */
final class FacadesTest {

  static final CatalogArtifact MODEL = CatalogArtifact.of("model", "https://example.org/m.pt");

  static JsonNode imageRef(String image, String setting) {
    for (JsonNode c : ReferenceTest.REF.get("images")) {
      if (c.get("image").asText().equals(image) && c.get("setting").asText().equals(setting)) {
        return c;
      }
    }
    throw new AssertionError(image + " " + setting);
  }

  static CatalogEntry classifierEntry(List<String> labels) {
    return CatalogEntry.builder().id("test/classifier").task(Task.IMAGE_CLASSIFICATION)
        .artifact(MODEL).signature(classifierSignature())
        .image(ReferenceTest.setting("shorter_bilinear_crop")).labels(labels).build();
  }

  static Signature classifierSignature() {
    return Signature.builder().input("image", DType.FLOAT32, -1, 3, 12, 12)
        .output("logits", DType.FLOAT32, -1, 10).build();
  }

  static FakeModel classifierModel() {
    float[] logits = ReferenceTest.floats(ReferenceTest.REF.get("softmax").get("logits"));
    return new FakeModel("test/classifier", classifierSignature(),
        in -> Map.of("logits", Tensor.of(logits, 1, 10)));
  }

  @Test
  void classify_feedsThePreparedImage_returnsSoftmaxTopK() {
    List<String> labels = List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");
    FakeModel model = classifierModel();
    try (ImageClassifier classifier = ImageClassifier.of(model, classifierEntry(labels))) {
      List<Classification> top = classifier.classify(ReferenceTest.image("rgb.png"), 3);
      Tensor input = model.lastInputs.get().get("image");
      assertArrayEquals(new long[] {1, 3, 12, 12}, input.shape());
      float[] values = input.toFloatArray();
      for (JsonNode s : imageRef("rgb.png", "shorter_bilinear_crop").get("samples")) {
        assertEquals(s.get(1).asDouble(), values[s.get(0).asInt()], 1e-5);
      }
      JsonNode p = ReferenceTest.REF.get("softmax").get("probabilities");
      assertEquals(List.of("c", "d", "h"), top.stream().map(Classification::label).toList());
      assertEquals(List.of(2, 3, 7), top.stream().map(Classification::index).toList());
      assertEquals(p.get(2).asDouble(), top.get(0).score(), 1e-6);
      assertEquals(10, classifier.classify(ReferenceTest.image("gray.png"), 50).size());
    }
    assertFalse(model.closed.get(), "a model passed in stays open");
  }

  @Test
  void classify_withoutLabels_labelsByIndex() {
    try (ImageClassifier c = ImageClassifier.of(classifierModel(), classifierEntry(List.of()))) {
      assertEquals("2", c.classify(ReferenceTest.image("photo.jpg"), 1).get(0).label());
    }
  }

  @Test
  void classify_badArguments_andLabelCount() {
    try (ImageClassifier c = ImageClassifier.of(classifierModel(), classifierEntry(List.of()))) {
      assertThrows(IllegalArgumentException.class, () -> c.classify(null, 1));
      assertThrows(IllegalArgumentException.class,
          () -> c.classify(ReferenceTest.image("rgb.png"), 0));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ImageClassifier.of(classifierModel(), classifierEntry(List.of()), List.of("x")));
    assertEquals("ImageClassifier: model 'test/classifier' has 10 classes but 1 labels were "
        + "given", e.getMessage());
  }

  @Test
  void close_refusesLaterCalls_closesOnlyAnOwnedModel() {
    FakeModel borrowed = classifierModel();
    ImageClassifier c = ImageClassifier.of(borrowed, classifierEntry(List.of()));
    c.close();
    c.close();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> c.classify(ReferenceTest.image("rgb.png"), 1));
    assertEquals("ImageClassifier for 'test/classifier' is closed", e.getMessage());
    assertFalse(borrowed.closed.get());
    FakeModel owned = classifierModel();
    ImageClassifier.owning(owned, classifierEntry(List.of()), Map.of()).close();
    assertTrue(owned.closed.get());
  }

  @Test
  void taskMismatch_isRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ImageEmbedder.of(classifierModel(), classifierEntry(List.of())));
    assertEquals("ImageEmbedder needs an entry of task image_embedding but 'test/classifier' "
        + "has task image_classification", e.getMessage());
    Hub hub = Hub.builder().catalog(Catalog.builtin()).build();
    Downloader downloader = Downloader.builder().offline(true).build();
    e = assertThrows(IllegalArgumentException.class,
        () -> ImageClassifier.load(hub, "ultralytics/yolov8n", downloader));
    assertEquals("ImageClassifier needs an entry of task image_classification but "
        + "'ultralytics/yolov8n' has task object_detection", e.getMessage());
  }

  @Test
  void embed_image_normalizedWhenTheEntrySaysSo() {
    Signature sig = Signature.builder().input("pixel_values", DType.FLOAT32, -1, 3, 20, 20)
        .output("embeds", DType.FLOAT32, -1, 2).build();
    FakeModel model = new FakeModel("test/embedder", sig,
        in -> Map.of("embeds", Tensor.of(new float[] {3, 4}, 1, 2)));
    CatalogEntry.Builder b = CatalogEntry.builder().id("test/embedder")
        .task(Task.IMAGE_EMBEDDING).artifact(MODEL).signature(sig)
        .image(ReferenceTest.setting("exact_bicubic_bgr"));
    try (ImageEmbedder raw = ImageEmbedder.of(model, b.build());
        ImageEmbedder unit = ImageEmbedder.of(model, b.normalize(true).build())) {
      assertArrayEquals(new float[] {3, 4}, raw.embed(ReferenceTest.image("rgba.png")));
      assertArrayEquals(new float[] {0.6f, 0.8f}, unit.embed(ReferenceTest.image("rgba.png")),
          1e-6f);
      float[] values = model.lastInputs.get().get("pixel_values").toFloatArray();
      for (JsonNode s : imageRef("rgba.png", "exact_bicubic_bgr").get("samples")) {
        assertEquals(s.get(1).asDouble(), values[s.get(0).asInt()], 1e-5);
      }
    }
  }

  static Path tokenizer(Path dir) throws Exception {
    Path file = dir.resolve("tokenizer.json");
    try (InputStream in = FacadesTest.class.getResourceAsStream("reference/tokenizer.json")) {
      Files.write(file, in.readAllBytes());
    }
    return file;
  }

  @Test
  void embed_text_tokenizesPadsPoolsAndNormalizes(@TempDir Path dir) throws Exception {
    Signature sig = Signature.builder().input("input_ids", DType.INT64, -1, -1)
        .input("attention_mask", DType.INT64, -1, -1)
        .output("last_hidden_state", DType.FLOAT32, -1, -1, 2).build();
    // Each token's vector is (id, 1): the mean over the mask is (mean id, 1).
    FakeModel model = new FakeModel("test/text", sig, in -> {
      long[] ids = in.get("input_ids").toLongArray();
      float[] out = new float[ids.length * 2];
      for (int i = 0; i < ids.length; i++) {
        out[2 * i] = ids[i];
        out[2 * i + 1] = 1;
      }
      long[] shape = in.get("input_ids").shape();
      return Map.of("last_hidden_state", Tensor.of(out, shape[0], shape[1], 2));
    });
    CatalogEntry entry = CatalogEntry.builder().id("test/text").task(Task.TEXT_EMBEDDING)
        .artifact(MODEL).artifact(CatalogArtifact.of("tokenizer", "https://example.org/t.json"))
        .signature(sig).text(new TextPreprocessing("tokenizer", 8, TextPreprocessing.Pooling.MEAN,
            false)).build();
    try (TextEmbedder embedder = TextEmbedder.of(model, entry, tokenizer(dir))) {
      float[][] v = embedder.embed(List.of("Hello, world!", "The cat sat on the unbelievable "
          + "mat."));
      Tensor ids = model.lastInputs.get().get("input_ids");
      assertArrayEquals(new long[] {2, 8}, ids.shape());
      assertArrayEquals(new long[] {2, 5, 8, 6, 7, 3, 0, 0, 2, 9, 10, 11, 15, 9, 12, 3},
          ids.toLongArray());
      assertArrayEquals(new long[] {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
          model.lastInputs.get().get("attention_mask").toLongArray());
      assertArrayEquals(new float[] {(2 + 5 + 8 + 6 + 7 + 3) / 6f, 1}, v[0], 1e-6f);
      assertArrayEquals(new float[] {(2 + 9 + 10 + 11 + 15 + 9 + 12 + 3) / 8f, 1}, v[1], 1e-6f);
      assertEquals(0, embedder.embed(List.of()).length);
      assertThrows(IllegalArgumentException.class, () -> embedder.embed((String) null));
    }
    TextPreprocessing cls = new TextPreprocessing("tokenizer", 8, TextPreprocessing.Pooling.CLS,
        true);
    try (TextEmbedder embedder = TextEmbedder.of(model, entry.toBuilder().text(cls).build(),
        tokenizer(dir))) {
      float n = (float) Math.sqrt(2 * 2 + 1);
      assertArrayEquals(new float[] {2 / n, 1 / n}, embedder.embed("hello"), 1e-6f);
    }
  }

  @Test
  void embed_text_emptyBatch_refusedOnceClosed(@TempDir Path dir) throws Exception {
    Signature sig = Signature.builder().input("input_ids", DType.INT64, -1, -1)
        .output("text_embeds", DType.FLOAT32, -1, 2).build();
    FakeModel model = new FakeModel("test/text", sig,
        in -> Map.of("text_embeds", Tensor.of(new float[] {1, 0}, 1, 2)));
    CatalogEntry entry = CatalogEntry.builder().id("test/text").task(Task.TEXT_EMBEDDING)
        .artifact(MODEL).artifact(CatalogArtifact.of("tokenizer", "https://example.org/t.json"))
        .signature(sig).text(new TextPreprocessing("tokenizer", 8, TextPreprocessing.Pooling.NONE,
            false)).build();
    TextEmbedder embedder = TextEmbedder.of(model, entry, tokenizer(dir));
    assertEquals(0, embedder.embed(List.of()).length);
    embedder.close();
    // Was an empty array: an empty batch skipped the closed check that every other call makes.
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> embedder.embed(List.of()));
    assertEquals("TextEmbedder for 'test/text' is closed", e.getMessage());
  }

  /**
   * The tokenizers jar holds only the CPU build; on a CUDA machine DJL would otherwise try to
   * download a CUDA build (the GPU machine, offline, failed so).
   */
  @Test
  void tokenizer_loadsTheCpuBuildFromTheJar_unlessTheApplicationChoseOne(@TempDir Path dir)
      throws Exception {
    try (TextTokenizer t = TextTokenizer.open(tokenizer(dir), 8)) {
      if (System.getenv(TextTokenizer.FLAVOR) == null) {
        assertEquals("cpu", System.getProperty(TextTokenizer.FLAVOR));
      }
    }
  }

  @Test
  void embed_text_fromManyThreads_sameAnswers(@TempDir Path dir) throws Exception {
    Signature sig = Signature.builder().input("input_ids", DType.INT64, -1, 6)
        .output("text_embeds", DType.FLOAT32, -1, 6).build();
    FakeModel model = new FakeModel("test/text", sig, in -> {
      long[] ids = in.get("input_ids").toLongArray();
      float[] out = new float[ids.length];
      for (int i = 0; i < ids.length; i++) {
        out[i] = ids[i];
      }
      return Map.of("text_embeds", Tensor.of(out, in.get("input_ids").shape()));
    });
    CatalogEntry entry = CatalogEntry.builder().id("test/text").task(Task.TEXT_EMBEDDING)
        .artifact(MODEL).artifact(CatalogArtifact.of("tokenizer", "https://example.org/t.json"))
        .signature(sig).text(new TextPreprocessing("tokenizer", 77, TextPreprocessing.Pooling.NONE,
            false)).build();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (TextEmbedder embedder = TextEmbedder.of(model, entry, tokenizer(dir))) {
      List<Future<float[]>> results = new ArrayList<>();
      for (int i = 0; i < 400; i++) {
        String text = i % 2 == 0 ? "the cat sat on the mat" : "hello world";
        results.add(pool.submit(() -> embedder.embed(text)));
      }
      for (int i = 0; i < results.size(); i++) {
        float[] expected = i % 2 == 0 ? new float[] {2, 9, 10, 11, 15, 3}
            : new float[] {2, 5, 6, 3, 0, 0};
        assertArrayEquals(expected, results.get(i).get());
      }
    } finally {
      pool.shutdown();
    }
  }

  @Test
  void detect_decodesNmsAndUndoesTheLetterbox() {
    JsonNode y = ReferenceTest.REF.get("yolov8");
    int size = y.get("size").asInt();
    Signature sig = Signature.builder().input("images", DType.FLOAT32, -1, 3, size, size)
        .output("output0", DType.FLOAT32, -1, 84, 8400).build();
    Tensor raw = ReferenceTest.yoloOutput();
    FakeModel model = new FakeModel("test/yolo", sig, in -> Map.of("output0", raw));
    CatalogEntry entry = CatalogEntry.builder().id("test/yolo").task(Task.OBJECT_DETECTION)
        .artifact(MODEL).signature(sig)
        .image(ImagePreprocessing.builder().resize(size)
            .resizeMode(ImagePreprocessing.ResizeMode.LETTERBOX).padValue(114).build())
        .detection(new DetectionPostprocessing(DetectionPostprocessing.BoxDecoder.YOLOV8,
            y.get("scoreThreshold").asDouble(), y.get("iouThreshold").asDouble(),
            y.get("maxDetections").asInt())).build();
    int w = y.get("width").asInt();
    int h = y.get("height").asInt();
    try (ObjectDetector detector = ObjectDetector.of(model, entry)) {
      List<Detection> found = detector.detect(RgbImage.of(w, h, new byte[w * h * 3]));
      JsonNode expected = y.get("detections");
      assertEquals(expected.size(), found.size());
      for (int i = 0; i < found.size(); i++) {
        Detection d = found.get(i);
        JsonNode e = expected.get(i);
        assertEquals(e.get("class").asInt(), d.index());
        assertEquals(Integer.toString(d.index()), d.label());
        assertEquals(e.get("score").asDouble(), d.score(), 1e-6);
        assertArrayEquals(ReferenceTest.floats(e.get("box")),
            new float[] {d.x1(), d.y1(), d.x2(), d.y2()}, 1e-4f);
      }
      float[] input = model.lastInputs.get().get("images").toFloatArray();
      assertEquals(114 / 255f, input[0], 1e-6f, "the letterbox pads with 114");
    }
  }
}
