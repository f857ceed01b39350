package ai.nos.spark;

import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.CollectionAccumulator;

/**
 * Rows/s of {@link SparkClusterTest}'s digit job on 1, 2 and 4 executors of one core: for each N,
 * the same loopback standalone cluster ({@link LocalCluster}) with N workers, one warm-up run (the
 * executors' first load and JIT), then {@code runs} timed runs, each checked row by row against
 * the model run in this JVM. Optionally the in-house baseline on the same cluster, its runs
 * alternating with NosTransformer's: a plain
 * {@code mapPartitions} that loads the model per partition with {@code Nos.load} and calls
 * {@code Model.infer} on batches (no NosTransformer, no shared copy).
 *
 * <p>Not a test (CI's {@code mvn verify} never runs it): {@code mvn -B -pl nos-spark -am
 * -DskipTests -Pspark-bench test-compile exec:exec}, with
 * {@code -Dspark.bench.args="executors=1,2,4 runs=5 baseline=1,2,4 djl= minutes=25"} to choose
 * (these are the defaults; {@code djl=1,2} adds the DJL baseline, {@code DjlScorer}, on a cluster
 * of its own after each of those N). After {@code minutes} the running job is cancelled and
 * the runner exits with status 2.
 */
final class SparkExecutorsBench {
  private static final int ROWS = 100_000;
  private static final int PARTITIONS = 8;
  private static final int BATCH = 256;
  private static final String NOS = "NosTransformer";
  private static final String PLAIN = "mapPartitions + Model.infer";
  private static final String DJL = "mapPartitions + DJL 0.36";
  static final StructType OUT = new StructType()
      .add("id", DataTypes.LongType, false)
      .add("label", DataTypes.IntegerType, false)
      .add("image", DataTypes.createArrayType(DataTypes.FloatType, false), false)
      .add("logits", DataTypes.createArrayType(DataTypes.FloatType, false), false);

  /** Set at the deadline: the running job is cancelled and no other starts. */
  private static final AtomicBoolean LATE = new AtomicBoolean();

  private SparkExecutorsBench() {}

  @SuppressWarnings("unchecked")
  public static void main(String[] args) throws Exception {
    Map<String, String> opts = new TreeMap<>(Map.of("executors", "1,2,4", "runs", "5",
        "baseline", "1,2,4", "djl", "", "minutes", "25"));
    for (String a : args) {
      String[] kv = a.split("=", 2);
      if (kv.length != 2 || !opts.containsKey(kv[0])) {
        throw new IllegalArgumentException("argument '" + a + "': expected key=value with a key"
            + " of " + opts.keySet());
      }
      opts.put(kv[0], kv[1]);
    }
    int[] executors = ints(opts.get("executors"));
    int[] baseline = ints(opts.get("baseline"));
    int[] djl = ints(opts.get("djl"));
    int runs = Integer.parseInt(opts.get("runs"));
    long minutes = Long.parseLong(opts.get("minutes"));
    System.out.println("SparkExecutorsBench " + opts + ", " + ROWS + " rows in " + PARTITIONS
        + " partitions, batch " + BATCH + ", " + Runtime.getRuntime().availableProcessors()
        + " CPUs");

    List<int[]> held = Fixtures.heldOutDigits();
    int[] reference = new int[held.size()];
    try (Model m = Nos.load(Fixtures.digitsOn("cpu"))) {
      float[] logits = m.infer(Fixtures.digitBatch(held, 0, held.size())).get("logits")
          .toFloatArray();
      for (int i = 0; i < held.size(); i++) {
        reference[i] = SparkClusterTest.argmax(logits, i * 10);
      }
    }

    SparkSession[] current = new SparkSession[1];
    ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "bench-deadline");
      t.setDaemon(true);
      return t;
    });
    watchdog.schedule(() -> {
      LATE.set(true);
      System.out.println("DEADLINE: " + minutes + " min passed; cancelling the running job");
      synchronized (current) {
        if (current[0] != null) {
          current[0].sparkContext().cancelAllJobs();
        }
      }
    }, minutes, TimeUnit.MINUTES);

    List<String> table = new ArrayList<>();
    Path base = Files.createTempDirectory("nos-spark-bench");
    boolean stopped = false;
    try {
      for (int n : executors) {
        Path dir = Files.createDirectories(base.resolve("executors-" + n));
        try (LocalCluster cluster = LocalCluster.start(dir, n, "1g")) {
          SparkSession spark = session(cluster, n, dir);
          synchronized (current) {
            current[0] = spark;
          }
          Map<Long, String> taskExecutors = new java.util.concurrent.ConcurrentHashMap<>();
          spark.sparkContext().addSparkListener(new SparkListener() {
            @Override
            public void onTaskEnd(SparkListenerTaskEnd end) {
              taskExecutors.put(end.taskInfo().taskId(), end.taskInfo().executorId());
            }
          });
          try {
            Dataset<Row> images = spark.range(0, ROWS, 1, PARTITIONS)
                .map(new SparkClusterTest.DigitRow(held), Encoders.row(SparkClusterTest.DIGITS));
            NosTransformer nos = new NosTransformer().setSpec(Fixtures.digits())
                .setInputCols("image").setOutputCols("logits").setBatchSize(BATCH);
            Map<String, Supplier<Dataset<Row>>> jobs = new LinkedHashMap<>();
            jobs.put(NOS, () -> nos.transform(images));
            CollectionAccumulator<String> baseLoads = new CollectionAccumulator<>();
            if (Arrays.stream(baseline).anyMatch(b -> b == n)) {
              spark.sparkContext().register(baseLoads, "baseline loads");
              // Another id: the executors' manager already holds "digits" (NosTransformer's copy).
              PlainScorer plain = new PlainScorer(Fixtures.digitsOn("cpu").toBuilder()
                  .id("digits-plain").build().toJson(), baseLoads);
              jobs.put(PLAIN, () -> images.mapPartitions(plain, Encoders.row(OUT)));
            }
            Map<String, double[]> seconds = measure(jobs, n, runs, held, reference);
            Map<String, Long> loads = NosSpark.loads(spark).stream().collect(Collectors
                .groupingBy(ModelLoad::executorId, TreeMap::new, Collectors.counting()));
            String ran = new java.util.TreeSet<>(taskExecutors.values()).toString();
            System.out.println("  executors that ran tasks: " + ran + "; NosTransformer's loads"
                + " per executor over all " + (runs + 1) + " runs: " + loads + "; loads: "
                + NosSpark.loads(spark));
            table.add(row(NOS, n, seconds.get(NOS), loads + " over " + (runs + 1) + " runs"));
            if (jobs.containsKey(PLAIN)) {
              Map<String, Long> perExecutor = baseLoads.value().stream().collect(Collectors
                  .groupingBy(Function.identity(), TreeMap::new, Collectors.counting()));
              System.out.println("  baseline loads per executor over all " + (runs + 1)
                  + " runs: " + perExecutor);
              table.add(row(PLAIN + " (load per partition)", n, seconds.get(PLAIN),
                  perExecutor + " over " + (runs + 1) + " runs"));
            }
          } finally {
            synchronized (current) {
              current[0] = null;
            }
            spark.stop();
            cluster.keepLogs(Path.of("target", "spark-bench-logs", "executors-" + n));
          }
        }
        if (Arrays.stream(djl).anyMatch(b -> b == n)) {
          table.add(djlRow(base, n, runs, held, reference, current));
        }
      }
    } catch (Exception e) {
      if (!LATE.get()) {
        throw e;
      }
      System.out.println("stopped at the deadline: " + e);
      stopped = true;
    } finally {
      // The clusters' logs were copied to target/spark-bench-logs; the rest is links and work.
      try (var files = Files.walk(base)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    if (stopped) {
      System.exit(2);
    }
    System.out.println();
    System.out.println("| job | executors x 1 core | rows/s min | rows/s median | runs (s) |"
        + " model loads per executor |");
    System.out.println("| --- | --- | --- | --- | --- | --- |");
    table.forEach(System.out::println);
    System.exit(0);
  }

  /**
   * The DJL baseline ({@code DjlScorer}, compiled in the spark-bench profile only) on a fresh
   * cluster of {@code n} executors: DJL's libtorch and NOS's cannot share an executor JVM (two
   * libtorch builds of one soname), so it cannot alternate with NosTransformer on one cluster.
   */
  private static String djlRow(Path base, int n, int runs, List<int[]> held, int[] reference,
      SparkSession[] current) throws Exception {
    Path dir = Files.createDirectories(base.resolve("djl-executors-" + n));
    try (LocalCluster cluster = LocalCluster.start(dir, n, "1g")) {
      SparkSession spark = session(cluster, n, dir);
      synchronized (current) {
        current[0] = spark;
      }
      try {
        Dataset<Row> images = spark.range(0, ROWS, 1, PARTITIONS)
            .map(new SparkClusterTest.DigitRow(held), Encoders.row(SparkClusterTest.DIGITS));
        CollectionAccumulator<String> loads = new CollectionAccumulator<>();
        spark.sparkContext().register(loads, "djl loads");
        MapPartitionsFunction<Row, Row> scorer;
        try {
          scorer = (MapPartitionsFunction<Row, Row>) Class.forName("ai.nos.spark.DjlScorer")
              .getDeclaredConstructor(String.class, int.class, CollectionAccumulator.class)
              .newInstance(Fixtures.modelsDir().resolve("digits/digits.pt").toString(), BATCH,
                  loads);
        } catch (ClassNotFoundException e) {
          throw new IllegalStateException("djl=" + n + " needs DjlScorer, which only the"
              + " spark-bench profile compiles (-Pspark-bench)", e);
        }
        Map<String, Supplier<Dataset<Row>>> jobs = new LinkedHashMap<>();
        jobs.put(DJL, () -> images.mapPartitions(scorer, Encoders.row(OUT)));
        double[] seconds = measure(jobs, n, runs, held, reference).get(DJL);
        Map<String, Long> perExecutor = loads.value().stream().collect(Collectors
            .groupingBy(Function.identity(), TreeMap::new, Collectors.counting()));
        System.out.println("  DJL loads per executor over all " + (runs + 1) + " runs: "
            + perExecutor);
        return row(DJL + " (static holder, own cluster)", n, seconds, perExecutor + " over "
            + (runs + 1) + " runs");
      } finally {
        synchronized (current) {
          current[0] = null;
        }
        spark.stop();
        cluster.keepLogs(Path.of("target", "spark-bench-logs", "djl-executors-" + n));
      }
    }
  }

  private static SparkSession session(LocalCluster cluster, int n, Path dir) {
    return SparkSession.builder().appName("nos-spark-bench-" + n).master(cluster.masterUrl())
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.executor.cores", "1")
        .config("spark.cores.max", String.valueOf(n))
        .config("spark.executor.memory", "768m")
        .config("spark.executor.extraJavaOptions", System.getProperty("nos.spark.opens", ""))
        .config("spark.executor.extraClassPath", LocalCluster.executorClassPath())
        // One intra-op thread per single-core executor, for NOS and DJL alike; DJL's libtorch
        // warns on every convolution that NNPACK does not fit this CPU.
        .config("spark.executorEnv.OMP_NUM_THREADS", "1")
        .config("spark.executorEnv.TORCH_CPP_LOG_LEVEL", "ERROR")
        .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
        .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "120s")
        .config("spark.task.maxFailures", "2")
        .config("spark.sql.shuffle.partitions", String.valueOf(n))
        .config("spark.local.dir", dir.resolve("local").toString())
        .getOrCreate();
  }

  /**
   * One warm-up of each job, then {@code runs} rounds that time each job once in turn, the order
   * reversed every round (so that the other builds' load and the executors' warming drift over
   * both alike), each run then the argmax and a collect, as SparkClusterTest: the seconds of the
   * timed runs by job. Every run's predictions are checked.
   */
  private static Map<String, double[]> measure(Map<String, Supplier<Dataset<Row>>> jobs, int n,
      int runs, List<int[]> held, int[] reference) throws IOException {
    Map<String, double[]> seconds = new LinkedHashMap<>();
    jobs.keySet().forEach(name -> seconds.put(name, new double[runs]));
    for (int r = -1; r < runs; r++) {
      // Each round reverses the last one's order (A B, B A, ...): a job that always ran
      // second would always find the executors as the other job left them.
      List<Map.Entry<String, Supplier<Dataset<Row>>>> order = new ArrayList<>(jobs.entrySet());
      if (r % 2 == 0) {
        java.util.Collections.reverse(order);
      }
      for (Map.Entry<String, Supplier<Dataset<Row>>> job : order) {
        String name = job.getKey();
        if (LATE.get()) {
          throw new IllegalStateException("the deadline passed before " + name + "'s run");
        }
        String before = loadAverage();
        long t0 = System.nanoTime();
        List<Row> out = job.getValue().get().selectExpr("id", "label",
            "array_position(logits, array_max(logits)) - 1 AS predicted").collectAsList();
        double s = (System.nanoTime() - t0) / 1e9;
        if (out.size() != ROWS) {
          throw new IllegalStateException(name + ": " + out.size() + " rows, expected " + ROWS);
        }
        for (int i = 0; i < ROWS; i++) {
          Row row = out.get(i);
          int k = (int) (row.getLong(0) % held.size());
          if (row.getLong(0) != i || reference[k] != (int) row.getLong(2)) {
            throw new IllegalStateException(name + ": row " + i + " is " + row + ", expected id "
                + i + " predicted " + reference[k]);
          }
        }
        System.out.printf("%s, %d executor(s), %s: %.2f s, %.0f rows/s; load average before %s,"
            + " after %s%n", name, n, r < 0 ? "warm-up" : "run " + (r + 1), s, ROWS / s, before,
            loadAverage());
        if (r >= 0) {
          seconds.get(name)[r] = s;
        }
      }
    }
    return seconds;
  }

  private static String row(String job, int n, double[] seconds, String loads) {
    double[] sorted = seconds.clone();
    Arrays.sort(sorted);
    double median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
        : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    // The fewest rows/s is the slowest run's.
    return String.format("| %s | %d | %,.0f | %,.0f | %s | %s |", job, n,
        ROWS / sorted[sorted.length - 1], ROWS / median, Arrays.stream(seconds)
            .mapToObj(x -> String.format("%.1f", x)).collect(Collectors.joining(", ")), loads);
  }

  /** The 1, 5 and 15 minute load averages, as uptime prints them. */
  private static String loadAverage() throws IOException {
    String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
    return f[0] + " " + f[1] + " " + f[2];
  }

  private static int[] ints(String csv) {
    return csv.isBlank() ? new int[0]
        : Arrays.stream(csv.split(",")).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
  }

  /**
   * The baseline: what a Spark user writes without nos-spark. Each partition loads the model,
   * scores its rows {@code BATCH} at a time with {@code Model.infer} on the task's thread, and
   * closes the model at its end.
   */
  static final class PlainScorer implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;
    private final String specJson;
    private final CollectionAccumulator<String> loads;

    PlainScorer(String specJson, CollectionAccumulator<String> loads) {
      this.specJson = specJson;
      this.loads = loads;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
      List<Row> out = new ArrayList<>();
      try (Model model = Nos.load(ModelSpec.fromJson(specJson))) {
        loads.add(SparkEnv.get().executorId());
        List<Row> batch = new ArrayList<>(BATCH);
        while (rows.hasNext()) {
          batch.add(rows.next());
          if (batch.size() == BATCH || !rows.hasNext()) {
            float[] px = new float[batch.size() * 64];
            for (int i = 0; i < batch.size(); i++) {
              // Spark hands the Float[] DigitRow made when it skips the encoder's round trip
              // after a map, and a Seq when it does not.
              Object image = batch.get(i).get(2);
              for (int p = 0; p < 64; p++) {
                px[i * 64 + p] = image instanceof Float[] a ? a[p]
                    : ((Number) ((scala.collection.Seq<?>) image).apply(p)).floatValue();
              }
            }
            float[] logits = model.infer(Tensor.of(px, batch.size(), 1, 8, 8)).get("logits")
                .toFloatArray();
            for (int i = 0; i < batch.size(); i++) {
              Float[] l = new Float[10];
              for (int c = 0; c < 10; c++) {
                l[c] = logits[i * 10 + c];
              }
              Row r = batch.get(i);
              out.add(RowFactory.create(r.getLong(0), r.getInt(1), r.get(2), l));
            }
            batch.clear();
          }
        }
      }
      return out.iterator();
    }
  }
}
