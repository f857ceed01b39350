package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link ImageInput} end to end on the CPU: the identity fixture returns what the model
 * receives, so each test reads the pre-processed tensor itself. The Pillow comparison of the
 * resampling is nos-hub's ({@code DevicePreprocessingTest}).
 */
@Timeout(60)
final class ImageInputTest {

  private static ModelSpec spec(int side, ImageInput image) {
    return ModelSpec.builder().id("identity-image").artifact(Fixtures.fixture("identity.pt"))
        .signature(Signature.builder().input("image", DType.UINT8, -1, -1, -1, 3)
            .output("y", DType.FLOAT32, -1, 3, side, side).build())
        .imageInput("image", image).device("cpu").build();
  }

  /** An image whose pixel (x, y) channel c is {@code 10 * y + x + 100 * c}, batch {@code n}. */
  private static Tensor ramp(int n, int width, int height) {
    byte[] px = new byte[n * width * height * 3];
    for (int i = 0; i < n; i++) {
      for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
          for (int c = 0; c < 3; c++) {
            px[((i * height + y) * width + x) * 3 + c] = (byte) (10 * y + x + 100 * c + i);
          }
        }
      }
    }
    return Tensor.of(px, n, height, width, 3);
  }

  private static float[] run(ImageInput image, Tensor pixels) {
    try (Model m = Nos.load(spec(image.outputSize(), image))) {
      return m.infer(Map.of("image", pixels)).get("y").toFloatArray();
    }
  }

  private static float at(float[] v, int side, int n, int c, int y, int x) {
    return v[((n * 3 + c) * side + y) * side + x];
  }

  @Test
  void sameSize_isScaledNormalizedAndChannelsFirst_forEachImageOfTheBatch() {
    ImageInput image = ImageInput.resizeTo(4).resize(ImageInput.Resize.EXACT)
        .normalize(new float[] {0.5f, 0.25f, 0f}, new float[] {0.5f, 0.25f, 2f}).build();
    float[] v = run(image, ramp(2, 4, 4));
    assertEquals(2 * 3 * 16, v.length);
    for (int n = 0; n < 2; n++) {
      for (int y = 0; y < 4; y++) {
        for (int x = 0; x < 4; x++) {
          assertEquals(((10 * y + x + n) / 255f - 0.5f) / 0.5f, at(v, 4, n, 0, y, x), 1e-6);
          assertEquals(((10 * y + x + 100 + n) / 255f - 0.25f) / 0.25f, at(v, 4, n, 1, y, x),
              1e-6);
          assertEquals((10 * y + x + 200 + n) / 255f / 2f, at(v, 4, n, 2, y, x), 1e-6);
        }
      }
    }
  }

  @Test
  void centreCrop_keepsTheMiddle() {
    // 6 wide, 4 high, shorter side already 4: no resize; crop 4 starts at column 1.
    ImageInput image = ImageInput.resizeTo(4).crop(4).build();
    float[] v = run(image, ramp(1, 6, 4));
    for (int y = 0; y < 4; y++) {
      for (int x = 0; x < 4; x++) {
        assertEquals((10 * y + x + 1) / 255f, at(v, 4, 0, 0, y, x), 1e-6, y + "," + x);
      }
    }
  }

  @Test
  void letterbox_padsAboveAndBelow_withThePadValue() {
    // 4 wide, 2 high into 4x4: scale 1, pasted at top 1 (round(1 - 0.1)).
    ImageInput image = ImageInput.resizeTo(4).resize(ImageInput.Resize.LETTERBOX).padValue(51)
        .build();
    float[] v = run(image, ramp(1, 4, 2));
    for (int x = 0; x < 4; x++) {
      assertEquals(0.2f, at(v, 4, 0, 1, 0, x), 1e-6, "pad row 0");
      assertEquals((10 * 0 + x + 100) / 255f, at(v, 4, 0, 1, 1, x), 1e-6, "image row 0");
      assertEquals((10 * 1 + x + 100) / 255f, at(v, 4, 0, 1, 2, x), 1e-6, "image row 1");
      assertEquals(0.2f, at(v, 4, 0, 1, 3, x), 1e-6, "pad row 3");
    }
    ImageInput.Geometry g = image.geometry(4, 2);
    assertEquals(new ImageInput.Geometry(4, 2, 0, 1, 4, 1.0, 1.0), g);
  }

  @Test
  void centreCrop_oddMargin_roundsHalfToEven_orFloors() {
    // 7 wide: margin 3, half 1.5: column 2 half to even (torchvision), 1 floored (transformers).
    ImageInput even = ImageInput.resizeTo(4).crop(4).build();
    ImageInput floor = even.toBuilder().cropRounding(ImageInput.CropRounding.FLOOR).build();
    assertEquals(-2, even.geometry(7, 4).left());
    assertEquals(-1, floor.geometry(7, 4).left());
    float[] a = run(even, ramp(1, 7, 4));
    float[] b = run(floor, ramp(1, 7, 4));
    for (int y = 0; y < 4; y++) {
      for (int x = 0; x < 4; x++) {
        assertEquals((10 * y + x + 2) / 255f, at(a, 4, 0, 0, y, x), 1e-6, y + "," + x);
        assertEquals((10 * y + x + 1) / 255f, at(b, 4, 0, 0, y, x), 1e-6, y + "," + x);
      }
    }
  }

  @Test
  void bgr_reversesTheChannels() {
    ImageInput image = ImageInput.resizeTo(2).resize(ImageInput.Resize.EXACT).bgr(true).build();
    float[] v = run(image, ramp(1, 2, 2));
    assertEquals((200) / 255f, at(v, 2, 0, 0, 0, 0), 1e-6);
    assertEquals((0) / 255f, at(v, 2, 0, 2, 0, 0), 1e-6);
  }

  @Test
  void downscaling_aConstantImage_staysConstant_andRoundsToWholeLevels() {
    byte[] px = new byte[8 * 8 * 3];
    java.util.Arrays.fill(px, (byte) 100);
    for (ImageInput.Interpolation mode : ImageInput.Interpolation.values()) {
      ImageInput image = ImageInput.resizeTo(4).resize(ImageInput.Resize.EXACT)
          .interpolation(mode).build();
      float[] v = run(image, Tensor.of(px, 1, 8, 8, 3));
      for (float f : v) {
        assertEquals(100 / 255f, f, 1e-6, mode.toString());
      }
    }
  }

  @Test
  void nearest_withPillow_takesPillowsPixel_whereACentreLandsOnABoundary() {
    // 4 to 7: output centre 3 maps to 3.5 * 4 / 7 = 2.0; Pillow sums the scale up from half a
    // step (1.99999...) and takes pixel 1, as Image.resize((7, 7), NEAREST) gives (Pillow 12.3):
    // 0 0 1 1 2 3 3. floor((x + 0.5) * scale), libtorch's nearest-exact, takes pixel 2.
    int[] pillow = {0, 0, 1, 1, 2, 3, 3};
    ImageInput image = ImageInput.resizeTo(7).resize(ImageInput.Resize.EXACT)
        .interpolation(ImageInput.Interpolation.NEAREST).build();
    float[] v = run(image, ramp(1, 4, 4));
    for (int y = 0; y < 7; y++) {
      for (int x = 0; x < 7; x++) {
        assertEquals((10 * pillow[y] + pillow[x]) / 255f, at(v, 7, 0, 0, y, x), 1e-6,
            y + "," + x);
      }
    }
  }

  @Test
  void anEmptyImage_andABadCrop_areRefused() {
    ImageInput image = ImageInput.resizeTo(4).resize(ImageInput.Resize.EXACT).crop(4).build();
    try (Model m = Nos.load(spec(8, ImageInput.resizeTo(8).crop(8).build()))) {
      var e = assertThrows(IllegalArgumentException.class,
          () -> m.infer(Map.of("image", ramp(1, 0, 2))));
      assertTrue(e.getMessage().contains("'image'") || e.getMessage().contains("image"),
          e.getMessage());
    }
    assertThrows(IllegalArgumentException.class, () -> image.geometry(0, 4));
    var e = assertThrows(IllegalArgumentException.class,
        () -> ImageInput.resizeTo(4).crop(5).build());
    assertTrue(e.getMessage().contains("crop (5)"), e.getMessage());
  }

  /**
   * Hostile image inputs: each is refused with an IllegalArgumentException naming the input
   * before any pixel reaches libtorch, and the model keeps serving.
   */
  @Test
  void hostileImages_areRefusedBeforeNativeCode_andTheModelKeepsServing() {
    ImageInput image = ImageInput.resizeTo(8).crop(8).build();
    try (Model m = Nos.load(spec(8, image))) {
      Map<String, Tensor> cases = new java.util.LinkedHashMap<>();
      cases.put("four channels", Tensor.of(new byte[2 * 2 * 4], 1, 2, 2, 4));
      cases.put("float pixels", Tensor.of(new float[2 * 2 * 3], 1, 2, 2, 3));
      cases.put("no rows", Tensor.of(new byte[0], 1, 0, 4, 3));
      // Resized so that its shorter side is 8: 16,000,000 x 8, more than MAX_PIXELS.
      cases.put("a sliver (1 x 2,000,000)", Tensor.of(new byte[2_000_000 * 3], 1, 1,
          2_000_000, 3));
      cases.put("rank 3", Tensor.of(new byte[12], 2, 2, 3));
      for (var c : cases.entrySet()) {
        var e = assertThrows(IllegalArgumentException.class,
            () -> m.infer(Map.of("image", c.getValue())), c.getKey());
        assertTrue(e.getMessage().contains("'image'"), c.getKey() + ": " + e.getMessage());
      }
      assertEquals(3 * 64, m.infer(Map.of("image", ramp(1, 12, 9))).get("y").toFloatArray()
          .length, "still serving");
    }
  }

  @Test
  void tinyImages_countAtTheModelInputTheyBecome_againstMaxCallBytes() {
    // 24 bytes of 1x1 pixels become a 4.8 MB float32 [8, 3, 224, 224] model input: the limit
    // must see that (a classifier's outputs are small), or tiny images slip a huge call through.
    ImageInput image = ImageInput.resizeTo(224).resize(ImageInput.Resize.EXACT).build();
    ModelSpec spec = ModelSpec.builder().id("identity-image").artifact(Fixtures.fixture(
        "identity.pt")).signature(Signature.builder().input("image", DType.UINT8, -1, -1, -1, 3)
            .output("y", DType.FLOAT32, -1, -1, -1, -1).build())
        .imageInput("image", image).device("cpu").maxCallBytes(1_000_000).build();
    try (Model m = Nos.load(spec)) {
      assertEquals(4, m.infer(Map.of("image", Tensor.of(new byte[3], 1, 1, 1, 3))).get("y")
          .rank());
      var e = assertThrows(IllegalArgumentException.class,
          () -> m.infer(Map.of("image", Tensor.of(new byte[24], 8, 1, 1, 3))));
      assertTrue(e.getMessage().contains("input 'image' uint8[8, 1, 1, 3] takes 24 bytes and"
          + " 4816896 as the model's float32[8, 3, 224, 224]"), e.getMessage());
      assertTrue(e.getMessage().contains("over the limit of 1000000 bytes"), e.getMessage());
    }
  }

  @Test
  void theSpec_checksTheDeclaredInput() {
    ImageInput image = ImageInput.resizeTo(4).build();
    var e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.builder().id("x")
        .artifact(Fixtures.fixture("identity.pt"))
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, 4, 4)
            .output("y", DType.FLOAT32, -1, 3, 4, 4).build())
        .imageInput("image", image).build());
    assertEquals("imageInputs.image must be declared uint8 [batch, height, width, 3] but is"
        + " float32 [-1, 3, 4, 4]", e.getMessage());
    var missing = assertThrows(IllegalArgumentException.class, () -> spec(4, image).toBuilder()
        .imageInput("pixels", image).build());
    assertTrue(missing.getMessage().contains("'pixels'"), missing.getMessage());
    assertEquals(spec(4, image), spec(4, image).toBuilder().build());
  }

  @Test
  void json_roundTrips_andNamesBadFields() {
    ImageInput image = ImageInput.resizeTo(232).crop(224).interpolation(
        ImageInput.Interpolation.BICUBIC).normalize(new float[] {0.485f, 0.456f, 0.406f},
        new float[] {0.229f, 0.224f, 0.225f}).bgr(true)
        .resampler(ImageInput.Resampler.TORCH).cropRounding(ImageInput.CropRounding.FLOOR)
        .build();
    ModelSpec spec = spec(224, image);
    String json = spec.toJson();
    assertTrue(json.contains("\"imageInputs\""), json);
    assertEquals(spec, ModelSpec.fromJson(json));
    ModelSpec letterbox = spec(640, ImageInput.resizeTo(640)
        .resize(ImageInput.Resize.LETTERBOX).padValue(0).build());
    assertEquals(letterbox, ModelSpec.fromJson(letterbox.toJson()));
    var e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(
        json.replace("\"bicubic\"", "\"lanczos\"")));
    assertEquals("$.imageInputs.image.interpolation must be one of nearest, bilinear, bicubic"
        + " but was 'lanczos'", e.getMessage());
    var resampler = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(
        json.replace("\"torch\"", "\"opencv\"")));
    assertEquals("$.imageInputs.image.resampler must be one of pillow, torch but was 'opencv'",
        resampler.getMessage());
    var mean = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(
        json.replaceFirst("\"mean\": \\[[^]]*\\]", "\"mean\": [1, 2]")));
    assertTrue(mean.getMessage().startsWith("$.imageInputs.image.mean must hold 3 numbers"),
        mean.getMessage());
  }
}
