package ai.nos.spark;

import ai.nos.ModelSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.util.CollectionAccumulator;

/**
 * Entry points of NOS in Spark beside {@link NosTransformer}.
 *
 * <p>Two shapes, for the two kinds of Spark user. The Dataset side is a Spark ML
 * {@link NosTransformer} (and {@link #predict}, the same in one call): it takes a partition's rows
 * in batches, fits ML pipelines, and saves and loads like any stage. The SQL side is a function,
 * {@code nos_predict('model-id', column)} ({@link #registerFunction}), for those who write SQL; a
 * Spark SQL function sees one row at a time, so its calls are batched only across the concurrent
 * tasks of an executor (with the spec's batching on). For throughput, use the transformer.
 *
 * <p>Thread-safe.
 */
public final class NosSpark {
  private static final Map<SparkContext, CollectionAccumulator<ModelLoad>> LOADS =
      new WeakHashMap<>();

  private NosSpark() {}

  /**
   * Scores {@code df} with the model: the rows of {@code df} with one array column per output.
   * Same as {@code new NosTransformer().setSpec(spec).setInputCols(..).setOutputCols(..)
   * .transform(df)}.
   *
   * @throws IllegalArgumentException if a column is missing, of a type the input cannot take, or
   *     the counts do not match the signature (the message names them)
   */
  public static Dataset<Row> predict(Dataset<?> df, ModelSpec spec, String[] inputCols,
      String[] outputCols) {
    return new NosTransformer().setSpec(spec).setInputCols(inputCols).setOutputCols(outputCols)
        .transform(df);
  }

  /**
   * Registers the SQL function {@code name(modelId, column)} over these models: it returns the
   * single output of the model with that id for the row's value (an array column, as the
   * transformer's). The models must each have one input and one output, all outputs of one Spark
   * type (the function's return type is fixed when it is registered). Artifacts are shipped as
   * the transformer ships them.
   *
   * @throws IllegalArgumentException if no spec is given, two share an id, a model has more than
   *     one input or output, or their outputs' types differ (the message names the models)
   */
  public static void registerFunction(SparkSession spark, String name, ModelSpec... specs) {
    if (spark == null || name == null || name.isBlank() || specs == null || specs.length == 0) {
      throw new IllegalArgumentException("registerFunction needs a session, a name and at least"
          + " one spec but got " + spark + ", '" + name + "', "
          + (specs == null ? null : specs.length + " specs"));
    }
    Map<String, ShippedSpec> byId = new LinkedHashMap<>();
    Map<String, TensorCodec[]> codecs = new LinkedHashMap<>();
    DataType type = null;
    String typeOf = null;
    for (int i = 0; i < specs.length; i++) {
      if (specs[i] == null) {
        throw new IllegalArgumentException("registerFunction '" + name + "': specs[" + i
            + "] must not be null");
      }
    }
    for (ModelSpec s : specs) {
      if (s.signature().inputs().size() != 1 || s.signature().outputs().size() != 1) {
        throw new IllegalArgumentException("model '" + s.id() + "' has inputs "
            + s.signature().inputNames() + " and outputs " + s.signature().outputNames() + "; the"
            + " SQL function takes models of one input and one output (use NosTransformer for"
            + " others)");
      }
      TensorCodec in = TensorCodec.of(s.id(), s.signature().inputs().get(0));
      TensorCodec out = TensorCodec.of(s.id(), s.signature().outputs().get(0));
      if (type != null && !type.equals(out.sparkType())) {
        throw new IllegalArgumentException("model '" + s.id() + "' returns "
            + out.sparkType().simpleString() + " but model '" + typeOf + "' returns "
            + type.simpleString() + "; register them under two names");
      }
      type = out.sparkType();
      typeOf = s.id();
      if (byId.put(s.id(), ShippedSpec.ship(spark, s, true)) != null) {
        throw new IllegalArgumentException("two specs share the id '" + s.id() + "'");
      }
      codecs.put(s.id(), new TensorCodec[] {in, out});
    }
    spark.udf().register(name, new PredictFunction(byId, codecs,
        loadsAccumulator(spark.sparkContext())), type);
  }

  /**
   * Every model load the executors of this session have reported so far, in the order their
   * tasks ended: one a copy and executor, unless the manager evicted a copy and loaded it again.
   * A load is reported when the task that made it ends (failed tasks included).
   */
  public static List<ModelLoad> loads(SparkSession spark) {
    return new ArrayList<>(loadsAccumulator(spark.sparkContext()).value());
  }

  /** The accumulator of one SparkContext, registered with it on first use. */
  static synchronized CollectionAccumulator<ModelLoad> loadsAccumulator(SparkContext sc) {
    return LOADS.computeIfAbsent(sc, c -> {
      CollectionAccumulator<ModelLoad> acc = new CollectionAccumulator<>();
      c.register(acc, "nos model loads");
      return acc;
    });
  }
}
