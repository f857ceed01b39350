package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * The traced fixtures of {@code TracedConstantsGpuTest} (scripts/models/make_traced_fixtures.py)
 * on the CPU, where their constants and inputs share a device: both load and compute what their
 * code says.
 */
final class TracedConstantsTest {

  static ModelSpec shapeConstant(String device, String id) {
    return ModelSpec.builder().id(id).artifact(Fixtures.fixture("shape_constant.pt"))
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 4, 4, 4)
            .output("y", DType.FLOAT32, -1, 4).build())
        .device(device).build();
  }

  static ModelSpec deviceConstant(String device, String id) {
    return ModelSpec.builder().id(id).artifact(Fixtures.fixture("device_constant.pt"))
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 4)
            .output("y", DType.FLOAT32, -1, 4).build())
        .device(device).build();
  }

  /** {@code 0, 1, 2, ...} divided by the element count, in the given shape. */
  static Tensor ramp(long... shape) {
    int n = 1;
    for (long d : shape) {
      n *= (int) d;
    }
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = i / (float) n;
    }
    return Tensor.of(v, shape);
  }

  @Test
  void deviceConstant_addsItsVector() {
    try (Model m = Nos.load(deviceConstant("cpu", "dev-const"))) {
      Tensor out = m.infer(Tensor.of(new float[] {0, 0, 0, 0, 10, 10, 10, 10}, 2, 4)).get("y");
      assertArrayEquals(new float[] {1, 2, 3, 4, 11, 12, 13, 14}, out.toFloatArray());
    }
  }

  @Test
  void shapeConstant_runsAtEveryBatchSize_withRowsIndependent() {
    try (Model m = Nos.load(shapeConstant("cpu", "shape-const"))) {
      Tensor three = ramp(3, 4, 4, 4);
      float[] all = m.infer(three).get("y").toFloatArray();
      assertEquals(12, all.length);
      // Row 0 alone gives row 0 of the batch: the model's patch count is per image.
      float[] first = m.infer(Tensor.of(java.util.Arrays.copyOf(three.toFloatArray(), 64),
          1, 4, 4, 4)).get("y").toFloatArray();
      for (int i = 0; i < 4; i++) {
        assertEquals(all[i], first[i], 1e-6f, "output " + i);
      }
    }
  }
}
