package ai.nos.spark;

import ai.nos.Model;
import ai.nos.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.CollectionAccumulator;

/*
 * Scores one partition: rows in, the same rows out in the same order with the outputs appended.
 *
 * Batches
 * -------
 * Rows are read batchSize at a time (Spark hands a Dataset's rows to mapPartitions one by one; it
 * gives JVM code no Arrow or columnar batches through a public API, so row batches are gathered
 * here). A chunk's valid rows become one call per row shape (one call for a fixed-shape model) and
 * go to the model through inferAsync: with the spec's batching on, NOS's batcher merges the calls
 * of the executor's concurrent tasks into larger batches (what a GPU shared by several task slots
 * wants); without it, the call runs on the task's thread. Two chunks are in flight at once, so the
 * task converts the next chunk while the batcher runs the last one. A task with several GPUs sends
 * its calls to their copies in turn.
 *
 * Failures
 * --------
 * No row is ever dropped. Without an error column, a bad row (null, wrong length, out of range) or
 * a failing call fails the task with a message naming the partition, the row and the cause, and
 * Spark retries the task as it does any failure (spark.task.maxFailures), on another executor if
 * this one is lost. With an error column, a bad row gets its message there and null outputs; a
 * failing call of several rows is run again row by row, so that only the rows the model rejects get
 * an error and the others their outputs. A failing call is any RuntimeException from building its
 * tensors, from the call or from reading its outputs (a cancelled future, a custom Model missing
 * an output); an Error is no row's failure and escapes unwrapped. A model that cannot be loaded
 * on the executor fails the task with the same context (the partition and its first unscored
 * row) whether or not there is an error column: no row could be scored, and Spark's retry may
 * find an executor that loads it.
 *
 * Concurrency
 * -----------
 * One instance is deserialized per task; the iterator it returns is used by the task's thread only.
 * The models are the executor's shared copies (ExecutorModels), safe for concurrent calls.
 */
final class PartitionScorer implements MapPartitionsFunction<Row, Row> {
  private static final long serialVersionUID = 1L;
  private static final int IN_FLIGHT = 2;

  private final ShippedSpec shipped;
  private final int[] inputColumns;
  private final String[] inputColumnNames;
  private final TensorCodec[] inputs;
  private final TensorCodec[] outputs;
  private final int batchSize;
  private final boolean errorColumn;
  private final CollectionAccumulator<ModelLoad> loads;

  PartitionScorer(ShippedSpec shipped, int[] inputColumns, String[] inputColumnNames,
      TensorCodec[] inputs, TensorCodec[] outputs, int batchSize, boolean errorColumn,
      CollectionAccumulator<ModelLoad> loads) {
    this.shipped = shipped;
    this.inputColumns = inputColumns;
    this.inputColumnNames = inputColumnNames;
    this.inputs = inputs;
    this.outputs = outputs;
    this.batchSize = batchSize;
    this.errorColumn = errorColumn;
    this.loads = loads;
  }

  @Override
  public Iterator<Row> call(Iterator<Row> rows) {
    return new Scored(rows, null);
  }

  /** {@link #call} with the given copies instead of the executor's (for tests). */
  Iterator<Row> call(Iterator<Row> rows, List<Model> models) {
    return new Scored(rows, models);
  }

  private final class Scored implements Iterator<Row> {
    private final Iterator<Row> in;
    private final ArrayDeque<Chunk> pending = new ArrayDeque<>();
    private final ArrayDeque<Row> ready = new ArrayDeque<>();
    private List<Model> models;
    private long rowsRead;
    private int nextModel;

    Scored(Iterator<Row> in, List<Model> models) {
      this.in = in;
      this.models = models;
    }

    @Override
    public boolean hasNext() {
      while (ready.isEmpty() && (in.hasNext() || !pending.isEmpty())) {
        while (pending.size() < IN_FLIGHT && in.hasNext()) {
          pending.add(submit(read()));
        }
        ready.addAll(pending.poll().finish());
      }
      return !ready.isEmpty();
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return ready.poll();
    }

    private Chunk read() {
      Chunk c = new Chunk(rowsRead);
      while (c.rows.size() < batchSize && in.hasNext()) {
        Row row = in.next();
        Object[] values = new Object[inputs.length];
        String error = null;
        for (int i = 0; i < inputs.length && error == null; i++) {
          try {
            values[i] = inputs[i].rowValue(row.get(inputColumns[i]));
          } catch (IllegalArgumentException e) {
            error = "column '" + inputColumnNames[i] + "': " + e.getMessage();
          }
        }
        if (error != null && !errorColumn) {
          throw new IllegalArgumentException(where(rowsRead) + ", " + error + " (set an error"
              + " column to keep such rows with their error instead of failing the task)");
        }
        c.rows.add(row);
        c.values.add(error == null ? values : null);
        c.errors.add(error);
        rowsRead++;
      }
      return c;
    }

    private Chunk submit(Chunk c) {
      if (models == null) {
        try {
          models = ExecutorModels.forTask(shipped, loads);
        } catch (RuntimeException e) {
          throw new IllegalStateException(where(c.firstRow) + ": the model could not be loaded on"
              + " executor " + ExecutorModels.executorId() + ": " + e.getMessage(), e);
        }
      }
      Map<String, List<Integer>> byShape = new LinkedHashMap<>();
      for (int r = 0; r < c.rows.size(); r++) {
        Object[] v = c.values.get(r);
        if (v != null) {
          StringBuilder key = new StringBuilder();
          for (int i = 0; i < inputs.length; i++) {
            key.append(Arrays.toString(inputs[i].rowShape(v[i])));
          }
          byShape.computeIfAbsent(key.toString(), k -> new ArrayList<>()).add(r);
        }
      }
      for (List<Integer> members : byShape.values()) {
        Model model = models.get(nextModel++ % models.size());
        CompletableFuture<Map<String, Tensor>> f;
        try {
          // Building the call's tensors fails as the call does: with the rows' context, or in
          // their error column.
          f = model.inferAsync(tensors(c, members));
        } catch (RuntimeException e) {
          f = CompletableFuture.failedFuture(e);
        }
        c.calls.add(new Call(model, members, f));
      }
      return c;
    }

    private Map<String, Tensor> tensors(Chunk c, List<Integer> members) {
      Map<String, Tensor> call = new LinkedHashMap<>();
      for (int i = 0; i < inputs.length; i++) {
        List<Object> column = new ArrayList<>(members.size());
        for (int r : members) {
          column.add(c.values.get(r)[i]);
        }
        call.put(inputs[i].name(), inputs[i].batch(column, inputs[i].rowShape(column.get(0))));
      }
      return call;
    }

    private String where(long row) {
      TaskContext tc = TaskContext.get();
      return "model '" + shipped.spec().id() + "', partition "
          + (tc == null ? "?" : String.valueOf(tc.partitionId())) + ", row " + row
          + " of the partition";
    }

    private final class Chunk {
      final long firstRow;
      final List<Row> rows = new ArrayList<>();
      final List<Object[]> values = new ArrayList<>();
      final List<String> errors = new ArrayList<>();
      final List<Call> calls = new ArrayList<>();

      Chunk(long firstRow) {
        this.firstRow = firstRow;
      }

      List<Row> finish() {
        Object[][] outs = new Object[rows.size()][];
        for (Call call : calls) {
          try {
            Map<String, Tensor> result = call.future.join();
            store(outs, call.members, result);
          } catch (RuntimeException e) {
            // Any runtime failure of the call or of reading its outputs (a custom Model missing
            // an output gives an NPE in store) is this row's failure and gets the row's context.
            Throwable cause = rowFailure(e);
            if (!errorColumn) {
              throw new IllegalStateException(where(firstRow + call.members.get(0)) + " ("
                  + call.members.size() + " rows from there) failed: " + cause.getMessage()
                  + " (set an error column to keep the rows the model rejects with their error"
                  + " instead of failing the task)", cause);
            }
            retryAlone(outs, call, cause);
          }
        }
        List<Row> out = new ArrayList<>(rows.size());
        for (int r = 0; r < rows.size(); r++) {
          Row row = rows.get(r);
          int width = row.length() + outputs.length + (errorColumn ? 1 : 0);
          Object[] v = new Object[width];
          for (int i = 0; i < row.length(); i++) {
            v[i] = row.get(i);
          }
          if (outs[r] != null) {
            System.arraycopy(outs[r], 0, v, row.length(), outputs.length);
          }
          if (errorColumn) {
            v[width - 1] = errors.get(r);
          }
          out.add(RowFactory.create(v));
        }
        return out;
      }

      private void retryAlone(Object[][] outs, Call call, Throwable batchFailure) {
        for (int r : call.members) {
          if (call.members.size() == 1) {
            errors.set(r, message(batchFailure));
            continue;
          }
          try {
            store(outs, List.of(r), call.model.infer(tensors(this, List.of(r))));
          } catch (RuntimeException e) {
            errors.set(r, message(rowFailure(e)));
          }
        }
      }

      private void store(Object[][] outs, List<Integer> members, Map<String, Tensor> result) {
        Object[][] columns = new Object[outputs.length][];
        for (int o = 0; o < outputs.length; o++) {
          columns[o] = outputs[o].split(result.get(outputs[o].name()), members.size());
        }
        for (int k = 0; k < members.size(); k++) {
          Object[] row = new Object[outputs.length];
          for (int o = 0; o < outputs.length; o++) {
            row[o] = columns[o][k];
          }
          outs[members.get(k)] = row;
        }
      }
    }
  }

  /**
   * What failed a row: the cause of a future's CompletionException, else {@code e} itself. An
   * Error found as the cause is no row's failure and is thrown as it is, never kept in the error
   * column nor wrapped.
   */
  private static Throwable rowFailure(RuntimeException e) {
    Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    if (cause instanceof Error error) {
      throw error;
    }
    return cause;
  }

  private static String message(Throwable t) {
    return t.getClass().getSimpleName() + ": " + t.getMessage();
  }

  private record Call(Model model, List<Integer> members,
      CompletableFuture<Map<String, Tensor>> future) {}
}
