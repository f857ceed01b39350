package ai.nos.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.junit.jupiter.api.Test;
import scala.collection.immutable.ArraySeq;

/**
 * How one partition's scoring fails, without Spark: a fake {@link Model} stands for the
 * executor's copy, and each kind of failure of a call (a cancelled future, a custom model
 * missing an output, any other runtime exception) either fails the task with the message naming
 * the model, partition and row, or, with an error column, lands in that column. An Error is no
 * row's failure: it escapes as it is. A model the executor cannot load fails the task with the
 * partition's context, error column or not.
 */
final class PartitionScorerTest {
  private static final Signature SIG = Signature.builder()
      .input("x", DType.FLOAT32, -1, 2).output("y", DType.FLOAT32, -1, 2).build();
  private static final ModelSpec SPEC = ModelSpec.builder().id("fake").artifact("/no/such/m.pt")
      .signature(SIG).device(Device.cpu()).build();

  /** A model answering each call with {@code answer} of its inputs. */
  private record Fake(Function<Map<String, Tensor>, CompletableFuture<Map<String, Tensor>>> answer)
      implements Model {
    @Override
    public ModelSpec spec() {
      return SPEC;
    }

    @Override
    public Device device() {
      return Device.cpu();
    }

    @Override
    public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
      return answer.apply(inputs).join();
    }

    @Override
    public CompletableFuture<Map<String, Tensor>> inferAsync(Map<String, Tensor> inputs) {
      return answer.apply(inputs);
    }

    @Override
    public void close() {}
  }

  private static List<Row> score(boolean errorColumn, Model model, int rows) {
    ShippedSpec shipped = ShippedSpec.ship(null, SPEC, false);
    PartitionScorer scorer = new PartitionScorer(shipped, new int[] {0}, new String[] {"x"},
        new TensorCodec[] {TensorCodec.of("fake", SIG.inputs().get(0))},
        new TensorCodec[] {TensorCodec.of("fake", SIG.outputs().get(0))}, 4, errorColumn, null);
    List<Row> in = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      in.add(RowFactory.create((Object) new float[] {r, -r}));
    }
    // No model: the executor's copy is loaded as in a task (SPEC's artifact does not exist).
    Iterator<Row> out = model == null ? scorer.call(in.iterator())
        : scorer.call(in.iterator(), List.of(model));
    List<Row> all = new ArrayList<>();
    out.forEachRemaining(all::add);
    return all;
  }

  private static void assertNamesTheRow(RuntimeException e, Throwable cause) {
    assertInstanceOf(IllegalStateException.class, e);
    assertTrue(e.getMessage().startsWith("model 'fake', partition ?, row 0 of the partition (3 rows"
        + " from there) failed: "), e.getMessage());
    assertTrue(e.getMessage().endsWith("instead of failing the task)"), e.getMessage());
    assertSame(cause, e.getCause());
  }

  @Test
  void finish_identity_givesEachRowItsOutput() {
    List<Row> out = score(false, new Fake(in -> CompletableFuture.completedFuture(
        Map.of("y", in.get("x")))), 3);
    assertEquals(3, out.size());
    assertArrayEquals(new float[] {2, -2},
        (float[]) ((ArraySeq<?>) out.get(2).get(1)).unsafeArray());
  }

  @Test
  void finish_cancelledCall_failsTheTaskNamingTheRow() {
    CancellationException cancel = new CancellationException("cancelled by the test");
    Fake fake = new Fake(in -> CompletableFuture.failedFuture(cancel));
    RuntimeException e = assertThrows(RuntimeException.class, () -> score(false, fake, 3));
    assertNamesTheRow(e, cancel);
    assertTrue(e.getMessage().contains("cancelled by the test"), e.getMessage());
  }

  @Test
  void finish_futureCancelled_failsTheTaskNamingTheRow() {
    Fake fake = new Fake(in -> {
      CompletableFuture<Map<String, Tensor>> f = new CompletableFuture<>();
      f.cancel(false);
      return f;
    });
    RuntimeException e = assertThrows(RuntimeException.class, () -> score(false, fake, 3));
    assertInstanceOf(IllegalStateException.class, e);
    assertInstanceOf(CancellationException.class, e.getCause());
    assertTrue(e.getMessage().startsWith("model 'fake', partition ?, row 0"), e.getMessage());
  }

  @Test
  void finish_modelMissingAnOutput_failsTheTaskNamingTheRow() {
    Fake fake = new Fake(in -> CompletableFuture.completedFuture(Map.of()));
    RuntimeException e = assertThrows(RuntimeException.class, () -> score(false, fake, 3));
    assertInstanceOf(IllegalStateException.class, e);
    assertInstanceOf(NullPointerException.class, e.getCause());
    assertTrue(e.getMessage().startsWith("model 'fake', partition ?, row 0 of the partition (3"
        + " rows from there) failed: "), e.getMessage());
  }

  @Test
  void finish_otherRuntimeException_failsTheTaskNamingTheRow() {
    UnsupportedOperationException boom = new UnsupportedOperationException("boom");
    Fake fake = new Fake(in -> {
      throw boom;
    });
    RuntimeException e = assertThrows(RuntimeException.class, () -> score(false, fake, 3));
    assertNamesTheRow(e, boom);
  }

  @Test
  void finish_errorColumn_modelMissingAnOutput_eachRowGetsTheError() {
    Fake fake = new Fake(in -> CompletableFuture.completedFuture(Map.of()));
    List<Row> out = score(true, fake, 3);
    assertEquals(3, out.size());
    for (Row row : out) {
      assertNull(row.get(1));
      assertTrue(row.getString(2).startsWith("NullPointerException"), row.getString(2));
    }
  }

  @Test
  void call_modelThatCannotBeLoaded_failsTheTaskNamingThePartition() {
    for (boolean errorColumn : new boolean[] {false, true}) {
      RuntimeException e = assertThrows(RuntimeException.class,
          () -> score(errorColumn, null, 3));
      assertInstanceOf(IllegalStateException.class, e);
      assertTrue(e.getMessage().startsWith("model 'fake', partition ?, row 0 of the partition: the"
          + " model could not be loaded on executor none: "), e.getMessage());
      assertTrue(e.getMessage().contains("/no/such/m.pt"), e.getMessage());
      assertInstanceOf(ai.nos.ModelLoadException.class, e.getCause());
    }
  }

  @Test
  void finish_callFailingWithAnError_theErrorEscapesAsItIs() {
    OutOfMemoryError error = new OutOfMemoryError("an Error, not a row's failure");
    Fake fake = new Fake(in -> CompletableFuture.failedFuture(error));
    assertSame(error, assertThrows(OutOfMemoryError.class, () -> score(false, fake, 3)));
    assertSame(error, assertThrows(OutOfMemoryError.class, () -> score(true, fake, 3)),
        "not kept in the error column");
    assertSame(error, assertThrows(OutOfMemoryError.class, () -> score(true, fake, 1)),
        "not kept in the error column for a call of one row either");
  }
}
