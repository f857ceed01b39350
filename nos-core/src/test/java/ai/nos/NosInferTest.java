package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.internal.torch.TorchRuntime;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Nos.load(spec).infer(...) on the CPU, against the committed models and PyTorch's references. */
final class NosInferTest {

  @Test
  void digits_heldOutAccuracyAtLeast95Percent() {
    List<int[]> rows = Fixtures.heldOutDigits();
    int correct = 0;
    try (Model model = Nos.load(Fixtures.digitsOn("cpu"))) {
      assertEquals(Device.cpu(), model.device());
      for (int start = 0; start < rows.size(); start += 50) {
        int n = Math.min(50, rows.size() - start);
        Tensor logits = model.infer(Fixtures.digitBatch(rows, start, n)).get("logits");
        assertArrayEquals(new long[] {n, 10}, logits.shape());
        float[] v = logits.toFloatArray();
        for (int i = 0; i < n; i++) {
          if (Fixtures.argmax(v, i * 10, 10) == rows.get(start + i)[0]) {
            correct++;
          }
        }
      }
    }
    double accuracy = (double) correct / rows.size();
    assertEquals(360, rows.size());
    assertTrue(accuracy >= 0.95, "accuracy " + accuracy);
  }

  @Test
  void autoDevice_withoutCuda_runsOnCpu() {
    assumeTrue(TorchRuntime.cudaDeviceCount() == 0, "a CUDA device is present");
    try (Model model = Nos.load(Fixtures.digits())) {
      assertEquals(Device.cpu(), model.device());
    }
  }

  @Test
  void twoInputsTwoOutputs_matchPyTorch() throws IOException {
    JsonNode ref = expected().get("two_in_two_out");
    try (Model model = Nos.load(Fixtures.twoInTwoOut())) {
      Map<String, Tensor> out = model.infer(Map.of(
          "a", Tensor.of(floats(ref.get("a")), 2, 4), "b", Tensor.of(floats(ref.get("b")), 2, 4)));
      assertEquals(List.of("sum", "mix"), List.copyOf(out.keySet()));
      assertArrayEquals(floats(ref.get("out0")), out.get("sum").toFloatArray(), 1e-6f);
      assertArrayEquals(floats(ref.get("out1")), out.get("mix").toFloatArray(), 1e-5f);
    }
  }

  @Test
  void dictOutputs_mapByName() {
    try (Model model = Nos.load(Fixtures.dictOut())) {
      Map<String, Tensor> out = model.infer(Tensor.of(new float[] {1, 2, 3, -4, 5, 6}, 2, 3));
      assertArrayEquals(new float[] {2, 4, 6, -8, 10, 12}, out.get("double").toFloatArray());
      assertArrayEquals(new float[] {6, 7}, out.get("sum").toFloatArray());
      assertArrayEquals(new long[] {2, 1}, out.get("sum").shape());
    }
  }

  @Test
  void int64TokenIds_matchPyTorch() throws IOException {
    JsonNode ref = expected().get("tokens");
    long[] ids = new long[ref.get("ids").size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = ref.get("ids").get(i).asLong();
    }
    try (Model model = Nos.load(Fixtures.tokens())) {
      Tensor out = model.infer(Tensor.of(ids, 2, 3)).get("embedding");
      assertArrayEquals(floats(ref.get("out")), out.toFloatArray(), 1e-6f);
      // The sequence dim is dynamic: another length runs too.
      assertArrayEquals(new long[] {1, 8}, model.infer(Tensor.of(new long[] {5}, 1, 1))
          .get("embedding").shape());
    }
  }

  @ParameterizedTest
  @EnumSource(DType.class)
  void everyDType_roundTripsThroughTheModel(DType dtype) {
    Tensor in = sample(dtype);
    try (Model model = Nos.load(Fixtures.identity(dtype))) {
      Tensor out = model.infer(in).get("y");
      assertEquals(in, out);
    }
  }

  @Test
  void bf16Precision_castsWeightsAndInputs_returnsSpecDtype() throws IOException {
    JsonNode ref = expected().get("two_in_two_out");
    ModelSpec spec = Fixtures.twoInTwoOut().toBuilder().precision(Precision.BF16).build();
    try (Model model = Nos.load(spec)) {
      Map<String, Tensor> out = model.infer(Map.of(
          "a", Tensor.of(floats(ref.get("a")), 2, 4), "b", Tensor.of(floats(ref.get("b")), 2, 4)));
      assertEquals(DType.FLOAT32, out.get("mix").dtype());
      float[] want = floats(ref.get("out1"));
      float[] got = out.get("mix").toFloatArray();
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], 1e-2 * Math.max(1, Math.abs(want[i])), "element " + i);
      }
    }
  }

  @Test
  void inputTensor_isNotChangedByTheCall() {
    Tensor in = Tensor.of(new float[] {1, 2, 3}, 1, 3);
    Tensor copy = Tensor.of(in.toFloatArray(), 1, 3);
    try (Model model = Nos.load(Fixtures.dictOut())) {
      model.infer(in);
    }
    assertEquals(copy, in);
  }

  static Tensor sample(DType dtype) {
    switch (dtype) {
      case FLOAT32:
        return Tensor.of(new float[] {1.5f, -2f, 0f, 3.25f, Float.NaN, -0f}, 2, 3);
      case FLOAT16:
        return Tensor.ofFloat16(new float[] {1.5f, -2f, 0f, 3.25f, 65504f, -0f}, 2, 3);
      case BFLOAT16:
        return Tensor.ofBFloat16(new float[] {1.5f, -2f, 0f, 3.25f, 1e30f, -0f}, 2, 3);
      case INT64:
        return Tensor.of(new long[] {1, -2, Long.MAX_VALUE, Long.MIN_VALUE, 0, 7}, 2, 3);
      case INT32:
        return Tensor.of(new int[] {1, -2, Integer.MAX_VALUE, Integer.MIN_VALUE, 0, 7}, 2, 3);
      case UINT8:
        return Tensor.of(new byte[] {0, 1, (byte) 255, (byte) 128, 7, 9}, 2, 3);
      case BOOL:
        return Tensor.of(new boolean[] {true, false, true, true, false, false}, 2, 3);
      default:
        throw new AssertionError(dtype);
    }
  }

  static JsonNode expected() throws IOException {
    return new ObjectMapper().readTree(Fixtures.fixture("expected.json").toFile());
  }

  static float[] floats(JsonNode array) {
    float[] out = new float[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) array.get(i).asDouble();
    }
    return out;
  }
}
