package ai.nos.spark;

import ai.nos.Model;
import ai.nos.Tensor;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.util.CollectionAccumulator;

/**
 * The SQL function {@code nos_predict(modelId, value)}: one row, one call, on the executor's shared
 * copy. A row the model cannot take fails the task with a message naming the model and the value's
 * problem, as Spark SQL functions do. Thread-safe: tasks of an executor call one instance at once.
 */
final class PredictFunction implements UDF2<String, Object, Object> {
  private static final long serialVersionUID = 1L;

  private final Map<String, ShippedSpec> specs;
  private final Map<String, TensorCodec[]> codecs;
  private final CollectionAccumulator<ModelLoad> loads;

  PredictFunction(Map<String, ShippedSpec> specs, Map<String, TensorCodec[]> codecs,
      CollectionAccumulator<ModelLoad> loads) {
    this.specs = Map.copyOf(specs);
    this.codecs = Map.copyOf(codecs);
    this.loads = loads;
  }

  @Override
  public Object call(String modelId, Object value) {
    ShippedSpec shipped = modelId == null ? null : specs.get(modelId);
    if (shipped == null) {
      throw new IllegalArgumentException("nos_predict: no model '" + modelId + "' is registered;"
          + " registered: " + specs.keySet());
    }
    TensorCodec[] c = codecs.get(modelId);
    Object row;
    try {
      row = c[0].rowValue(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("nos_predict('" + modelId + "'): " + e.getMessage(), e);
    }
    List<Model> models = ExecutorModels.forTask(shipped, loads);
    Model model = models.get((int) (Thread.currentThread().getId() % models.size()));
    Tensor input = c[0].batch(List.of(row), c[0].rowShape(row));
    try {
      Map<String, Tensor> out = model.inferAsync(input).join();
      return c[1].split(out.get(c[1].name()), 1)[0];
    } catch (CompletionException e) {
      throw new IllegalStateException("nos_predict('" + modelId + "') failed: "
          + e.getCause().getMessage(), e.getCause());
    }
  }

}
