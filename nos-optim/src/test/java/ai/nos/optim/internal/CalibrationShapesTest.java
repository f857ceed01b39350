package ai.nos.optim.internal;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * INT8 calibration batches are checked against the network TensorRT parsed, not only against the
 * spec: a batch of another shape than the network reads would have TensorRT read past a device
 * buffer (TensorRt.checkCalibrationShapes, called before any buffer is handed over). CPU only:
 * the network's dimensions come in as plain arrays.
 */
final class CalibrationShapesTest {
  private static final Path ONNX = Path.of("model.onnx");

  private static Map<String, long[]> network(long... imageDims) {
    Map<String, long[]> m = new LinkedHashMap<>();
    m.put("image", imageDims);
    return m;
  }

  private static TensorRt.Int8 batches(int rows, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    Tensor t = Tensor.of(new float[(int) n], shape);
    return new TensorRt.Int8(List.of(Map.of("image", t), Map.of("image", t)), rows);
  }

  @Test
  void batchesOfTheNetworksShape_atTheCalibrationRows_pass() {
    assertDoesNotThrow(() -> TensorRt.checkCalibrationShapes(network(-1, 1, 8, 8),
        batches(4, 4, 1, 8, 8), ONNX));
    // a network with a fixed batch reads exactly that many rows
    assertDoesNotThrow(() -> TensorRt.checkCalibrationShapes(network(2, 1, 8, 8),
        batches(2, 2, 1, 8, 8), ONNX));
  }

  @Test
  void aDimensionTheOnnxFixesOtherwise_isRefused_namingBoth() {
    // The spec said [-1, 1, -1, -1], so 16x16 images passed its check; the ONNX file fixes 8x8.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorRt.checkCalibrationShapes(network(-1, 1, 8, 8), batches(4, 4, 1, 16, 16),
            ONNX));
    assertTrue(e.getMessage().contains("input 'image'"), e.getMessage());
    assertTrue(e.getMessage().contains("[4, 1, 8, 8]"), e.getMessage());
    assertTrue(e.getMessage().contains("[4, 1, 16, 16]"), e.getMessage());
    assertTrue(e.getMessage().contains("batch 0"), e.getMessage());
  }

  @Test
  void rowsOtherThanAFixedBatch_orARankOtherThanTheNetworks_areRefused() {
    assertThrows(IllegalArgumentException.class, () -> TensorRt.checkCalibrationShapes(
        network(2, 1, 8, 8), batches(4, 4, 1, 8, 8), ONNX));
    assertThrows(IllegalArgumentException.class, () -> TensorRt.checkCalibrationShapes(
        network(-1, 1, 8, 8), batches(4, 4, 64), ONNX));
  }

  @Test
  void anInputTheBatchesLack_isRefused() {
    Map<String, long[]> two = network(-1, 1, 8, 8);
    two.put("mask", new long[] {-1, 8});
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TensorRt.checkCalibrationShapes(two, batches(4, 4, 1, 8, 8), ONNX));
    assertTrue(e.getMessage().contains("'mask'"), e.getMessage());
  }
}
