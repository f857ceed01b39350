package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Fixtures;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The in-place move behind parking, on the CPU: every tensor a module computes with is found,
 * frozen graph constants included, and after its storage is swapped the interpreter computes
 * with the new storage alone.
 */
final class ModuleWeightsTest {
  static final Map<String, Tensor> IMAGE = Map.of("image",
      Tensor.of(random(64), 1, 1, 8, 8));

  static float[] random(int n) {
    java.util.Random r = new java.util.Random(7);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = r.nextFloat();
    }
    return v;
  }

  @Test
  void plainModule_findsParametersAndBuffers() {
    checkMovedStorageIsWhatRuns(Fixtures.digitsOn("cpu"));
  }

  @Test
  void frozenModule_findsTheGraphConstants() {
    checkMovedStorageIsWhatRuns(Fixtures.digitsOn("cpu").toBuilder()
        .optimize(Optimization.FREEZE).build());
  }

  private static void checkMovedStorageIsWhatRuns(ModelSpec spec) {
    try (TorchModel model = TorchModel.load(spec)) {
      float[] before = model.infer(IMAGE).get("logits").toFloatArray();
      try (ModuleWeights weights = ModuleWeights.of(model.module())) {
        assertNotNull(weights);
        assertEquals(model.parameterBytes(), weights.bytes(),
            "every weight found once: " + weights.count() + " tensors");
        List<org.bytedeco.pytorch.Tensor> old = new ArrayList<>();
        for (var t : weights.tensors()) {
          old.add(t.detach());
        }
        weights.copyAllOnHost();
        // The storage the module had before is wiped: if any holder still read it, the outputs
        // would change.
        for (var o : old) {
          o.zero_();
        }
        float[] after = model.infer(IMAGE).get("logits").toFloatArray();
        assertArrayEquals(before, after);
        for (var t : weights.tensors()) {
          t.detach().zero_();
        }
        float[] wiped = model.infer(IMAGE).get("logits").toFloatArray();
        assertTrue(java.util.Arrays.equals(wiped, new float[wiped.length]),
            "the moved storage is what the model computes with");
        old.forEach(org.bytedeco.pytorch.Tensor::close);
      }
    }
  }

  @Test
  void parkAndRestoreOnTheCpu_sameOutputs() {
    TorchModel model = TorchModel.load(Fixtures.digitsOn("cpu").toBuilder()
        .optimize(Optimization.FREEZE).build());
    float[] before = model.infer(IMAGE).get("logits").toFloatArray();
    ParkedModel parked = model.park();
    assertNotNull(parked);
    assertEquals(model.parameterBytes(), parked.hostBytes());
    try (TorchModel back = parked.restore(ai.nos.Device.cpu())) {
      assertArrayEquals(before, back.infer(IMAGE).get("logits").toFloatArray());
      assertEquals(List.of("freeze"), back.optimizations());
    }
  }
}
