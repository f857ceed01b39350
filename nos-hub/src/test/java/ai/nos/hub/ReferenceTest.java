package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Pre- and post-processing against the values of scripts/hub/make_references.py (Pillow and
 * numpy). Tolerances: PNG pixels after resize and crop equal Pillow's exactly (the resampler is
 * Pillow's fixed-point one); JPEG pixels within {@value #JPEG_LEVELS} levels, since ImageIO's and
 * libjpeg's decoders round differently; tensor values within 1e-5 of float32 numpy; math in
 * double within 1e-6.
 */
final class ReferenceTest {

  static final int JPEG_LEVELS = 3;
  static final JsonNode REF = load();

  static JsonNode load() {
    try (InputStream in = ReferenceTest.class.getResourceAsStream("reference/references.json")) {
      return new ObjectMapper().readTree(in);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  static RgbImage image(String name) {
    try (InputStream in = ReferenceTest.class.getResourceAsStream("reference/" + name)) {
      return RgbImage.read(in.readAllBytes());
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
  }

  static ImagePreprocessing setting(String name) {
    for (JsonNode s : REF.get("settings")) {
      if (s.get("name").asText().equals(name)) {
        ImagePreprocessing.Builder b = ImagePreprocessing.builder().resize(s.get("resize").asInt())
            .resizeMode(ImagePreprocessing.ResizeMode.valueOf(
                s.get("resizeMode").asText().toUpperCase()))
            .interpolation(ImagePreprocessing.Interpolation.valueOf(
                s.get("interpolation").asText().toUpperCase()))
            .mean(doubles(s.get("mean"))).std(doubles(s.get("std")))
            .channels(ImagePreprocessing.ChannelOrder.valueOf(
                s.get("channels").asText().toUpperCase()));
        if (s.has("crop")) {
          b.crop(s.get("crop").asInt());
        }
        if (s.has("padValue")) {
          b.padValue(s.get("padValue").asInt());
        }
        return b.build();
      }
    }
    throw new AssertionError(name);
  }

  static double[] doubles(JsonNode array) {
    double[] d = new double[array.size()];
    for (int i = 0; i < d.length; i++) {
      d[i] = array.get(i).asDouble();
    }
    return d;
  }

  static float[] floats(JsonNode array) {
    float[] f = new float[array.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) array.get(i).asDouble();
    }
    return f;
  }

  static Stream<Arguments> images() {
    List<Arguments> cases = new ArrayList<>();
    REF.get("images").forEach(c -> cases.add(Arguments.of(c.get("image").asText(),
        c.get("setting").asText(), c)));
    return cases.stream();
  }

  /**
   * The largest difference, in pixel levels, between a model input of {@code p} (values of
   * {@code [1, 3, side, side]}) and Pillow's pixels: the normalization inverted, then rounded.
   */
  static int worstLevels(float[] values, ImagePreprocessing p, JsonNode pixels) {
    int size = p.outputSize();
    boolean bgr = p.channels() == ImagePreprocessing.ChannelOrder.BGR;
    int worst = 0;
    for (int y = 0; y < size; y++) {
      for (int x = 0; x < size; x++) {
        for (int c = 0; c < 3; c++) {
          int tc = bgr ? 2 - c : c;
          double v = values[(tc * size + y) * size + x] * p.std().get(tc) + p.mean().get(tc);
          int level = (int) Math.round(v * 255);
          worst = Math.max(worst,
              Math.abs(level - pixels.get((y * size + x) * 3 + c).asInt()));
        }
      }
    }
    return worst;
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("images")
  void prepare_matchesPillow(String image, String setting, JsonNode ref) {
    ImagePreprocessing p = setting(setting);
    Tensor t = ImageTensors.prepare(image(image), p).tensor();
    int size = p.outputSize();
    assertArrayEquals(new long[] {1, 3, size, size}, t.shape());
    assertEquals(DType.FLOAT32, t.dtype());
    float[] values = t.toFloatArray();
    int worst = worstLevels(values, p, ref.get("pixels"));
    assertTrue(worst <= (image.endsWith(".jpg") ? JPEG_LEVELS : 0),
        "worst pixel differs by " + worst + " levels");
    if (!image.endsWith(".jpg")) {
      for (JsonNode sample : ref.get("samples")) {
        assertEquals(sample.get(1).asDouble(), values[sample.get(0).asInt()], 1e-5,
            "value at " + sample.get(0));
      }
    }
  }

  @Test
  void softmax_topK_matchNumpy() {
    JsonNode s = REF.get("softmax");
    float[] p = Vectors.softmax(floats(s.get("logits")));
    for (int i = 0; i < p.length; i++) {
      assertEquals(s.get("probabilities").get(i).asDouble(), p[i], 1e-6);
    }
    int[] expected = new int[s.get("topk").size()];
    for (int i = 0; i < expected.length; i++) {
      expected[i] = s.get("topk").get(i).asInt();
    }
    assertArrayEquals(expected, Vectors.topK(p, 100));
    assertArrayEquals(new int[] {2, 3}, Vectors.topK(p, 2));
  }

  @Test
  void nms_matchesReference() {
    JsonNode n = REF.get("nms");
    List<BoxDecoding.Box> boxes = new ArrayList<>();
    for (int i = 0; i < n.get("boxes").size(); i++) {
      float[] b = floats(n.get("boxes").get(i));
      boxes.add(new BoxDecoding.Box(i, n.get("classes").get(i).asInt(),
          (float) n.get("scores").get(i).asDouble(), b[0], b[1], b[2], b[3]));
    }
    for (JsonNode c : n.get("cases")) {
      List<Integer> kept = BoxDecoding.nms(boxes, c.get("iou").asDouble(), c.get("max").asInt())
          .stream().map(BoxDecoding.Box::index).toList();
      List<Integer> expected = new ArrayList<>();
      c.get("keep").forEach(k -> expected.add(k.asInt()));
      assertEquals(expected, kept, "iou " + c.get("iou") + ", max " + c.get("max"));
    }
  }

  @Test
  void pooling_matchesNumpy() {
    JsonNode r = REF.get("pooling");
    int batch = r.get("tokens").size();
    int length = r.get("tokens").get(0).size();
    int dim = r.get("tokens").get(0).get(0).size();
    float[] tokens = new float[batch * length * dim];
    long[] mask = new long[batch * length];
    for (int b = 0; b < batch; b++) {
      for (int t = 0; t < length; t++) {
        mask[b * length + t] = r.get("mask").get(b).get(t).asLong();
        for (int d = 0; d < dim; d++) {
          tokens[(b * length + t) * dim + d] =
              (float) r.get("tokens").get(b).get(t).get(d).asDouble();
        }
      }
    }
    for (int b = 0; b < batch; b++) {
      float[] mean = Vectors.meanPool(tokens, mask, b, length, dim);
      assertClose(r.get("mean").get(b), mean);
      assertClose(r.get("meanNormalized").get(b), Vectors.l2Normalize(mean));
      float[] cls = Vectors.firstToken(tokens, b, length, dim);
      assertClose(r.get("cls").get(b), cls);
      assertClose(r.get("clsNormalized").get(b), Vectors.l2Normalize(cls));
    }
  }

  static void assertClose(JsonNode expected, float[] actual) {
    assertEquals(expected.size(), actual.length);
    for (int i = 0; i < actual.length; i++) {
      assertEquals(expected.get(i).asDouble(), actual[i], 1e-5, "element " + i);
    }
  }

  /** The raw YOLOv8 output [1, 4 + classes, anchors] of the reference's sparse entries. */
  static Tensor yoloOutput() {
    JsonNode y = REF.get("yolov8");
    int classes = y.get("classes").asInt();
    int anchors = y.get("anchors").asInt();
    float[] out = new float[(4 + classes) * anchors];
    for (JsonNode e : y.get("entries")) {
      int a = e.get("anchor").asInt();
      for (int k = 0; k < 4; k++) {
        out[k * anchors + a] = (float) e.get("box").get(k).asDouble();
      }
      Map<String, Double> scores = new HashMap<>();
      e.get("scores").fields().forEachRemaining(f -> scores.put(f.getKey(), f.getValue()
          .asDouble()));
      scores.forEach((c, v) -> out[(4 + Integer.parseInt(c)) * anchors + a] = v.floatValue());
    }
    return Tensor.of(out, 1, 4 + classes, anchors);
  }
}
