package ai.nos.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Fixtures;
import ai.nos.ModelSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.collection.immutable.ArraySeq;

/**
 * NosTransformer through its public API in one local[2] session shared by the class: the cases an
 * outside user meets in a notebook (one JVM for driver and executor), and hand-edited saved stages.
 */
final class NosTransformerLocalTest {
  private static final StructType X = new StructType()
      .add("x", DataTypes.createArrayType(DataTypes.FloatType, false), false);
  private static final ModelSpec IDENTITY = Fixtures.identity(DType.FLOAT32);

  @TempDir
  static Path dir;
  static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("nos-spark-local-test")
        .config("spark.ui.enabled", "false").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static Dataset<Row> rows(float... first) {
    Float[] v = {first[0], first[1], first[2]};
    return spark.createDataFrame(List.of(RowFactory.create(ArraySeq.unsafeWrapArray(v))), X);
  }

  private static List<Float> score(NosTransformer t, float... row) {
    Row out = t.transform(rows(row)).collectAsList().get(0);
    return out.<Float>getList(out.fieldIndex("y"));
  }

  @Test
  void transform_sameIdOtherArtifactInOneJvm_scoresBoth() {
    NosTransformer shipped = new NosTransformer().setSpec(IDENTITY).setInputCols("x")
        .setOutputCols("y");
    assertEquals(List.of(1f, 2f, 3f), score(shipped, 1, 2, 3));
    // The same id, now read from its own path: another spec of the id in this JVM's manager.
    NosTransformer inPlace = shipped.copy(new org.apache.spark.ml.param.ParamMap())
        .setShipArtifact(false);
    assertEquals(List.of(4f, 5f, 6f), score(inPlace, 4, 5, 6));
    assertEquals(List.of(7f, 8f, 9f), score(shipped, 7, 8, 9));
  }

  @Test
  void setInputCols_null_isRefusedNamingTheParam() {
    NosTransformer t = new NosTransformer().setSpec(IDENTITY);
    var e = assertThrows(IllegalArgumentException.class, () -> t.setInputCols((String[]) null));
    assertTrue(e.getMessage().contains("inputCols must not be null"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> t.setOutputCols("y", null));
    assertTrue(e.getMessage().contains("outputCols[1] is null in [y, null]"), e.getMessage());
  }

  @Test
  void load_handEditedSpec_namesThePathAndTheField() throws Exception {
    Path saved = save("edited-spec");
    edit(saved, json -> json.replace("\\\"signature\\\"", "\\\"signatur\\\""));
    var e = assertThrows(IllegalArgumentException.class,
        () -> NosTransformer.load(saved.toString()));
    assertTrue(e.getMessage().contains(saved + "/metadata") && e.getMessage().contains("'spec'")
        && e.getMessage().contains("unknown field 'signatur'"), e.getMessage());
  }

  @Test
  void load_truncatedMetadata_namesThePath() throws Exception {
    Path saved = save("truncated");
    edit(saved, json -> json.substring(0, 40));
    var e = assertThrows(IllegalArgumentException.class,
        () -> NosTransformer.load(saved.toString()));
    assertTrue(e.getMessage().contains(saved + "/metadata"), e.getMessage());
  }

  private static Path save(String name) throws Exception {
    Path saved = dir.resolve(name);
    new NosTransformer().setSpec(IDENTITY).setInputCols("x").setOutputCols("y").write()
        .save(saved.toString());
    return saved;
  }

  /** Edits the saved metadata by hand, as a user would (its checksum file removed). */
  private static void edit(Path saved, java.util.function.UnaryOperator<String> change)
      throws Exception {
    try (Stream<Path> files = Files.list(saved.resolve("metadata"))) {
      for (Path f : files.toList()) {
        String name = f.getFileName().toString();
        if (name.endsWith(".crc")) {
          Files.delete(f);
        } else if (name.startsWith("part-")) {
          Files.writeString(f, change.apply(Files.readString(f)));
        }
      }
    }
  }
}
