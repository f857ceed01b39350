package ai.nos.examples;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.Map;

/** Loads a model from its spec file and classifies one 8x8 image (README: "Your own model"). */
public final class YourModel {

  /** A handwritten 7: 8 rows of 8 pixels, 0 (blank) to 16 (ink). */
  static final int[] SEVEN = {
      0, 0, 2, 13, 16, 9, 0, 0,
      0, 0, 12, 12, 7, 16, 3, 0,
      0, 1, 14, 3, 0, 16, 4, 0,
      0, 0, 0, 4, 10, 16, 6, 0,
      0, 0, 0, 13, 16, 16, 9, 0,
      0, 0, 0, 5, 13, 1, 0, 0,
      0, 0, 0, 11, 9, 0, 0, 0,
      0, 0, 1, 16, 4, 0, 0, 0};

  public static void main(String[] args) {
    Path specFile = Path.of(args.length > 0 ? args[0] : "models/digits/digits.json");
    ModelSpec spec = ModelSpec.fromJson(specFile);  // the artifact is read next to the JSON file
    try (Model model = Nos.load(spec)) {            // load once; call from any number of threads
      float[] image = new float[64];
      for (int i = 0; i < 64; i++) {
        image[i] = SEVEN[i] / 16f;                  // scaled as in training
      }
      System.out.println(spec.id() + " on " + model.device() + ": " + predict(model, image));
    }
  }

  /** The most likely digit for one image of 64 values in [0, 1]. */
  static int predict(Model model, float[] image) {
    Tensor input = Tensor.of(image, 1, 1, 8, 8);    // [batch, channel, height, width]
    Map<String, Tensor> outputs = model.infer(Map.of("image", input));
    float[] logits = outputs.get("logits").toFloatArray();  // [1, 10]: one score per digit
    int best = 0;
    for (int digit = 1; digit < logits.length; digit++) {
      if (logits[digit] > logits[best]) {
        best = digit;
      }
    }
    return best;
  }
}
