package ai.nos.internal.batch;

import ai.nos.DType;
import ai.nos.Tensor;
import ai.nos.internal.Copies;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;

/**
 * The requests a {@link BatchRunner} runs together, and their inputs assembled into one tensor
 * each: the requests' rows concatenated along dimension 0 in the batch's order, each padded in
 * the dimensions the spec's padding rules allow to the longest request of the batch, and
 * followed by zero rows up to the batch's bucket ({@link BatchBuckets}) when the copy has buckets:
 * {@link #size()} counts those, {@link #requestRows()} does not, and the outputs' padding rows
 * are dropped when they are split per request.
 *
 * <p>{@link #write} assembles an input straight into the runner's buffer (a reused, pinned host
 * buffer, say) with one bulk copy per request, or one per contiguous run where it is padded;
 * {@link #concat} does the same into a new tensor.
 *
 * <p>Immutable; safe to read from any thread.
 */
public final class Batch {

  private final BatchLayout layout;
  private final List<Request> requests;
  private final int size;
  /** The requests' rows; {@link #size} less the padding rows. */
  private final int requestRows;
  private final long[] rowOffsets;
  /** Batched shape per input, signature order. */
  private final long[][] shapes;

  Batch(BatchLayout layout, List<Request> requests) {
    this.layout = layout;
    this.requests = List.copyOf(requests);
    this.rowOffsets = new long[requests.size()];
    int rows = 0;
    for (int i = 0; i < requests.size(); i++) {
      rowOffsets[i] = rows;
      rows += requests.get(i).rows;
    }
    this.requestRows = rows;
    this.size = layout.buckets.padTo(rows);
    this.shapes = new long[layout.inputs.size()][];
    for (int k = 0; k < shapes.length; k++) {
      long[] shape = requests.get(0).tensors[k].shape();
      shape[0] = size;
      for (int d = 1; d < shape.length; d++) {
        if (layout.padded(k, d)) {
          for (Request r : requests) {
            shape[d] = Math.max(shape[d], r.tensors[k].dim(d));
          }
        }
      }
      shapes[k] = shape;
    }
  }

  /**
   * Rows the model runs: the size of dimension 0 of each input, the requests' rows plus the
   * padding rows up to the bucket.
   */
  public int size() {
    return size;
  }

  /** The requests' rows: {@link #size()} without the padding rows. */
  public int requestRows() {
    return requestRows;
  }

  /** Requests in the batch, at least one. */
  public int requestCount() {
    return requests.size();
  }

  /**
   * Rows of one request.
   *
   * @param request {@code 0 <= request < requestCount()}
   */
  public int rows(int request) {
    return requests.get(request).rows;
  }

  /**
   * The inputs of one request as it submitted them, in signature order; unmodifiable.
   *
   * @param request {@code 0 <= request < requestCount()}
   */
  public Map<String, Tensor> inputs(int request) {
    return requests.get(request).inputs;
  }

  /** The names of the inputs, in signature order; unmodifiable. */
  public List<String> inputNames() {
    return layout.inputs;
  }

  /**
   * The element type of an input.
   *
   * @throws IllegalArgumentException if the model has no such input
   */
  public DType dtype(String input) {
    return requests.get(0).tensors[layout.index(input)].dtype();
  }

  /**
   * The shape of an input assembled for the whole batch: {@link #size()} rows, and in each padded
   * dimension the largest size among the requests. A copy.
   *
   * @throws IllegalArgumentException if the model has no such input
   */
  public long[] shape(String input) {
    return shapes[layout.index(input)].clone();
  }

  /**
   * Bytes of an input assembled for the whole batch.
   *
   * @throws IllegalArgumentException if the model has no such input
   */
  public long byteSize(String input) {
    int k = layout.index(input);
    return Regions.numel(shapes[k], 0) * requests.get(0).tensors[k].dtype().byteSize();
  }

  /**
   * Writes an input assembled for the whole batch into {@code dst}'s remaining bytes, row-major
   * in native byte order (whatever {@code dst.order()} says), padding with the rule's value and
   * the rows up to the bucket with zero bytes.
   * {@code dst}'s position and limit do not move.
   *
   * @throws IllegalArgumentException if the model has no such input, or {@code dst.remaining()}
   *     is not {@link #byteSize(String)}
   * @throws java.nio.ReadOnlyBufferException if {@code dst} is read-only
   */
  public void write(String input, ByteBuffer dst) {
    int k = layout.index(input);
    long bytes = byteSize(input);
    if (dst == null || dst.remaining() != bytes) {
      throw new IllegalArgumentException("input '" + input + "' of model '" + layout.modelId
          + "' needs " + bytes + " bytes for a batch of " + size + " rows but the buffer has "
          + (dst == null ? "none (null)" : dst.remaining() + " remaining"));
    }
    long[] batchShape = shapes[k];
    int elementBytes = requests.get(0).tensors[k].dtype().byteSize();
    long rowBytes = bytes / size;
    int n = requests.size();
    if (unpadded(k)) {
      // Every request is one contiguous block of the batch: split the whole byte range, so that
      // even one large request is copied by several threads.
      int base = dst.position();
      int parts = Copies.parts(bytes);
      long per = (bytes + parts - 1) / parts;
      Copies.run(parts, part -> {
        long from = Math.min(bytes, part * per);
        long to = Math.min(bytes, from + per);
        ByteBuffer out = parts == 1 ? dst : dst.duplicate();
        for (int i = firstRequestAt(from, rowBytes); i < n && rowOffsets[i] * rowBytes < to; i++) {
          long start = rowOffsets[i] * rowBytes;
          long end = start + requests.get(i).rows * rowBytes;
          long a = Math.max(from, start);
          long b = Math.min(to, end);
          if (b > a) {
            out.put((int) (base + a), requests.get(i).tensors[k].buffer(), (int) (a - start),
                (int) (b - a));
          }
        }
      });
      zeroPaddingRows(dst, rowBytes);
      return;
    }
    // Padded batches are written by a few threads, each a contiguous run of requests.
    int parts = Math.min(n, Copies.parts(bytes));
    Copies.run(parts, part -> {
      ByteBuffer out = parts == 1 ? dst : dst.duplicate();
      for (int i = (int) ((long) n * part / parts); i < (long) n * (part + 1) / parts; i++) {
        Tensor t = requests.get(i).tensors[k];
        long[] own = t.shape();
        long[] padded = batchShape.clone();
        padded[0] = own[0];
        Regions.copy(t.buffer(), 0, own, out, dst.position() + rowOffsets[i] * rowBytes, padded,
            elementBytes, layout.pad(k));
      }
    });
    zeroPaddingRows(dst, rowBytes);
  }

  /** Zeros the rows past the requests' (a reused buffer may hold an earlier batch's). */
  private void zeroPaddingRows(ByteBuffer dst, long rowBytes) {
    int at = (int) (dst.position() + requestRows * rowBytes);
    int end = (int) (dst.position() + size * rowBytes);
    ByteBuffer out = dst.duplicate();
    while (at < end) {
      int n = Math.min(ZEROS.length, end - at);
      out.put(at, ZEROS, 0, n);
      at += n;
    }
  }

  private static final byte[] ZEROS = new byte[1 << 16];

  /** Whether every request's input {@code k} has the batch's shape beyond dimension 0. */
  private boolean unpadded(int k) {
    long[] batchShape = shapes[k];
    for (Request r : requests) {
      Tensor t = r.tensors[k];
      for (int d = 1; d < batchShape.length; d++) {
        if (t.dim(d) != batchShape[d]) {
          return false;
        }
      }
    }
    return true;
  }

  /** The last request whose block starts at or before byte {@code offset}. */
  private int firstRequestAt(long offset, long rowBytes) {
    int lo = 0;
    int hi = rowOffsets.length - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (rowOffsets[mid] * rowBytes <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  /**
   * An input assembled for the whole batch as a new tensor, as {@link #write} lays it out.
   *
   * @throws IllegalArgumentException if the model has no such input, or the input is larger than
   *     a tensor can hold
   */
  public Tensor concat(String input) {
    long bytes = byteSize(input);
    if (bytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("input '" + input + "' of model '" + layout.modelId
          + "' takes " + bytes + " bytes for a batch of " + size + " rows; a Tensor holds at most "
          + Integer.MAX_VALUE);
    }
    ByteBuffer buffer = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    write(input, buffer);
    return Tensor.wrap(dtype(input), buffer, shape(input));
  }

  /** The request at {@code i}, in batch order. */
  Request request(int i) {
    return requests.get(i);
  }

  /** The first row of request {@code i} in the batch. */
  long rowOffset(int i) {
    return rowOffsets[i];
  }

  /** The batched shape of the input at signature position {@code k}; not a copy. */
  long[] shape(int k) {
    return shapes[k];
  }
}
