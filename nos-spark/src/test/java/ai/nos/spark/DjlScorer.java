package ai.nos.spark;

import ai.djl.Device;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.Batchifier;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.CollectionAccumulator;

/**
 * The DJL baseline of {@link SparkExecutorsBench}: a plain {@code mapPartitions} with DJL 0.36's
 * PyTorch engine, as a DJL user writes it without DJL's Spark extension (not in the offline
 * mirror): the TorchScript digit model loaded once per executor JVM into a static holder, one
 * {@link Predictor} per partition (predictors are not thread-safe), batches of 256 rows.
 *
 * <p>Compiled only in the {@code spark-bench} profile, which alone brings DJL (nos-spark's pom);
 * the bench finds it by name. DJL's libtorch (2.7.1) and NOS's (JavaCPP's) must not share a JVM,
 * so the bench runs this job on a cluster of its own. Offline: {@code ai.djl.offline},
 * {@code PYTORCH_VERSION} and {@code PYTORCH_FLAVOR} are set here before the first load, as in
 * the benchmarks module's DjlContender.
 */
final class DjlScorer implements MapPartitionsFunction<Row, Row> {
  private static final long serialVersionUID = 1L;
  private static volatile ZooModel<float[], float[]> model;

  private final String modelPath;
  private final int batch;
  private final CollectionAccumulator<String> loads;

  DjlScorer(String modelPath, int batch, CollectionAccumulator<String> loads) {
    this.modelPath = modelPath;
    this.batch = batch;
    this.loads = loads;
  }

  private ZooModel<float[], float[]> model() {
    ZooModel<float[], float[]> m = model;
    if (m == null) {
      synchronized (DjlScorer.class) {
        m = model;
        if (m == null) {
          System.setProperty("ai.djl.offline", "true");
          System.setProperty("PYTORCH_VERSION", "2.7.1");
          System.setProperty("PYTORCH_FLAVOR", "cpu");
          try {
            m = Criteria.builder().setTypes(float[].class, float[].class)
                .optModelPath(Path.of(modelPath)).optEngine("PyTorch").optDevice(Device.cpu())
                .optTranslator(new Pixels()).build().loadModel();
          } catch (Exception e) {
            throw new IllegalStateException("DJL could not load " + modelPath + ": " + e, e);
          }
          loads.add(SparkEnv.get().executorId());
          model = m;
        }
      }
    }
    return m;
  }

  @Override
  public Iterator<Row> call(Iterator<Row> rows) throws TranslateException {
    List<Row> out = new ArrayList<>();
    try (Predictor<float[], float[]> predictor = model().newPredictor()) {
      List<Row> chunk = new ArrayList<>(batch);
      while (rows.hasNext()) {
        chunk.add(rows.next());
        if (chunk.size() == batch || !rows.hasNext()) {
          float[] px = new float[chunk.size() * 64];
          for (int i = 0; i < chunk.size(); i++) {
            Object image = chunk.get(i).get(2);
            for (int p = 0; p < 64; p++) {
              px[i * 64 + p] = image instanceof Float[] a ? a[p]
                  : ((Number) ((scala.collection.Seq<?>) image).apply(p)).floatValue();
            }
          }
          float[] logits = predictor.predict(px);
          for (int i = 0; i < chunk.size(); i++) {
            Float[] l = new Float[10];
            for (int c = 0; c < 10; c++) {
              l[c] = logits[i * 10 + c];
            }
            Row r = chunk.get(i);
            out.add(RowFactory.create(r.getLong(0), r.getInt(1), r.get(2), l));
          }
          chunk.clear();
        }
      }
    }
    return out.iterator();
  }

  /** Rows of 64 pixels in, {@code [rows, 10]} logits out; the rows are the batch. */
  private static final class Pixels implements Translator<float[], float[]> {
    @Override
    public NDList processInput(TranslatorContext ctx, float[] pixels) {
      return new NDList(ctx.getNDManager().create(pixels, new Shape(pixels.length / 64, 1, 8, 8)));
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
