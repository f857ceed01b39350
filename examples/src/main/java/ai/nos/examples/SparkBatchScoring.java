package ai.nos.examples;

import ai.nos.ModelSpec;
import ai.nos.spark.NosSpark;
import ai.nos.spark.NosTransformer;
import java.nio.file.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * A batch-scoring job: reads a Parquet file of images, classifies them with the digit model on
 * every executor, writes a Parquet file of predictions (and of the rows the model rejected, with
 * their error).
 *
 * <p>Arguments: {@code <in.parquet> <out.parquet> [spec.json]}; the input has an {@code image}
 * column of 64 numbers a row (pixel / 16 of an 8x8 image). With {@code --make-input <out.parquet>}
 * it writes such a file from {@code models/digits/digits-test.csv}, repeated to 100,000 rows.
 * Run it with {@code spark-submit} (README, "NOS inside Apache Spark"); the master comes from
 * spark-submit, else {@code local[*]}.
 */
public final class SparkBatchScoring {
  private SparkBatchScoring() {}

  public static void main(String[] args) throws Exception {
    SparkSession spark = SparkSession.builder().appName("nos-batch-scoring")
        .master(System.getProperty("spark.master", "local[*]")).getOrCreate();
    try {
      if (args.length == 2 && args[0].equals("--make-input")) {
        makeInput(spark, Path.of(System.getProperty("nos.models.dir", "models")), args[1]);
        return;
      }
      if (args.length < 2) {
        throw new IllegalArgumentException("usage: SparkBatchScoring <in.parquet> <out.parquet>"
            + " [spec.json] | --make-input <out.parquet>");
      }
      ModelSpec spec = ModelSpec.fromJson(Path.of(args.length > 2 ? args[2]
          : "models/digits/digits.json"));
      Dataset<Row> images = spark.read().parquet(args[0]);

      NosTransformer digits = new NosTransformer().setSpec(spec)
          .setInputCols("image").setOutputCols("logits")
          .setErrorCol("error")         // a row the model rejects keeps its error, not the job's
          .setBatchSize(256);
      long t0 = System.nanoTime();
      digits.transform(images)
          .selectExpr("*", "array_position(logits, array_max(logits)) - 1 AS predicted")
          .drop("image")
          .write().mode("overwrite").parquet(args[1]);
      double s = (System.nanoTime() - t0) / 1e9;

      Dataset<Row> out = spark.read().parquet(args[1]);
      long rows = out.count();
      long errors = out.filter("error IS NOT NULL").count();
      System.out.printf("scored %d rows in %.1f s (%.0f rows/s), %d with an error%n", rows, s,
          rows / s, errors);
      if (out.columns().length > 0 && java.util.Arrays.asList(out.columns()).contains("label")) {
        System.out.printf("accuracy: %.2f%%%n", 100.0 * out.filter("predicted = label").count()
            / rows);
      }
      NosSpark.loads(spark).forEach(l -> System.out.println("model load: " + l));
    } finally {
      spark.stop();
    }
  }

  private static void makeInput(SparkSession spark, Path models, String out) throws Exception {
    Digits test = Digits.read(models.resolve("digits/digits-test.csv"));
    int n = 100_000;
    java.util.List<Row> rows = new java.util.ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      int k = i % test.size();
      float[] px = test.images(k, 1);
      Float[] boxed = new Float[64];
      for (int p = 0; p < 64; p++) {
        boxed[p] = px[p];
      }
      rows.add(org.apache.spark.sql.RowFactory.create((long) i, test.label(k), boxed));
    }
    var schema = new org.apache.spark.sql.types.StructType()
        .add("id", "long").add("label", "int").add("image", "array<float>");
    spark.createDataFrame(rows, schema).repartition(8).sortWithinPartitions("id").write()
        .mode("overwrite").parquet(out);
    System.out.println("wrote " + n + " rows to " + out);
  }
}
