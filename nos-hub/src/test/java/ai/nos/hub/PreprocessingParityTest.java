package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Artifact;
import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Signature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The hub's pre-processing of each image entry against what the Python pipeline's own processor
 * makes of the same image (scripts/hub/make_parity.py: torchvision's ResNet50 IMAGENET1K_V2
 * transforms, ViTImageProcessor, CLIPImageProcessor), on the 20 images of {@code parity/images}.
 *
 * <p>Decoding and pre-processing are held apart. Java's ImageIO and Pillow's libjpeg-turbo round
 * JPEG's colour conversion and upsampling differently, so the pre-processing starts from Pillow's
 * decoded pixels (the image itself for PNG, the committed {@code .jpg.pil.png} for JPEG), and the
 * decoders are compared on their own: PNG decoding (with Pillow's {@code convert("RGB")}: alpha
 * dropped, gray and palette expanded) must give Pillow's bytes exactly (SHA-256), JPEG decoding
 * within {@value ReferenceTest#JPEG_LEVELS} levels.
 *
 * <p>The references' processors (make_parity.py, transformers 5.17): torchvision's ResNet-50
 * transforms resize PIL images with Pillow and round the crop offset half to even;
 * transformers 5's ViTImageProcessor and CLIPImageProcessor are the torchvision-backed ("fast")
 * classes, which resize uint8 tensors with torchvision (on the CPU, libtorch's uint8 kernels with
 * int16 weights) and floor the crop offset. The catalog says so per entry ({@code resampler},
 * {@code cropRounding}).
 *
 * <p>Tolerances, from the same decoded pixels: the Java path ({@link ImageTensors#prepare}, the
 * facades' {@code of()}) computes the pipelines' resamplers in their own fixed point, so every
 * sampled value is within 1e-5 (float32 rounding; one pixel level is at least 1 / (255 * std) =
 * 0.0142). The channel sums and sums of squares over all 50176 values are within
 * {@value #SUM_RELATIVE} of the sum of 1 + |value| (sums of squares: 1 + |value| + value
 * squared): transformers normalizes as (x - 255 mean) / (255 std) in float32, NOS as
 * (x / 255 - mean) / std, and the two differ by a few float32 roundings per value (of the
 * value, and of the mean it subtracts, ~1e-7 each), mostly the same way over one channel, so an
 * absolute bound grows with the values (it reached 0.03 on strokes_gray.png's CLIP sums of
 * squares). One pixel level on one value moves a sum by 0.0142 or more and a sum of squares by
 * about twice the value as much; the sums catch what moves many values (a shifted crop, a wrong
 * mean or std, swapped channels), the samples single values. The device path (nos-core's
 * ImageInput, what the facades' {@code load()} runs; here on the CPU) is held to the same
 * bounds: it computes the same fixed-point passes as matrix products (libtorch's own uint8
 * kernels for torchvision's resize on the CPU; HubParityGpuTest runs it on CUDA).
 *
 * <p>Fails, not skips, until the references are committed: they come from the GPU machine's
 * Python (scripts/gpu/hub-parity.sh), which the build machines lack.
 */
final class PreprocessingParityTest {

  /** Sums of one channel, relative to the sum of |value| or of value squared (see above). */
  static final double SUM_RELATIVE = 1e-6;

  private static final String DIR = "parity/";
  private static final String REFERENCES = DIR + "references.json.gz";
  private static final String[] ENTRIES = {"torchvision/resnet50",
      "google/vit-base-patch16-224", "openai/clip-vit-base-patch32/image"};
  private static final Path IDENTITY = Path.of(System.getProperty("nos.models.dir",
      "../models"), "fixtures", "identity.pt");

  static JsonNode references() {
    InputStream raw = PreprocessingParityTest.class.getResourceAsStream(REFERENCES);
    if (raw == null) {
      throw new AssertionError("nos-hub/src/test/resources/ai/nos/hub/" + REFERENCES
          + " is missing: the lead runs scripts/gpu/hub-parity.sh on the GPU machine (Pillow, "
          + "torchvision, transformers) and commits nos-hub/src/test/resources/ai/nos/hub/"
          + "parity/ from its $OUT/parity.tar");
    }
    try (InputStream in = new GZIPInputStream(raw)) {
      return new ObjectMapper().readTree(in);
    } catch (IOException e) {
      throw new AssertionError(REFERENCES + " cannot be read: " + e, e);
    }
  }

  static byte[] resource(String name) {
    try (InputStream in = PreprocessingParityTest.class.getResourceAsStream(DIR + "images/"
        + name)) {
      assertNotNull(in, "parity image " + name + " is missing beside " + REFERENCES);
      return in.readAllBytes();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  static Stream<Arguments> images() {
    List<Arguments> cases = new ArrayList<>();
    references().get("images").forEach(i -> cases.add(Arguments.of(i.get("image").asText(), i)));
    return cases.stream();
  }

  static Stream<Arguments> imagesAndEntries() {
    JsonNode ref = references();
    List<Arguments> cases = new ArrayList<>();
    for (JsonNode image : ref.get("images")) {
      for (String entry : ENTRIES) {
        cases.add(Arguments.of(image.get("image").asText(), entry, image, ref));
      }
    }
    return cases.stream();
  }

  @Test
  void references_coverTwentyImagesAndEveryImageEntry() {
    JsonNode ref = references();
    assertEquals(20, ref.get("images").size());
    for (String entry : ENTRIES) {
      assertTrue(ref.get("pipelines").has(entry), "no pipeline for " + entry);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void decode_matchesPillow(String name, JsonNode image) {
    RgbImage pillow = RgbImage.read(resource(image.get("decoded").asText()));
    assertEquals(image.get("width").asInt(), pillow.width(), name);
    assertEquals(image.get("height").asInt(), pillow.height(), name);
    assertEquals(image.get("rgb_sha256").asText(), sha256(pillow.toRgbBytes()),
        name + ": Pillow's decoded pixels (" + image.get("decoded").asText()
            + ") read back differently");
    if (!name.endsWith(".jpg")) {
      return; // the same file as Pillow's pixels: compared above
    }
    byte[] ours = RgbImage.read(resource(name)).toRgbBytes();
    byte[] theirs = pillow.toRgbBytes();
    int worst = 0;
    for (int i = 0; i < ours.length; i++) {
      worst = Math.max(worst, Math.abs((ours[i] & 0xff) - (theirs[i] & 0xff)));
    }
    System.out.printf("PreprocessingParityTest: %s ImageIO vs Pillow JPEG decoding: worst %d "
        + "levels%n", name, worst);
    assertTrue(worst <= ReferenceTest.JPEG_LEVELS, name + ": ImageIO's decoding differs from "
        + "Pillow's by " + worst + " levels, more than " + ReferenceTest.JPEG_LEVELS);
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("imagesAndEntries")
  void javaPath_matchesPythonPipeline(String name, String entry, JsonNode image, JsonNode ref) {
    ImagePreprocessing p = Catalog.builtin().entry(entry).image().orElseThrow();
    RgbImage pixels = RgbImage.read(resource(image.get("decoded").asText()));
    float[] values = ImageTensors.prepare(pixels, p).tensor().toFloatArray();
    Compared c = compare(values, image.get("pipelines").get(entry), ref, p);
    System.out.printf("PreprocessingParityTest: java %s %s: worst sample %.3g levels, worst "
        + "channel sum %.3g relative%n", name, entry, c.worstLevels, c.worstSum);
    assertTrue(c.worstSample <= 1e-5, name + " " + entry + ": a sampled value differs by "
        + c.worstSample + " (" + c.worstLevels + " levels) at flat index " + c.where
        + " from the Python pipeline's");
    assertTrue(c.worstSum <= SUM_RELATIVE, name + " " + entry + ": a channel's sum or sum of "
        + "squares differs by " + c.worstSum + " of its magnitude from the Python pipeline's "
        + "(allowed " + SUM_RELATIVE + ")");
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("imagesAndEntries")
  void devicePath_matchesPythonPipeline(String name, String entry, JsonNode image,
      JsonNode ref) {
    ImagePreprocessing p = Catalog.builtin().entry(entry).image().orElseThrow();
    RgbImage pixels = RgbImage.read(resource(image.get("decoded").asText()));
    int side = p.outputSize();
    ModelSpec identity = ModelSpec.builder().id("parity-identity").artifact(
        Artifact.of(IDENTITY)).signature(Signature.builder()
            .input("image", DType.FLOAT32, -1, 3, side, side)
            .output("y", DType.FLOAT32, -1, 3, side, side).build()).device("cpu").build();
    float[] values;
    try (Model model = Nos.load(ImageTensors.onDevice(identity, p))) {
      values = model.infer(Map.of("image",
          ImageTensors.input(model, "image", pixels, p).tensor())).get("y").toFloatArray();
    }
    Compared c = compare(values, image.get("pipelines").get(entry), ref, p);
    System.out.printf("PreprocessingParityTest: device %s %s: worst sample %.3g levels, worst "
        + "channel sum %.3g relative%n", name, entry, c.worstLevels, c.worstSum);
    assertTrue(c.worstSample <= 1e-5, name + " " + entry + ": a sampled value of the device path"
        + " differs by " + c.worstSample + " (" + c.worstLevels + " levels) at flat index "
        + c.where + " from the Python pipeline's");
    assertTrue(c.worstSum <= SUM_RELATIVE, name + " " + entry + ": a channel's sum or sum of "
        + "squares of the device path differs by " + c.worstSum + " of its magnitude from the "
        + "Python pipeline's (allowed " + SUM_RELATIVE + ")");
  }

  /**
   * How far a model input is from a pipeline's summary: in values and in pixel levels; the
   * channel sums relative to the sum of 1 + |value| (sums of squares: of 1 + |value| + value
   * squared), the scale of the float32 roundings in each value (see the class comment).
   */
  record Compared(double worstSample, double worstLevels, int where, double worstSum) {}

  static Compared compare(float[] values, JsonNode pipeline, JsonNode ref,
      ImagePreprocessing p) {
    int side = p.outputSize();
    assertArrayEquals(new int[] {1, 3, side, side}, ints(pipeline.get("shape")),
        "the pipeline's input shape");
    assertEquals(3 * side * side, values.length);
    JsonNode indices = ref.get("sample_indices");
    JsonNode samples = pipeline.get("samples");
    double worstSample = 0;
    double worstLevels = 0;
    int where = -1;
    for (int i = 0; i < indices.size(); i++) {
      int at = indices.get(i).asInt();
      double d = Math.abs(values[at] - samples.get(i).asDouble());
      double levels = d * p.std().get(at / (side * side)) * 255;
      if (d > worstSample) {
        worstSample = d;
        worstLevels = levels;
        where = at;
      }
    }
    double worstSum = 0;
    int plane = side * side;
    for (int c = 0; c < 3; c++) {
      double sum = 0;
      double magnitude = 0;
      double squares = 0;
      for (int i = c * plane; i < (c + 1) * plane; i++) {
        sum += values[i];
        magnitude += 1 + Math.abs(values[i]);
        squares += (double) values[i] * values[i];
      }
      double dSum = Math.abs(sum - pipeline.get("sum").get(c).asDouble());
      double dSquares = Math.abs(squares - pipeline.get("sumsq").get(c).asDouble());
      worstSum = Math.max(worstSum, Math.max(dSum / magnitude,
          dSquares / (squares + magnitude)));
    }
    return new Compared(worstSample, worstLevels, where, worstSum);
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
