package ai.nos.spark;

import ai.nos.ModelSpec;
import ai.nos.TensorSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * A Spark ML {@link Transformer} that runs a NOS model over the rows of a DataFrame: each input
 * column feeds one input of the model's signature, each output of the signature becomes an array
 * column, and every row comes out once, in its order, with its outputs.
 *
 * <pre>{@code
 * NosTransformer digits = new NosTransformer()
 *     .setSpec(ModelSpec.fromJson(Path.of("models/digits/digits.json")))
 *     .setInputCols("image").setOutputCols("logits")
 *     .setErrorCol("error");                       // keep the rows the model rejects
 * Dataset<Row> scored = digits.transform(spark.read().parquet("images.parquet"));
 * }</pre>
 *
 * <h2>On the executors</h2>
 * Each executor JVM loads the model once, through NOS's process-wide {@code ModelManager}, and its
 * tasks share that copy; a task runs on the GPUs Spark's resource scheduling gave it
 * ({@code spark.task.resource.gpu.amount}), else on the CPU. Rows go to the model
 * {@link #batchSize()} at a time; give the spec a {@code batching} to let NOS's batcher merge the
 * calls of concurrent tasks. The artifact travels with {@code SparkContext.addFile} and is verified
 * by SHA-256 before it loads (see {@link #shipArtifact()}). {@link NosSpark#loads} tells where and
 * how long the model loaded.
 *
 * <h2>Columns</h2>
 * An input column holds, per row, that row's slice of the tensor flattened: an array of numbers
 * or an ML vector of the product of the tensor's dimensions after the batch one (e.g. 64 numbers
 * for {@code [-1, 1, 8, 8]}). Output columns are {@code array<float>} for floating outputs,
 * {@code array<bigint>} for int64, {@code array<int>} for int32 and uint8, {@code array<boolean>}.
 *
 * <h2>Failures</h2>
 * Without an error column, a row the model cannot take fails its task (the message names the row)
 * and Spark retries the task. With {@link #setErrorCol}, such a row keeps null outputs and its
 * error message; the others of its batch are scored.
 *
 * <p>Params are checked when set; the schema (columns, types, spec) when the transformer is
 * applied. Saved and loaded like any Spark ML stage ({@code write().save(path)}, {@link #load});
 * the spec is saved as JSON with its artifact's path and digest, so the loaded stage scores with
 * the same file.
 */
public final class NosTransformer extends Transformer implements DefaultParamsWritable {
  private static final long serialVersionUID = 1L;

  private final String uid;
  private final Param<String> spec;
  private final StringArrayParam inputCols;
  private final StringArrayParam outputCols;
  private final Param<String> errorCol;
  private final IntParam batchSize;
  private final BooleanParam shipArtifact;

  public NosTransformer() {
    this(Identifiable$.MODULE$.randomUID("nos"));
  }

  /** The constructor Spark ML's reader and {@link #copy} use. */
  public NosTransformer(String uid) {
    this.uid = uid;
    this.spec = new Param<>(this, "spec", "the model's spec as JSON (ModelSpec.toJson)");
    this.inputCols = new StringArrayParam(this, "inputCols",
        "one column per input of the signature, in its order; default: the inputs' names");
    this.outputCols = new StringArrayParam(this, "outputCols",
        "one new column per output of the signature, in its order; default: the outputs' names");
    this.errorCol = new Param<>(this, "errorCol", "a new string column for each row's error;"
        + " empty (the default) to fail the task on a row the model cannot take");
    this.batchSize = new IntParam(this, "batchSize", "rows per call to the model (at most the"
        + " spec's batching.maxBatchSize)", ParamValidators.gtEq(1));
    this.shipArtifact = new BooleanParam(this, "shipArtifact", "hand a local artifact to the"
        + " executors with SparkContext.addFile (true) or read it from the same path on each"
        + " (false, a shared file system)");
    setDefault(errorCol, "");
    setDefault(batchSize, (Object) 64);
    setDefault(shipArtifact, (Object) true);
  }

  @Override
  public String uid() {
    return uid;
  }

  public Param<String> spec() {
    return spec;
  }

  public StringArrayParam inputCols() {
    return inputCols;
  }

  public StringArrayParam outputCols() {
    return outputCols;
  }

  public Param<String> errorCol() {
    return errorCol;
  }

  public IntParam batchSize() {
    return batchSize;
  }

  public BooleanParam shipArtifact() {
    return shipArtifact;
  }

  /**
   * The model to run.
   *
   * @throws IllegalArgumentException if {@code modelSpec} is null
   */
  public NosTransformer setSpec(ModelSpec modelSpec) {
    if (modelSpec == null) {
      throw new IllegalArgumentException("spec must not be null");
    }
    set(spec, modelSpec.toJson());
    return this;
  }

  /** The model's spec. @throws IllegalStateException if none was set */
  public ModelSpec getSpec() {
    if (!isDefined(spec)) {
      throw new IllegalStateException("NosTransformer " + uid + " has no spec; call setSpec");
    }
    return ModelSpec.fromJson($(spec));
  }

  /**
   * One column per input of the signature, in its order.
   *
   * @throws IllegalArgumentException if {@code columns} or one of them is null
   */
  public NosTransformer setInputCols(String... columns) {
    set(inputCols, checkColumns("inputCols", columns));
    return this;
  }

  /**
   * One new column per output of the signature, in its order.
   *
   * @throws IllegalArgumentException if {@code columns} or one of them is null
   */
  public NosTransformer setOutputCols(String... columns) {
    set(outputCols, checkColumns("outputCols", columns));
    return this;
  }

  private String[] checkColumns(String param, String[] columns) {
    if (columns == null) {
      throw new IllegalArgumentException("NosTransformer " + uid + ": " + param + " must not be"
          + " null; give one column per tensor of the signature, or leave it unset for the"
          + " tensors' names");
    }
    for (int i = 0; i < columns.length; i++) {
      if (columns[i] == null) {
        throw new IllegalArgumentException("NosTransformer " + uid + ": " + param + "[" + i
            + "] is null in " + Arrays.toString(columns) + "; expected a column name");
      }
    }
    return columns.clone();
  }

  /** A new column for each row's error message (null where the row was scored). */
  public NosTransformer setErrorCol(String column) {
    set(errorCol, column == null ? "" : column);
    return this;
  }

  /** Rows per call to the model; default 64. */
  public NosTransformer setBatchSize(int rows) {
    set(batchSize, (Object) rows);
    return this;
  }

  /** Whether to ship a local artifact with {@code SparkContext.addFile}; default true. */
  public NosTransformer setShipArtifact(boolean ship) {
    set(shipArtifact, (Object) ship);
    return this;
  }

  @Override
  public StructType transformSchema(StructType schema) {
    return plan(schema).schema;
  }

  @Override
  public Dataset<Row> transform(Dataset<?> dataset) {
    Plan plan = plan(dataset.schema());
    SparkSession spark = dataset.sparkSession();
    ShippedSpec shipped = ShippedSpec.ship(spark, plan.spec,
        (Boolean) $(shipArtifact));
    PartitionScorer scorer = new PartitionScorer(shipped, plan.inputIndex, plan.inputColumns,
        plan.inputs, plan.outputs, plan.batchSize, !$(errorCol).isEmpty(),
        NosSpark.loadsAccumulator(spark.sparkContext()));
    return dataset.toDF().mapPartitions(scorer, Encoders.row(plan.schema));
  }

  @Override
  public NosTransformer copy(ParamMap extra) {
    return defaultCopy(extra);
  }

  /**
   * Spark ML's reader of this stage; the saved spec is parsed as the stage loads, and a stage whose
   * saved metadata or spec is not valid fails with an IllegalArgumentException naming the path
   * and the problem.
   */
  public static MLReader<NosTransformer> read() {
    return new Reader();
  }

  public static NosTransformer load(String path) {
    return read().load(path);
  }

  @Override
  public String toString() {
    return "NosTransformer(" + uid + (isDefined(spec) ? ", " + getSpec().id() : "") + ")";
  }

  /** What a transform does, checked against the input schema. */
  private Plan plan(StructType in) {
    ModelSpec s = getSpec();
    List<TensorSpec> ins = s.signature().inputs();
    List<TensorSpec> outs = s.signature().outputs();
    String[] inCols = isDefined(inputCols) ? $(inputCols)
        : ins.stream().map(TensorSpec::name).toArray(String[]::new);
    String[] outCols = isDefined(outputCols) ? $(outputCols)
        : outs.stream().map(TensorSpec::name).toArray(String[]::new);
    if (inCols.length != ins.size()) {
      throw new IllegalArgumentException("model '" + s.id() + "' has " + ins.size() + " inputs "
          + s.signature().inputNames() + " but inputCols names " + inCols.length + ": "
          + Arrays.toString(inCols));
    }
    if (outCols.length != outs.size()) {
      throw new IllegalArgumentException("model '" + s.id() + "' has " + outs.size() + " outputs "
          + s.signature().outputNames() + " but outputCols names " + outCols.length + ": "
          + Arrays.toString(outCols));
    }
    Set<String> existing = new HashSet<>(Arrays.asList(in.fieldNames()));
    int[] index = new int[inCols.length];
    TensorCodec[] inCodecs = new TensorCodec[inCols.length];
    for (int i = 0; i < inCols.length; i++) {
      if (!existing.contains(inCols[i])) {
        throw new IllegalArgumentException("input column '" + inCols[i] + "' (for input '"
            + ins.get(i).name() + "' of model '" + s.id() + "') is not in the DataFrame; its"
            + " columns: " + Arrays.toString(in.fieldNames()));
      }
      index[i] = in.fieldIndex(inCols[i]);
      inCodecs[i] = TensorCodec.of(s.id(), ins.get(i));
      String problem = inCodecs[i].acceptsInput(inCols[i], in.fields()[index[i]].dataType());
      if (problem != null) {
        throw new IllegalArgumentException(problem);
      }
    }
    String err = $(errorCol);
    List<StructField> fields = new ArrayList<>(Arrays.asList(in.fields()));
    TensorCodec[] outCodecs = new TensorCodec[outCols.length];
    Set<String> added = new HashSet<>();
    for (int o = 0; o < outCols.length; o++) {
      outCodecs[o] = TensorCodec.of(s.id(), outs.get(o));
      fields.add(DataTypes.createStructField(newColumn(outCols[o], existing, added), outCodecs[o]
          .sparkType(), !err.isEmpty()));
    }
    if (!err.isEmpty()) {
      fields.add(DataTypes.createStructField(newColumn(err, existing, added),
          DataTypes.StringType, true));
    }
    int rows = (Integer) $(batchSize);
    if (s.batching().isPresent() && rows > s.batching().get().maxBatchSize()) {
      rows = s.batching().get().maxBatchSize();
    }
    return new Plan(s, index, inCols, inCodecs, outCodecs, rows,
        DataTypes.createStructType(fields));
  }

  private static String newColumn(String name, Set<String> existing, Set<String> added) {
    if (name == null || name.isEmpty() || existing.contains(name) || !added.add(name)) {
      throw new IllegalArgumentException("output column '" + name + "' must be a new, non-empty"
          + " name, distinct from the DataFrame's columns " + existing + " and the other new"
          + " columns " + added);
    }
    return name;
  }

  private static final class Reader extends MLReader<NosTransformer> {
    @Override
    public NosTransformer load(String path) {
      DefaultParamsReader<NosTransformer> reader = new DefaultParamsReader<>();
      reader.session(sparkSession());
      NosTransformer stage;
      try {
        stage = reader.load(path);
      } catch (Exception e) {
        // Spark's reader throws Jackson's IOExceptions undeclared (Scala has no checked ones).
        throw new IllegalArgumentException("cannot load a NosTransformer from " + path + ": its"
            + " metadata (" + path + "/metadata) is not a saved stage's: " + e, e);
      }
      if (stage.isDefined(stage.spec)) {
        try {
          stage.getSpec();
        } catch (RuntimeException e) {
          throw new IllegalArgumentException("cannot load NosTransformer " + stage.uid + " from "
              + path + ": param 'spec' in its metadata (" + path + "/metadata) is not a valid"
              + " ModelSpec: " + e.getMessage(), e);
        }
      }
      return stage;
    }
  }

  private record Plan(ModelSpec spec, int[] inputIndex, String[] inputColumns,
      TensorCodec[] inputs, TensorCodec[] outputs, int batchSize, StructType schema) {}
}
