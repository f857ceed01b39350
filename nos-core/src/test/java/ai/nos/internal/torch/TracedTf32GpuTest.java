package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * On a GPU, an FP32 model traced with PyTorch's default TF32 flag runs its convolutions in fp32
 * ({@link TracedTf32}): models/whisper-micro's encoder (two conv1d traced with TF32 on, then
 * GELU and attention) on cuda:0 is within 1e-4 of its CPU result (max abs / max |cpu|). With its
 * convolutions in TF32 (10 bits of mantissa) the first layer alone is ~1e-3 off.
 */
@Tag("gpu")
final class TracedTf32GpuTest {
  private static final Path ENCODER = Path.of(System.getProperty("nos.models.dir", "../models"),
      "whisper-micro", "encoder.pt");

  @Test
  void fp32Trace_onCuda_matchesTheCpu() {
    float[] mel = new float[80 * 3000];
    java.util.Random r = new java.util.Random(7);
    for (int i = 0; i < mel.length; i++) {
      mel[i] = (float) r.nextGaussian();
    }
    Map<String, Tensor> in = Map.of("mel", Tensor.of(mel, 1, 80, 3000));
    float[] cpu;
    float[] cuda;
    try (TorchModel m = TorchModel.load(spec("cpu"))) {
      cpu = m.infer(in).get("states").toFloatArray();
    }
    try (TorchModel m = TorchModel.load(spec("cuda:0"))) {
      cuda = m.infer(in).get("states").toFloatArray();
    }
    double diff = 0;
    double max = 0;
    for (int i = 0; i < cpu.length; i++) {
      diff = Math.max(diff, Math.abs(cuda[i] - cpu[i]));
      max = Math.max(max, Math.abs(cpu[i]));
    }
    double rel = diff / max;
    System.out.printf("TracedTf32GpuTest: whisper-micro encoder fp32, cuda vs cpu %.3g%n", rel);
    assertTrue(rel <= 1e-4, "cuda vs cpu " + rel);
  }

  private static ModelSpec spec(String device) {
    return ModelSpec.builder().id("encoder-" + device.replace(':', '-')).artifact(ENCODER)
        .signature(Signature.builder().input("mel", DType.FLOAT32, -1, 80, 3000)
            .output("states", DType.FLOAT32, -1, 1500, 16).build())
        .device(device).build();
  }
}
