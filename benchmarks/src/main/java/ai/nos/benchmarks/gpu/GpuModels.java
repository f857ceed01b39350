package ai.nos.benchmarks.gpu;

import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/** Specs and inputs of the models made by scripts/models/make_gpu_models.py. */
final class GpuModels {
  private GpuModels() {}

  static ModelSpec resnet50(Path dir, String id, Precision precision, int maxBatch) {
    return image(dir.resolve("resnet50.pt"), id, precision, maxBatch);
  }

  static ModelSpec vit(Path dir, String id, int maxBatch) {
    return image(dir.resolve("vit_b_16.pt"), id, Precision.FP32, maxBatch);
  }

  static ModelSpec image(Path file, String id, Precision precision, int maxBatch) {
    return ModelSpec.builder().id(id).artifact(file).precision(precision).maxBatchSize(maxBatch)
        .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
            .output("logits", DType.FLOAT32, -1, 1000).build()).build();
  }

  static ModelSpec bert(Path dir, String id, int maxBatch) {
    return ModelSpec.builder().id(id).artifact(dir.resolve("bert_base.pt")).maxBatchSize(maxBatch)
        .signature(Signature.builder()
            .input("input_ids", DType.INT64, -1, 128).input("attention_mask", DType.INT64, -1, 128)
            .output("last_hidden_state", DType.FLOAT32, -1, 128, 768)
            .output("pooler_output", DType.FLOAT32, -1, 768).build()).build();
  }

  static Map<String, Tensor> inputs(ModelSpec spec, int batch, long seed) {
    Random r = new Random(seed);
    if (spec.signature().input("image").isPresent()) {
      float[] px = new float[batch * 3 * 224 * 224];
      for (int i = 0; i < px.length; i++) {
        px[i] = (float) r.nextGaussian();
      }
      return Map.of("image", Tensor.of(px, batch, 3, 224, 224));
    }
    long[] ids = new long[batch * 128];
    long[] mask = new long[batch * 128];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = r.nextInt(30522);
      mask[i] = 1;
    }
    return Map.of("input_ids", Tensor.of(ids, batch, 128), "attention_mask",
        Tensor.of(mask, batch, 128));
  }
}
