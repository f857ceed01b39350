package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The task facades under models that answer badly (NaN, infinities, boxes turned inside out, the
 * wrong number of rows), and their arithmetic against direct computations on random inputs.
 */
final class FacadesMisuseTest {

  private static final RgbImage IMAGE = RgbImage.of(32, 32, new byte[32 * 32 * 3]);

  private static ImageClassifier classifier(float[] logits, long... shape) {
    FakeModel model = new FakeModel("test/classifier", FacadesTest.classifierSignature(),
        in -> Map.of("logits", Tensor.of(logits, shape)));
    return ImageClassifier.of(model, FacadesTest.classifierEntry(List.of()));
  }

  @Test
  void classify_nanOrPositiveInfinityLogit_namesTheModelAndTheClass() {
    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
      float[] logits = new float[10];
      logits[3] = bad;
      try (ImageClassifier c = classifier(logits, 1, 10)) {
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> c.classify(IMAGE, 3));
        assertEquals("model 'test/classifier' returned logit " + bad + " for class 3; "
            + "ImageClassifier needs finite logits (or -Infinity for a class ruled out)",
            e.getMessage());
      }
    }
  }

  @Test
  void classify_negativeInfinityLogits_scoreZero_butNotAll() {
    float[] logits = new float[10];
    Arrays.fill(logits, Float.NEGATIVE_INFINITY);
    logits[4] = 1;
    logits[7] = 1;
    try (ImageClassifier c = classifier(logits, 1, 10)) {
      List<Classification> top = c.classify(IMAGE, 3);
      assertEquals(List.of(4, 7, 0), top.stream().map(Classification::index).toList());
      assertEquals(List.of(0.5f, 0.5f, 0f), top.stream().map(Classification::score).toList());
    }
    float[] none = new float[10];
    Arrays.fill(none, Float.NEGATIVE_INFINITY);
    try (ImageClassifier c = classifier(none, 1, 10)) {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> c.classify(IMAGE, 1));
      assertEquals("model 'test/classifier' returned -Infinity for every class; "
          + "ImageClassifier needs at least one finite logit", e.getMessage());
    }
  }

  @Test
  void classify_twoRowsOfLogitsForOneImage_isRefused() {
    try (ImageClassifier c = classifier(new float[20], 2, 10)) {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> c.classify(IMAGE, 30));
      assertEquals("model 'test/classifier' returned logits of shape [2, 10] for one image; "
          + "ImageClassifier needs one row of class logits, [1, classes]", e.getMessage());
    }
  }

  @Test
  void embed_image_nonFiniteOutput_isRefused() {
    Signature sig = Signature.builder().input("pixel_values", DType.FLOAT32, -1, 3, 20, 20)
        .output("embeds", DType.FLOAT32, -1, 2).build();
    CatalogEntry entry = CatalogEntry.builder().id("test/embedder").task(Task.IMAGE_EMBEDDING)
        .artifact(FacadesTest.MODEL).signature(sig)
        .image(ReferenceTest.setting("exact_bicubic_bgr")).normalize(true).build();
    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
      FakeModel model = new FakeModel("test/embedder", sig,
          in -> Map.of("embeds", Tensor.of(new float[] {3, bad}, 1, 2)));
      try (ImageEmbedder embedder = ImageEmbedder.of(model, entry)) {
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> embedder.embed(IMAGE));
        assertEquals("model 'test/embedder' returned " + bad + " at element 1 of its "
            + "embedding; ImageEmbedder needs finite values", e.getMessage());
      }
    }
  }

  @Test
  void embed_image_rowsOfMoreThanOneImage_areRefused() {
    Signature sig = Signature.builder().input("pixel_values", DType.FLOAT32, -1, 3, 20, 20)
        .output("embeds", DType.FLOAT32, -1, -1).build();
    CatalogEntry entry = CatalogEntry.builder().id("test/embedder").task(Task.IMAGE_EMBEDDING)
        .artifact(FacadesTest.MODEL).signature(sig)
        .image(ReferenceTest.setting("exact_bicubic_bgr")).normalize(true).build();
    // Was a vector of 4, the two rows flattened and normalized together.
    for (long[] shape : new long[][] {{2, 2}, {4, 1}}) {
      FakeModel model = new FakeModel("test/embedder", sig,
          in -> Map.of("embeds", Tensor.of(new float[] {3, 4, 0, 1}, shape)));
      try (ImageEmbedder embedder = ImageEmbedder.of(model, entry)) {
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> embedder.embed(IMAGE));
        assertEquals("model 'test/embedder' returned an output of shape "
            + Arrays.toString(shape) + " for one image; ImageEmbedder needs the output of one"
            + " image, [1, dim]", e.getMessage());
      }
    }
  }

  @Test
  void embed_text_fewerRowsThanTexts_isRefused(@TempDir Path dir) throws Exception {
    Signature sig = Signature.builder().input("input_ids", DType.INT64, -1, 6)
        .output("text_embeds", DType.FLOAT32, -1, 6).build();
    FakeModel model = new FakeModel("test/text", sig,
        in -> Map.of("text_embeds", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 1, 6)));
    CatalogEntry entry = CatalogEntry.builder().id("test/text").task(Task.TEXT_EMBEDDING)
        .artifact(FacadesTest.MODEL)
        .artifact(CatalogArtifact.of("tokenizer", "https://example.org/t.json"))
        .signature(sig).text(new TextPreprocessing("tokenizer", 77,
            TextPreprocessing.Pooling.NONE, false)).build();
    try (TextEmbedder embedder = TextEmbedder.of(model, entry, FacadesTest.tokenizer(dir))) {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> embedder.embed(List.of("a cat", "a dog")));
      assertEquals("model 'test/text' returned an output of shape [1, 6] for 2 texts of 6 "
          + "tokens; pooling none needs [2, dim]", e.getMessage());
    }
  }

  /** A YOLOv8 detector over 32x32 inputs, 2 classes and 3 anchors answering {@code out}. */
  private static ObjectDetector detector(float[] out) {
    Signature sig = Signature.builder().input("images", DType.FLOAT32, -1, 3, 32, 32)
        .output("output0", DType.FLOAT32, -1, 6, 3).build();
    FakeModel model = new FakeModel("test/yolo", sig,
        in -> Map.of("output0", Tensor.of(out, 1, 6, 3)));
    CatalogEntry entry = CatalogEntry.builder().id("test/yolo").task(Task.OBJECT_DETECTION)
        .artifact(FacadesTest.MODEL).signature(sig)
        .image(ImagePreprocessing.builder().resize(32)
            .resizeMode(ImagePreprocessing.ResizeMode.LETTERBOX).padValue(114).build())
        .detection(new DetectionPostprocessing(DetectionPostprocessing.BoxDecoder.YOLOV8, 0.25,
            0.45, 300)).build();
    return ObjectDetector.of(model, entry);
  }

  /** Rows cx, cy, w, h, score 0, score 1; one column an anchor. */
  private static float[] yolo(float[]... anchors) {
    float[] out = new float[6 * anchors.length];
    for (int a = 0; a < anchors.length; a++) {
      for (int r = 0; r < 6; r++) {
        out[r * anchors.length + a] = anchors[a][r];
      }
    }
    return out;
  }

  @Test
  void detect_goodBoxes_mappedBack() {
    try (ObjectDetector d = detector(yolo(new float[] {10, 10, 4, 6, 0.9f, 0.1f},
        new float[] {20, 20, 2, 2, 0.1f, 0.8f}, new float[] {0, 0, 0, 0, 0, 0}))) {
      List<Detection> found = d.detect(IMAGE);
      assertEquals(2, found.size());
      assertEquals(new Detection("0", 0, 0.9f, 8, 7, 12, 13), found.get(0));
      assertEquals(new Detection("1", 1, 0.8f, 19, 19, 21, 21), found.get(1));
    }
  }

  @Test
  void detect_nonFiniteOrInvertedBox_namesTheModelAndTheAnchor() {
    float[][] bad = {
        {Float.NaN, 10, 4, 6, 0.9f, 0.1f},
        {10, Float.POSITIVE_INFINITY, 4, 6, 0.9f, 0.1f},
        {10, 10, -4, 6, 0.9f, 0.1f},
        {10, 10, 4, Float.NaN, 0.9f, 0.1f},
    };
    for (float[] b : bad) {
      try (ObjectDetector d = detector(yolo(new float[] {1, 1, 1, 1, 0.5f, 0},
          new float[] {1, 1, 1, 1, 0, 0}, b))) {
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> d.detect(IMAGE));
        assertEquals("model 'test/yolo' returned box (centre " + b[0] + ", " + b[1]
            + ", size " + b[2] + " x " + b[3] + ") at anchor 2; yolov8 needs finite centres"
            + " and sizes of at least 0", e.getMessage(), Arrays.toString(b));
      }
    }
  }

  @Test
  void detect_nanScore_namesTheModelAndTheAnchor() {
    // A NaN score of class 0 hid class 1's 0.9: the anchor was dropped without a word.
    try (ObjectDetector d = detector(yolo(new float[] {1, 1, 1, 1, 0, 0},
        new float[] {10, 10, 4, 6, Float.NaN, 0.9f}, new float[] {1, 1, 1, 1, 0, 0}))) {
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> d.detect(IMAGE));
      assertEquals("model 'test/yolo' returned score NaN for class 0 at anchor 1; yolov8 needs"
          + " scores that are numbers", e.getMessage());
    }
  }

  /** torchvision's batched_nms, written plainly: take the best left, drop its overlaps, again. */
  private static List<Integer> bruteForceNms(List<BoxDecoding.Box> boxes, double iou, int max) {
    List<BoxDecoding.Box> left = new ArrayList<>(boxes);
    List<Integer> kept = new ArrayList<>();
    while (!left.isEmpty() && kept.size() < max) {
      BoxDecoding.Box best = left.get(0);
      for (BoxDecoding.Box b : left) {
        if (b.score() > best.score() || (b.score() == best.score() && b.index() < best.index())) {
          best = b;
        }
      }
      kept.add(best.index());
      BoxDecoding.Box k = best;
      left.removeIf(b -> b == k || (b.cls() == k.cls() && overlap(b, k) > iou));
    }
    return kept;
  }

  private static double overlap(BoxDecoding.Box a, BoxDecoding.Box b) {
    double w = Math.min(a.x2(), b.x2()) - Math.max(a.x1(), b.x1());
    double h = Math.min(a.y2(), b.y2()) - Math.max(a.y1(), b.y1());
    double inter = w > 0 && h > 0 ? w * h : 0;
    double union = (double) (a.x2() - a.x1()) * (a.y2() - a.y1())
        + (double) (b.x2() - b.x1()) * (b.y2() - b.y1()) - inter;
    return union > 0 ? inter / union : 0;
  }

  @Test
  void nms_randomBoxes_matchBruteForce() {
    Random random = new Random(7);
    for (int trial = 0; trial < 500; trial++) {
      int n = random.nextInt(40);
      List<BoxDecoding.Box> boxes = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        float x = random.nextInt(50);
        float y = random.nextInt(50);
        // Scores on a coarse grid, so that ties are common; some boxes of zero area.
        boxes.add(new BoxDecoding.Box(i, random.nextInt(3), random.nextInt(8) / 8f, x, y,
            x + random.nextInt(30), y + random.nextInt(30)));
      }
      double iou = random.nextInt(11) / 10.0;
      int max = 1 + random.nextInt(n + 2);
      assertEquals(bruteForceNms(boxes, iou, max),
          BoxDecoding.nms(boxes, iou, max).stream().map(BoxDecoding.Box::index).toList(),
          "trial " + trial);
    }
  }

  @Test
  void softmaxAndTopK_randomLogits_matchDirectComputation() {
    Random random = new Random(11);
    for (int trial = 0; trial < 500; trial++) {
      float[] logits = new float[1 + random.nextInt(50)];
      for (int i = 0; i < logits.length; i++) {
        logits[i] = random.nextInt(5) == 0 ? random.nextInt(3) : (float) random.nextGaussian()
            * (trial % 2 == 0 ? 3 : 300);
      }
      float[] p = Vectors.softmax(logits);
      double max = Double.NEGATIVE_INFINITY;
      for (float v : logits) {
        max = Math.max(max, v);
      }
      double sum = 0;
      for (float v : logits) {
        sum += Math.exp(v - max);
      }
      Integer[] order = new Integer[logits.length];
      for (int i = 0; i < logits.length; i++) {
        assertEquals(Math.exp(logits[i] - max) / sum, p[i], 1e-6, "trial " + trial);
        order[i] = i;
      }
      Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a])
          : Integer.compare(a, b));
      int k = 1 + random.nextInt(logits.length + 3);
      int[] expected = new int[Math.min(k, logits.length)];
      for (int i = 0; i < expected.length; i++) {
        expected[i] = order[i];
      }
      assertArrayEquals(expected, Vectors.topK(logits, k), "trial " + trial);
      assertTrue(p.length == logits.length);
    }
  }
}
