package ai.nos.internal.batch;

import ai.nos.NosException;
import ai.nos.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Splits a batch's outputs back per request along dimension 0. A request's rows are a slice of
 * the output's memory, shared, not copied; an output dimension that an unpad rule cuts back to the
 * request's own length is copied, one bulk copy per contiguous run.
 */
final class Splitter {

  private Splitter() {}

  /**
   * Each request's outputs, in batch order, by the names the runner gave.
   *
   * @throws NosException if an output is missing, does not have the batch's rows in dimension 0,
   *     or does not have the padded size in a dimension an unpad rule cuts back
   */
  static List<Map<String, Tensor>> split(BatchLayout layout, Batch batch,
      Map<String, Tensor> outputs) {
    if (outputs == null || outputs.isEmpty()) {
      throw new NosException("model '" + layout.modelId + "' returned no outputs for a batch of "
          + batch.size() + " rows");
    }
    List<Map<String, Tensor>> split = new ArrayList<>(batch.requestCount());
    for (int i = 0; i < batch.requestCount(); i++) {
      split.add(new LinkedHashMap<>());
    }
    for (Map.Entry<String, Tensor> e : outputs.entrySet()) {
      String name = e.getKey();
      Tensor out = e.getValue();
      check(layout, batch, name, out);
      List<BatchLayout.Unpad> rules = layout.unpad(name);
      for (int i = 0; i < batch.requestCount(); i++) {
        split.get(i).put(name, part(batch, out, i, rules));
      }
    }
    List<Map<String, Tensor>> result = new ArrayList<>(split.size());
    for (Map<String, Tensor> m : split) {
      result.add(Collections.unmodifiableMap(m));
    }
    return result;
  }

  private static void check(BatchLayout layout, Batch batch, String name, Tensor out) {
    String what = "model '" + layout.modelId + "' returned output '" + name + "'";
    if (out == null) {
      throw new NosException(what + " as null for a batch of " + batch.size() + " rows");
    }
    if (out.rank() == 0 || out.dim(0) != batch.size()) {
      throw new NosException(what + " with shape " + Arrays.toString(out.shape())
          + " for a batch of " + batch.size() + " rows (" + batch.requestCount()
          + " requests); dim 0 must be the batch size to split it per request");
    }
    for (BatchLayout.Unpad u : layout.unpad(name)) {
      long padded = batch.shape(u.input())[u.inputDim()];
      if (u.outputDim() >= out.rank() || out.dim(u.outputDim()) != padded) {
        throw new NosException(what + " with shape " + Arrays.toString(out.shape()) + " but input '"
            + layout.inputs.get(u.input()) + "' was padded to " + padded + " in dim "
            + u.inputDim() + "; the unpad rule needs output dim " + u.outputDim()
            + " of that size");
      }
    }
  }

  /** The rows of request {@code i}, cut back to its own lengths where a rule says so. */
  private static Tensor part(Batch batch, Tensor out, int i, List<BatchLayout.Unpad> rules) {
    Request r = batch.request(i);
    long[] rows = out.shape();
    rows[0] = r.rows;
    long[] own = rows.clone();
    for (BatchLayout.Unpad u : rules) {
      own[u.outputDim()] = r.tensors[u.input()].dim(u.inputDim());
    }
    if (batch.requestCount() == 1 && Arrays.equals(own, out.shape())) {
      return out;
    }
    long rowBytes = out.byteSize() / batch.size();
    ByteBuffer all = out.buffer();
    int from = (int) (batch.rowOffset(i) * rowBytes);
    if (Arrays.equals(own, rows)) {
      ByteBuffer slice = all.slice(from, (int) (r.rows * rowBytes)).order(ByteOrder.nativeOrder());
      return Tensor.wrap(out.dtype(), slice, own);
    }
    int elementBytes = out.dtype().byteSize();
    ByteBuffer copy = ByteBuffer.allocateDirect((int) (Regions.numel(own, 0) * elementBytes))
        .order(ByteOrder.nativeOrder());
    Regions.copy(all, from, rows, copy, 0, own, elementBytes, null);
    return Tensor.wrap(out.dtype(), copy, own);
  }
}
