package ai.nos.internal.torch;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Runs a call on a package of libraries compiled for fixed batch sizes ({@code batch_<size>},
 * {@link AotiPackage}): {@code n} rows go to the smallest size that holds them, padded with
 * zero rows, and each output is cut back to its first {@code n} rows; a call larger than the
 * largest size runs in pieces of that size, its outputs concatenated. This is what lets a
 * package specialised per batch size (as {@code torch.compile(dynamic=False)} specialises)
 * serve any batch.
 *
 * <p>Needs every input and output to have the batch as its first dimension and rows that do not
 * depend on each other (as CUDA graphs do); an output without the batch first is an error that
 * names it. Stateless; the tensors it makes belong to the caller's {@code PointerScope}.
 */
final class AotiBuckets {
  private AotiBuckets() {}

  /**
   * Runs {@code inputs} through {@code run} (given a size of {@code sizes} and the inputs with
   * that many rows), as described above.
   *
   * @param sizes the compiled batch sizes, increasing, each at least 1
   * @throws IllegalArgumentException if the inputs disagree on their batch, or an output does
   *     not have the batch first
   */
  static List<org.bytedeco.pytorch.Tensor> run(List<org.bytedeco.pytorch.Tensor> inputs,
      int[] sizes, BiFunction<Integer, List<org.bytedeco.pytorch.Tensor>,
          List<org.bytedeco.pytorch.Tensor>> run) {
    long n = inputs.get(0).size(0);
    for (int i = 1; i < inputs.size(); i++) {
      if (inputs.get(i).size(0) != n) {
        throw new IllegalArgumentException("the inputs of a call must share their batch (first"
            + " dimension) to run on batch-size buckets, but input 0 has " + n + " rows and"
            + " input " + i + " has " + inputs.get(i).size(0));
      }
    }
    int largest = sizes[sizes.length - 1];
    if (n > largest) {
      List<List<org.bytedeco.pytorch.Tensor>> pieces = new ArrayList<>();
      for (long start = 0; start < n; start += largest) {
        long rows = Math.min(largest, n - start);
        List<org.bytedeco.pytorch.Tensor> part = new ArrayList<>();
        for (org.bytedeco.pytorch.Tensor t : inputs) {
          part.add(t.narrow(0, start, rows));
        }
        pieces.add(run(part, sizes, run));
      }
      List<org.bytedeco.pytorch.Tensor> joined = new ArrayList<>();
      for (int o = 0; o < pieces.get(0).size(); o++) {
        TensorVector parts = new TensorVector();
        for (List<org.bytedeco.pytorch.Tensor> piece : pieces) {
          parts.push_back(piece.get(o));
        }
        joined.add(torch.cat(parts, 0));
      }
      return joined;
    }
    int size = sizes[0];
    for (int s : sizes) {
      if (s >= n) {
        size = s;
        break;
      }
    }
    List<org.bytedeco.pytorch.Tensor> padded = new ArrayList<>();
    for (org.bytedeco.pytorch.Tensor t : inputs) {
      padded.add(size == n ? t : pad(t, size));
    }
    List<org.bytedeco.pytorch.Tensor> out = run.apply(size, padded);
    List<org.bytedeco.pytorch.Tensor> cut = new ArrayList<>(out.size());
    for (int o = 0; o < out.size(); o++) {
      org.bytedeco.pytorch.Tensor t = out.get(o);
      if (t.dim() == 0 || t.size(0) != size) {
        throw new IllegalArgumentException("output " + o + " of the batch-" + size + " library"
            + " has shape " + java.util.Arrays.toString(t.sizes().vec().get()) + ": a package"
            + " compiled per batch size needs every output with the batch first");
      }
      cut.add(size == n ? t : t.narrow(0, 0, n));
    }
    return cut;
  }

  /** {@code t} with zero rows appended up to {@code rows}, on its device, in its dtype. */
  private static org.bytedeco.pytorch.Tensor pad(org.bytedeco.pytorch.Tensor t, int rows) {
    // constant_pad_nd takes (before, after) pairs from the last dimension to the first.
    long[] pad = new long[2 * (int) t.dim()];
    pad[pad.length - 1] = rows - t.size(0);
    return torch.constant_pad_nd(t, pad, new org.bytedeco.pytorch.Scalar(0));
  }
}
