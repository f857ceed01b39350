package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Calibration}: every check that runs before TensorRT sees the batches, each message
 * naming the batch, the input, what was expected and what was given; the digest the engine's
 * cache key holds.
 */
final class CalibrationTest {

  /** {@code n} batches of {@code rows} digit-shaped images, pixel values from {@code seed}. */
  static List<Map<String, Tensor>> digits(int n, int rows, int seed) {
    List<Map<String, Tensor>> batches = new ArrayList<>();
    for (int b = 0; b < n; b++) {
      batches.add(Map.of("image", image(rows, seed + b)));
    }
    return batches;
  }

  static Tensor image(int rows, int seed) {
    float[] px = new float[rows * 64];
    for (int i = 0; i < px.length; i++) {
      px[i] = ((i * 31 + seed * 7) % 17) / 16f;
    }
    return Tensor.of(px, rows, 1, 8, 8);
  }

  /** A model with two inputs, for the checks between inputs (never loaded). */
  private static ModelSpec twoInputs() {
    return ModelSpec.builder().id("pair").artifact(Path.of("pair.pt"))
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 1, 8, 8)
            .input("mask", DType.INT64, -1, 8).output("y", DType.FLOAT32, -1, 10).build())
        .build();
  }

  private static Map<String, Tensor> pair(int imageRows, int maskRows) {
    Map<String, Tensor> m = new LinkedHashMap<>();
    m.put("image", image(imageRows, 1));
    m.put("mask", Tensor.of(new long[maskRows * 8], maskRows, 8));
    return m;
  }

  private static String refused(Runnable r) {
    return assertThrows(IllegalArgumentException.class, r::run).getMessage();
  }

  @Test
  void of_keepsTheBatchesInOrder_theirRows_andTheDefaultTolerance() {
    List<Map<String, Tensor>> batches = digits(3, 4, 0);
    Calibration c = Calibration.of(batches);
    assertEquals(batches, c.batches());
    assertEquals(4, c.rows());
    assertEquals(Calibration.DEFAULT_TOLERANCE, c.tolerance());
    assertEquals(0.2, c.toBuilder().tolerance(0.2).build().tolerance());
    assertEquals(batches, c.toBuilder().build().batches());
    assertThrows(UnsupportedOperationException.class, () -> c.batches().clear());
  }

  @Test
  void batches_nullAnywhere_isANullPointerExceptionNamingWhere() {
    assertEquals("batches must not be null",
        assertThrows(NullPointerException.class, () -> Calibration.of(null)).getMessage());
    List<Map<String, Tensor>> withNull = new ArrayList<>(digits(2, 4, 0));
    withNull.add(null);
    assertEquals("batches[2] must not be null",
        assertThrows(NullPointerException.class, () -> Calibration.of(withNull)).getMessage());
    Map<String, Tensor> nullTensor = new HashMap<>();
    nullTensor.put("image", null);
    assertEquals("batches[0]['image'] must not be null", assertThrows(
        NullPointerException.class, () -> Calibration.of(List.of(nullTensor))).getMessage());
  }

  @Test
  void batches_emptyOrRowless_areRefused() {
    assertEquals("batches must hold at least one batch", refused(() -> Calibration.of(List.of())));
    assertEquals("batches[1] must hold at least one input",
        refused(() -> Calibration.of(List.of(Map.of("image", image(2, 0)), Map.of()))));
    String m = refused(() -> Calibration.of(List.of(Map.of("x", Tensor.of(new float[] {1})
        .reshape()))));
    assertTrue(m.startsWith("batches[0]['x'] has shape []: a calibration input needs a batch"
        + " dimension"), m);
    m = refused(() -> Calibration.of(List.of(Map.of("x", Tensor.zeros(DType.FLOAT32, 0, 3)))));
    assertTrue(m.startsWith("batches[0]['x'] has shape [0, 3]"), m);
  }

  @Test
  void batches_ofDifferentRows_orNames_areRefused() {
    String m = refused(() -> Calibration.of(List.of(pair(4, 3))));
    assertEquals("batches[0]['mask'] has 3 rows but batches[0]['image'] has 4: TensorRT"
        + " calibrates every input of every batch at one batch size", m);
    m = refused(() -> Calibration.of(List.of(pair(4, 4), pair(2, 2))));
    assertTrue(m.startsWith("batches[1]['image'] has 2 rows but batches[0]['image'] has 4"), m);
    m = refused(() -> Calibration.of(List.of(pair(4, 4), Map.of("image", image(4, 0)))));
    assertEquals("batches[1] has inputs [image] but batches[0] has [image, mask]", m);
  }

  @Test
  void tolerance_outsideZeroToOne_isRefused() {
    Calibration.Builder b = Calibration.builder(digits(1, 2, 0));
    for (double bad : new double[] {0, -0.1, 1.5, Double.NaN, Double.POSITIVE_INFINITY}) {
      assertEquals("tolerance must be in (0, 1] but was " + bad, refused(() -> b.tolerance(bad)));
    }
    assertEquals(1.0, b.tolerance(1).build().tolerance());
  }

  @Test
  void check_acceptsBatchesThatFitTheSpec() {
    Calibration.of(digits(8, 32, 0)).check(TestModels.digits(), 32);
    Calibration.of(List.of(pair(4, 4))).check(twoInputs(), 4);
  }

  /** The GPU test's calibration: the held-out digits, as the demo reads them. */
  @Test
  void heldOutDigits_areTheModelsInput() throws Exception {
    List<int[]> digits = TestModels.heldOutDigits();
    assertEquals(360, digits.size());
    Tensor images = TestModels.digitImages(digits, 1, 2);
    assertEquals(List.of(2L, 1L, 8L, 8L), Arrays.stream(images.shape()).boxed().toList());
    // Row 1 of the file: label 6, pixels 0,0,4,14,...; row 2's last pixel.
    assertEquals(6, digits.get(1)[0]);
    assertEquals(14 / 16f, images.getFloat(0, 0, 0, 3));
    assertEquals(digits.get(2)[64] / 16f, images.getFloat(1, 0, 7, 7));
    Calibration.of(List.of(Map.of("image", images))).check(TestModels.digits(), 2);
  }

  @Test
  void check_namesAnInputTheModelDoesNotTake_andOneMissing() {
    String m = refused(() -> Calibration.of(List.of(Map.of("pixels", image(2, 0))))
        .check(TestModels.digits(), 32));
    assertEquals("calibration batches[0] has input 'pixels', which model 'digits' does not take"
        + " (its inputs are [image])", m);
    m = refused(() -> Calibration.of(List.of(Map.of("image", image(2, 0))))
        .check(twoInputs(), 32));
    assertEquals("calibration batches[0] lacks input 'mask' of model 'pair' (its inputs are"
        + " [image, mask]; given [image])", m);
  }

  @Test
  void check_namesTheDtypeAndShapeExpectedAndGiven() {
    List<Map<String, Tensor>> ints = List.of(Map.of("image",
        Tensor.of(new long[2 * 64], 2, 1, 8, 8)));
    assertEquals("calibration input 'image' of model 'digits' must be float32 but batches[0]'s"
        + " is int64", refused(() -> Calibration.of(ints).check(TestModels.digits(), 32)));
    List<Map<String, Tensor>> wide = new ArrayList<>(digits(1, 2, 0));
    wide.add(Map.of("image", Tensor.of(new float[2 * 3 * 64], 2, 3, 8, 8)));
    assertEquals("calibration input 'image' of model 'digits' must have shape [-1, 1, 8, 8]"
        + " (-1: any size) but batches[1]'s is [2, 3, 8, 8]",
        refused(() -> Calibration.of(wide).check(TestModels.digits(), 32)));
    List<Map<String, Tensor>> flat = List.of(Map.of("image", Tensor.of(new float[2 * 64], 2,
        64)));
    assertTrue(refused(() -> Calibration.of(flat).check(TestModels.digits(), 32))
        .endsWith("but batches[0]'s is [2, 64]"));
  }

  @Test
  void check_refusesRowsAboveTheEnginesLargestBatch() {
    String m = refused(() -> Calibration.of(digits(2, 33, 0)).check(TestModels.digits(), 32));
    assertEquals("calibration batches of model 'digits' have 33 rows, above the engine's"
        + " largest batch 32 (the spec's maxBatchSize, or 32 without batching)", m);
  }

  /** The public entry refuses bad batches before anything native, TensorRT or not. */
  @Test
  void tensorRtInt8_refusesBadCalibration_beforeTensorRt(@TempDir Path dir) throws Exception {
    Path onnx = Files.write(dir.resolve("digits.onnx"), new byte[] {8, 7});
    Optimizer optimizer = Optimizer.builder()
        .cache(ArtifactCache.builder().directory(dir.resolve("cache")).build()).build();
    ModelSpec spec = TestModels.digits().toBuilder().maxBatchSize(16).build();
    String m = refused(() -> optimizer.tensorRt(spec, onnx, Calibration.of(digits(2, 17, 0))));
    assertTrue(m.contains("17 rows, above the engine's largest batch 16"), m);
    m = refused(() -> optimizer.tensorRt(spec, onnx, null));
    assertTrue(m.startsWith("model 'digits': calibration must be given"), m);
    m = refused(() -> optimizer.tensorRt(spec, dir.resolve("none.onnx"),
        Calibration.of(digits(1, 2, 0))));
    assertTrue(m.endsWith("missing"), m);
  }

  @Test
  void sha256_isTheData_notTheObjectsOrTheMapsOrder() {
    Calibration a = Calibration.of(List.of(pair(4, 4), pair(4, 4)));
    Map<String, Tensor> reversed = new LinkedHashMap<>();
    reversed.put("mask", pair(4, 4).get("mask"));
    reversed.put("image", pair(4, 4).get("image"));
    Calibration b = Calibration.of(List.of(reversed, pair(4, 4)));
    assertEquals(a.sha256(), b.sha256());
    assertEquals(a.sha256(), a.toBuilder().tolerance(0.5).build().sha256(),
        "the tolerance is the guard's, not the engine's");

    float[] px = image(4, 1).toFloatArray();
    px[255] += 1e-3f;
    Map<String, Tensor> oneValue = new LinkedHashMap<>(pair(4, 4));
    oneValue.put("image", Tensor.of(px, 4, 1, 8, 8));
    assertNotEquals(a.sha256(), Calibration.of(List.of(pair(4, 4), oneValue)).sha256());
    List<Map<String, Tensor>> reversedBatches = new ArrayList<>(digits(2, 4, 5));
    Collections.reverse(reversedBatches);
    Calibration swapped = Calibration.of(reversedBatches);
    assertNotEquals(Calibration.of(digits(2, 4, 5)).sha256(), swapped.sha256(), "batch order");
    Map<String, Tensor> reshaped = Map.of("image", image(4, 1).reshape(4, 64));
    assertNotEquals(Calibration.of(List.of(Map.of("image", image(4, 1)))).sha256(),
        Calibration.of(List.of(reshaped)).sha256(), "same bytes, another shape");
    assertTrue(a.sha256().matches("[0-9a-f]{64}"), a.sha256());
    assertEquals(Arrays.asList(4, 2), List.of(a.rows(), a.batches().size()));
  }
}
