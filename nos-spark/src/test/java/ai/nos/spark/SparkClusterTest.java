package ai.nos.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * NOS in a real Spark standalone cluster: a master and two workers as separate JVMs on loopback,
 * one executor of one core on each (issue 21 asks for two workers). The digit model scores
 * {@code nos.spark.rows} rows (the 360 held-out images repeated; 100,000 by default) and every
 * prediction is checked against the same model run in this JVM. The daemons and executors run
 * with the client compiler only: short jobs on two shared cores, where C2's threads competed with
 * the tasks (about 30 s for the class on the quiet CI VM).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
final class SparkClusterTest {
  private static final int ROWS = Integer.getInteger("nos.spark.rows", 100_000);
  static final StructType DIGITS = new StructType()
      .add("id", DataTypes.LongType, false)
      .add("label", DataTypes.IntegerType, false)
      .add("image", DataTypes.createArrayType(DataTypes.FloatType, false), false);

  @TempDir
  static Path dir;
  static LocalCluster cluster;
  static SparkSession spark;
  static final Map<Long, String> TASK_EXECUTORS = new ConcurrentHashMap<>();
  static List<int[]> held;
  static int[] reference;

  @BeforeAll
  static void start() throws Exception {
    held = Fixtures.heldOutDigits();
    reference = new int[held.size()];
    try (Model m = Nos.load(Fixtures.digitsOn("cpu"))) {
      float[] logits = m.infer(Fixtures.digitBatch(held, 0, held.size())).get("logits")
          .toFloatArray();
      for (int i = 0; i < held.size(); i++) {
        reference[i] = argmax(logits, i * 10);
      }
    }
    cluster = LocalCluster.start(dir, 2, 1, "1g");
    String opens = System.getProperty("nos.spark.opens", "");
    spark = SparkSession.builder().appName("nos-spark-test").master(cluster.masterUrl())
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.executor.cores", "1")
        .config("spark.cores.max", "2")
        .config("spark.executor.memory", "768m")
        // Short jobs on two shared cores: the client compiler alone warms the executors up
        // sooner than tiered compilation, whose C2 threads compete with the tasks.
        .config("spark.executor.extraJavaOptions", opens
            + " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.executor.extraClassPath", LocalCluster.executorClassPath())
        .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
        .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "120s")
        .config("spark.task.maxFailures", "2")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.local.dir", dir.resolve("local").toString())
        .getOrCreate();
    spark.sparkContext().addSparkListener(new SparkListener() {
      @Override
      public void onTaskEnd(SparkListenerTaskEnd end) {
        TASK_EXECUTORS.put(end.taskInfo().taskId(), end.taskInfo().executorId());
      }
    });
  }

  @AfterAll
  static void stop() {
    try {
      if (spark != null) {
        spark.stop();
      }
    } finally {
      if (cluster != null) {
        cluster.close();
        try {
          cluster.keepLogs(Path.of("target", "spark-cluster-logs"));
        } catch (java.io.IOException e) {
          System.err.println("could not keep the cluster's logs: " + e);
        }
      }
    }
  }

  @Test
  @Order(1)
  void digits_manyRows_twoExecutors_sameAsInProcess_oneLoadPerExecutor() {
    Dataset<Row> images = spark.range(0, ROWS, 1, 8).map(new DigitRow(held), Encoders.row(DIGITS));
    NosTransformer nos = new NosTransformer().setSpec(Fixtures.digits()).setInputCols("image")
        .setOutputCols("logits").setBatchSize(256);
    long t0 = System.nanoTime();
    List<Row> out = nos.transform(images)
        .selectExpr("id", "label", "array_position(logits, array_max(logits)) - 1 AS predicted")
        .collectAsList();
    double seconds = (System.nanoTime() - t0) / 1e9;

    assertEquals(ROWS, out.size());
    long correct = 0;
    long expectedCorrect = 0;
    for (int i = 0; i < ROWS; i++) {
      Row r = out.get(i);
      assertEquals(i, r.getLong(0), "row order");
      int k = i % held.size();
      assertEquals(held.get(k)[0], r.getInt(1));
      assertEquals(reference[k], (int) r.getLong(2), "prediction of row " + i);
      correct += r.getLong(2) == r.getInt(1) ? 1 : 0;
      expectedCorrect += reference[k] == held.get(k)[0] ? 1 : 0;
    }
    assertEquals(expectedCorrect, correct);
    long demoCorrect = 0;
    for (int k = 0; k < held.size(); k++) {
      demoCorrect += reference[k] == held.get(k)[0] ? 1 : 0;
    }
    double demoAccuracy = (double) demoCorrect / held.size();
    assertTrue(demoAccuracy > 0.9, "the digit model's held-out accuracy is " + demoAccuracy);

    List<ModelLoad> loads = NosSpark.loads(spark);
    Map<String, Long> perExecutor = loads.stream()
        .collect(Collectors.groupingBy(ModelLoad::executorId, TreeMap::new,
            Collectors.counting()));
    Set<String> ranTasks = new TreeSet<>(TASK_EXECUTORS.values());
    assertEquals(2, ranTasks.size(), "executors that ran tasks: " + ranTasks);
    assertEquals(ranTasks, perExecutor.keySet(), "loads: " + loads);
    perExecutor.forEach((e, n) -> assertEquals(1L, n, "loads of executor " + e + ": " + loads));

    System.out.printf("nos-spark cluster run: %d rows over executors %s in %.1f s (%.0f rows/s,"
        + " first load included); accuracy %.2f%% (demo: %.2f%%); loads %s%n", out.size(),
        ranTasks, seconds, out.size() / seconds, 100.0 * correct / ROWS, 100 * demoAccuracy,
        loads);
  }

  @Test
  @Order(2)
  void errorColumn_keepsEveryRow_onlyTheRejectedOnesGetAnError() {
    Dataset<Row> xs = spark.createDataFrame(xRows(), xSchema()).coalesce(1);
    List<Row> out = new NosTransformer().setSpec(Fixtures.raises()).setInputCols("x")
        .setOutputCols("y").setErrorCol("error").setBatchSize(4).transform(xs)
        .orderBy("id").collectAsList();
    assertEquals(10, out.size());
    for (Row r : out) {
      int id = (int) r.getLong(0);
      if (id == 3) {
        assertNull(r.get(2));
        assertTrue(r.getString(3).contains("negative input not allowed"), r.getString(3));
      } else if (id == 5) {
        assertNull(r.get(2));
        assertTrue(r.getString(3).contains("takes 2 elements a row") && r.getString(3)
            .contains("has 3"), r.getString(3));
      } else if (id == 7) {
        assertNull(r.get(2));
        assertTrue(r.getString(3).contains("null"), r.getString(3));
      } else {
        assertNull(r.get(3), "error of row " + id);
        assertEquals(List.of(3f * id, 3f * (id + 1)), r.getList(2), "y of row " + id);
      }
    }
  }

  @Test
  @Order(3)
  void noErrorColumn_aRejectedRowFailsTheJob_namingIt() {
    Dataset<Row> xs = spark.createDataFrame(xRows().subList(0, 5), xSchema()).coalesce(1);
    Exception e = assertThrows(Exception.class, () -> new NosTransformer()
        .setSpec(Fixtures.raises()).setInputCols("x").setOutputCols("y").setBatchSize(8)
        .transform(xs).collectAsList());
    String all = messages(e);
    assertTrue(all.contains("negative input not allowed") && all.contains("row 0 of the"
        + " partition (5 rows from there)"), all);
  }

  @Test
  @Order(4)
  void wrongDigest_theExecutorsRefuseTheArtifact() {
    ModelSpec spec = Fixtures.digits();
    ModelSpec wrong = spec.toBuilder().artifact(spec.artifact().withSha256("0".repeat(64)))
        .build();
    Dataset<Row> images = spark.range(0, 10, 1, 1).map(new DigitRow(held), Encoders.row(DIGITS));
    Exception e = assertThrows(Exception.class, () -> new NosTransformer().setSpec(wrong)
        .setInputCols("image").setOutputCols("logits").transform(images).collectAsList());
    assertTrue(messages(e).contains("sha256"), messages(e));
  }

  @Test
  @Order(5)
  void sqlFunction_scoresLikeTheModel() {
    NosSpark.registerFunction(spark, "nos_predict", Fixtures.digits());
    spark.range(0, held.size(), 1, 2).map(new DigitRow(held), Encoders.row(DIGITS))
        .createOrReplaceTempView("digits");
    List<Row> out = spark.sql("SELECT id, nos_predict('digits', image) AS logits FROM digits"
        + " ORDER BY id").collectAsList();
    assertEquals(held.size(), out.size());
    for (Row r : out) {
      List<Float> logits = r.getList(1);
      float[] f = new float[logits.size()];
      for (int i = 0; i < f.length; i++) {
        f[i] = logits.get(i);
      }
      assertEquals(reference[(int) r.getLong(0)], argmax(f, 0), "row " + r.getLong(0));
    }
    Exception e = assertThrows(Exception.class,
        () -> spark.sql("SELECT nos_predict('nope', image) FROM digits").collectAsList());
    assertTrue(messages(e).contains("no model 'nope' is registered"), messages(e));
    // a null among the specs is named by its position (was a bare NullPointerException)
    IllegalArgumentException nullSpec = assertThrows(IllegalArgumentException.class,
        () -> NosSpark.registerFunction(spark, "nos_none", Fixtures.digits(), null));
    assertEquals("registerFunction 'nos_none': specs[1] must not be null",
        nullSpec.getMessage());
  }

  @Test
  @Order(6)
  void saveAndLoad_givesTheSameStage() throws Exception {
    NosTransformer nos = new NosTransformer().setSpec(Fixtures.digits()).setInputCols("image")
        .setOutputCols("logits").setErrorCol("err").setBatchSize(32);
    String path = dir.resolve("saved-stage").toString();
    nos.write().save(path);
    NosTransformer loaded = NosTransformer.load(path);
    assertEquals(nos.uid(), loaded.uid());
    assertEquals(nos.getSpec(), loaded.getSpec());
    assertEquals(Arrays.asList(nos.getOrDefault(nos.inputCols())),
        Arrays.asList(loaded.getOrDefault(loaded.inputCols())));
    assertEquals("err", loaded.getOrDefault(loaded.errorCol()));
    assertEquals(32, (int) (Integer) loaded.getOrDefault(loaded.batchSize()));
    Dataset<Row> images = spark.range(0, 40, 1, 2).map(new DigitRow(held), Encoders.row(DIGITS));
    List<Row> out = loaded.transform(images).selectExpr("id",
        "array_position(logits, array_max(logits)) - 1").collectAsList();
    for (Row r : out) {
      assertEquals(reference[(int) r.getLong(0)], (int) r.getLong(1));
    }
  }

  static int argmax(float[] v, int off) {
    int best = 0;
    for (int i = 1; i < 10; i++) {
      if (v[off + i] > v[off + best]) {
        best = i;
      }
    }
    return best;
  }

  static String messages(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      sb.append(c.getMessage()).append(" | ");
    }
    return sb.toString();
  }

  /** Ten rows {id, x}: x = [id, id+1], except row 3 (negative), 5 (three numbers) and 7 (null). */
  static List<Row> xRows() {
    List<Row> rows = new ArrayList<>();
    for (long i = 0; i < 10; i++) {
      List<Float> x = i == 3 ? List.of(-1f, 2f) : i == 5 ? List.of(1f, 2f, 3f)
          : i == 7 ? null : List.of((float) i, (float) i + 1);
      rows.add(RowFactory.create(i, x == null ? null : x.toArray(new Float[0])));
    }
    rows.add(0, rows.remove(3));
    return rows;
  }

  static StructType xSchema() {
    return new StructType().add("id", DataTypes.LongType, false)
        .add("x", DataTypes.createArrayType(DataTypes.FloatType, false), true);
  }

  /** Row {@code id} of the digit table: the held-out image {@code id % 360}, its pixels / 16. */
  static final class DigitRow implements MapFunction<Long, Row> {
    private static final long serialVersionUID = 1L;
    private final int[][] rows;

    DigitRow(List<int[]> held) {
      this.rows = held.toArray(new int[0][]);
    }

    @Override
    public Row call(Long id) {
      int[] r = rows[(int) (id % rows.length)];
      Float[] px = new Float[64];
      for (int p = 0; p < 64; p++) {
        px[p] = r[p + 1] / 16f;
      }
      return RowFactory.create(id, r[0], px);
    }
  }
}
