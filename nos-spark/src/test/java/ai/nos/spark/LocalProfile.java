package ai.nos.spark;

import ai.nos.Fixtures;
import java.util.List;
import java.util.function.Supplier;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.CollectionAccumulator;

/**
 * SparkExecutorsBench's NosTransformer job and its plain baseline in {@code local[1]}, in this
 * JVM, so that one JFR recording ({@code -XX:StartFlightRecording}) sees the task thread and
 * NOS's threads together: {@code LocalProfile [runs]} alternates the two jobs and prints each
 * run's seconds. Not a test.
 */
final class LocalProfile {
  private LocalProfile() {}

  public static void main(String[] args) {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 4;
    List<int[]> held = Fixtures.heldOutDigits();
    SparkSession spark = SparkSession.builder().master("local[1]").appName("nos-spark-profile")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
    try {
      Dataset<Row> images = spark.range(0, 100_000, 1, 8)
          .map(new SparkClusterTest.DigitRow(held), Encoders.row(SparkClusterTest.DIGITS));
      NosTransformer nos = new NosTransformer().setSpec(Fixtures.digits()).setInputCols("image")
          .setOutputCols("logits").setBatchSize(256);
      CollectionAccumulator<String> loads = new CollectionAccumulator<>();
      spark.sparkContext().register(loads, "plain loads");
      SparkExecutorsBench.PlainScorer plain = new SparkExecutorsBench.PlainScorer(
          Fixtures.digitsOn("cpu").toBuilder().id("digits-plain").build().toJson(), loads);
      Supplier<Dataset<Row>> nosJob = () -> nos.transform(images);
      Supplier<Dataset<Row>> plainJob = () -> images.mapPartitions(plain,
          Encoders.row(SparkExecutorsBench.OUT));
      for (int r = 0; r < runs; r++) {
        time("NosTransformer", nosJob);
        time("plain", plainJob);
      }
    } finally {
      spark.stop();
    }
  }

  private static void time(String name, Supplier<Dataset<Row>> job) {
    long t0 = System.nanoTime();
    long n = job.get().selectExpr("array_position(logits, array_max(logits)) - 1 AS predicted")
        .collectAsList().size();
    System.out.printf("%s: %d rows, %.2f s%n", name, n, (System.nanoTime() - t0) / 1e9);
  }
}
