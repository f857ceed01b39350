package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Artifact;
import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Signature;
import ai.nos.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The device path of the image facades (nos-core's ImageInput, here on the CPU) against Pillow
 * (scripts/hub/make_references.py): the identity fixture returns what a model receives, turned
 * back into pixel levels. Tolerance: 1 level for PNG (libtorch's antialiased resampling is
 * Pillow's kernels in floating point, Pillow's is fixed point), the Java path's JPEG tolerance
 * plus 1 for JPEG. The coordinates a detector maps boxes back through equal the Java path's.
 */
final class DevicePreprocessingTest {
  static final int PNG_LEVELS = 1;

  private static final Path IDENTITY = Path.of(System.getProperty("nos.models.dir",
      "../models"), "fixtures", "identity.pt");

  private static ModelSpec floatSpec(int side) {
    return ModelSpec.builder().id("identity-image").artifact(Artifact.of(IDENTITY))
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, side, side)
            .output("y", DType.FLOAT32, -1, 3, side, side).build())
        .device("cpu").build();
  }

  static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> images() {
    return ReferenceTest.images();
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("images")
  void onDevice_matchesPillow_andMapsCoordinatesAsTheJavaPath(String name, String setting,
      JsonNode ref) {
    ImagePreprocessing p = ReferenceTest.setting(setting);
    RgbImage image = ReferenceTest.image(name);
    int size = p.outputSize();
    ModelSpec spec = ImageTensors.onDevice(floatSpec(size), p);
    assertEquals(DType.UINT8, spec.signature().inputs().get(0).dtype());
    try (Model model = Nos.load(spec)) {
      ImageTensors.Prepared device = ImageTensors.input(model, "image", image, p);
      ImageTensors.Prepared java = ImageTensors.prepare(image, p);
      assertArrayEquals(new long[] {1, image.height(), image.width(), 3},
          device.tensor().shape(), "the pixels go to the model as they are");
      assertEquals(java.scaleX(), device.scaleX(), 1e-12);
      assertEquals(java.scaleY(), device.scaleY(), 1e-12);
      assertEquals(java.left(), device.left(), 1e-12);
      assertEquals(java.top(), device.top(), 1e-12);
      Tensor out = model.infer(Map.of("image", device.tensor())).get("y");
      assertArrayEquals(new long[] {1, 3, size, size}, out.shape());
      float[] values = out.toFloatArray();
      int worst = ReferenceTest.worstLevels(values, p, ref.get("pixels"));
      int allowed = name.endsWith(".jpg") ? ReferenceTest.JPEG_LEVELS + PNG_LEVELS : PNG_LEVELS;
      System.out.printf("DevicePreprocessingTest: %s %s worst %d levels%n", name, setting,
          worst);
      assertTrue(worst <= allowed, name + " " + setting + ": worst pixel differs by " + worst
          + " levels (allowed " + allowed + ")");
    }
  }

  /**
   * The whole chain a user takes: a catalog entry (with a default step) loaded through the hub
   * by a facade sends decoded pixels, the model pre-processes them on its device and runs with
   * the entry's step. The identity fixture as an "embedder" returns the pre-processed image, which
   * must match the Java path within one level.
   */
  @org.junit.jupiter.api.Test
  void aFacadeLoadedThroughTheHub_preprocessesOnTheDevice_withTheEntrysSteps(
      @org.junit.jupiter.api.io.TempDir Path cache) {
    ImagePreprocessing p = ImagePreprocessing.builder().resize(10).crop(8)
        .mean(new double[] {0.4, 0.5, 0.6}).std(new double[] {0.2, 0.25, 0.3}).build();
    CatalogEntry entry = CatalogEntry.builder().id("acme/identity-embedder")
        .task(Task.IMAGE_EMBEDDING)
        .artifact(CatalogArtifact.of(CatalogArtifact.MODEL,
            IDENTITY.toAbsolutePath().toUri().toString()))
        .signature(floatSpec(8).signature()).device(ai.nos.Device.cpu())
        .optimize(ai.nos.Optimization.FREEZE).image(p).build();
    Hub hub = Hub.builder().catalog(Catalog.empty()).build();
    hub.register(entry);
    RgbImage image = ReferenceTest.image("rgb.png");
    Downloader downloader = Downloader.builder().cacheDir(cache).build();
    try (ai.nos.ModelManager manager = ai.nos.ModelManager.builder()
        .devices(ai.nos.Device.cpu()).noFootprintCatalog().build();
        ImageEmbedder embedder = ImageEmbedder.load(hub, entry.id(), downloader, manager)) {
      float[] got = embedder.embed(image);
      float[] want = ImageTensors.prepare(image, p).tensor().toFloatArray();
      assertEquals(want.length, got.length);
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], 1.01 / 255 / 0.2, "element " + i);
      }
      // The facade's model takes pixels: the hub's plain spec (float input) is another model
      // under the same id, which a manager refuses.
      var other = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
          () -> manager.load(hub.spec(entry.id(), downloader)));
      assertTrue(other.getMessage().contains("acme/identity-embedder"), other.getMessage());
      var info = manager.models().get(0);
      assertEquals(java.util.List.of("freeze"), info.optimizations(), "the entry's step");
    }
  }

  /**
   * A thin image resized by its shorter side becomes very tall (1x1500 to 256x384000) before the
   * crop: the device path resized all of it, with a dense weight matrix of 384000 x 1500
   * doubles, an OutOfMemoryError. Now it resizes only the crop, as the Java path does.
   */
  @org.junit.jupiter.api.Test
  void aThinImage_resizesOnlyTheCrop(@org.junit.jupiter.api.io.TempDir Path cache) {
    ImagePreprocessing p = ImagePreprocessing.builder().resize(256).crop(224).build();
    CatalogEntry entry = CatalogEntry.builder().id("acme/identity-embedder")
        .task(Task.IMAGE_EMBEDDING)
        .artifact(CatalogArtifact.of(CatalogArtifact.MODEL,
            IDENTITY.toAbsolutePath().toUri().toString()))
        .signature(floatSpec(224).signature()).device(ai.nos.Device.cpu()).image(p).build();
    Hub hub = Hub.builder().catalog(Catalog.empty()).build();
    hub.register(entry);
    Downloader downloader = Downloader.builder().cacheDir(cache).build();
    try (ImageEmbedder embedder = ImageEmbedder.load(hub, entry.id(), downloader)) {
      for (int[] size : new int[][] {{1, 1500}, {1500, 1}}) {
        byte[] pixels = new byte[size[0] * size[1] * 3];
        new java.util.Random(size[0]).nextBytes(pixels);
        RgbImage image = RgbImage.of(size[0], size[1], pixels);
        float[] got = embedder.embed(image);
        float[] want = ImageTensors.prepare(image, p).tensor().toFloatArray();
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
          assertEquals(want[i], got[i], 1.01 / 255, size[0] + "x" + size[1] + " element " + i);
        }
      }
    }
  }

  @org.junit.jupiter.api.Test
  void aSpecThatIsNotAnImageOfTheSetting_staysAsItIs() {
    ImagePreprocessing p = ImagePreprocessing.builder().resize(8).build();
    ModelSpec other = floatSpec(4);
    assertSame(other, ImageTensors.onDevice(other, p), "4x4 input, 8x8 setting");
    ModelSpec batching = floatSpec(8).toBuilder().maxBatchSize(16).build();
    assertSame(batching, ImageTensors.onDevice(batching, p),
        "a batching model keeps the Java path, so that images of any size batch together");
  }
}
