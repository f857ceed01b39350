package ai.nos.benchmarks.djl;

import ai.djl.Device;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.Batchifier;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import ai.nos.benchmarks.DigitInputs;

/**
 * DJL 0.36's PyTorch engine on the digit CNN, the way its documentation loads a TorchScript file:
 * a {@link Criteria} with a translator from the caller's {@code float[]} pixels to the logits as a
 * {@code float[]} (the translator's context frees each call's native arrays), one
 * {@link Predictor} per thread. Offline: libtorch comes from the {@code pytorch-native-cpu} jar on
 * the class path ({@code ai.djl.offline}, {@code PYTORCH_VERSION}, {@code PYTORCH_FLAVOR}, which
 * DJL reads from the environment or the system properties; the defaults are set here if the
 * command line did not set them).
 */
final class DjlContender extends Contender {
  private final ZooModel<float[], float[]> model;

  DjlContender() {
    setDefault("ai.djl.offline", "true");
    setDefault("PYTORCH_VERSION", "2.7.1");
    setDefault("PYTORCH_FLAVOR", "cpu");
    try {
      model = Criteria.builder().setTypes(float[].class, float[].class)
          .optModelPath(DigitInputs.models().resolve("digits/digits.pt"))
          .optEngine("PyTorch").optDevice(Device.cpu())
          .optTranslator(new Pixels()).build().loadModel();
    } catch (Exception e) {
      throw new IllegalStateException("DJL could not load digits.pt: " + e, e);
    }
  }

  private static void setDefault(String key, String value) {
    if (System.getProperty(key) == null && System.getenv(key) == null) {
      System.setProperty(key, value);
    }
  }

  @Override
  Caller caller(int batch) {
    Predictor<float[], float[]> predictor = model.newPredictor();
    float[] pixels = DigitInputs.pixels(batch);
    return new Caller() {
      @Override
      public Object call() {
        return logits();
      }

      @Override
      public float[] logits() {
        try {
          return predictor.predict(pixels);
        } catch (TranslateException e) {
          throw new IllegalStateException(e);
        }
      }

      @Override
      public void close() {
        predictor.close();
      }
    };
  }

  @Override
  int intraOpThreads() {
    return JniUtils.getNumThreads();
  }

  @Override
  public void close() {
    model.close();
  }

  /**
   * Rows of 64 pixels in, {@code [rows, 10]} logits out; no batchifier (the rows are the batch).
   */
  private static final class Pixels implements Translator<float[], float[]> {
    @Override
    public NDList processInput(TranslatorContext ctx, float[] pixels) {
      NDArray images = ctx.getNDManager().create(pixels, new Shape(pixels.length / 64, 1, 8, 8));
      return new NDList(images);
    }

    @Override
    public float[] processOutput(TranslatorContext ctx, NDList list) {
      return list.singletonOrThrow().toFloatArray();
    }

    @Override
    public Batchifier getBatchifier() {
      return null;
    }
  }
}
