package ai.nos.internal.batch;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.TensorSpec;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/*
 * Why buckets
 *
 * A model on a GPU pays for every batch size it meets for the first time: cuDNN builds (and,
 * in benchmark mode, times) an execution plan per convolution shape, the TorchScript executor
 * specializes its graph per input shape, and the caching allocator grows to the new working
 * set. A dynamic batcher left alone meets every size from 1 to maxBatchSize, so on an H200 a
 * ResNet-50 under 256 clients served 800 to 3,400 images/s with a p99 of seconds for its first
 * 15 s. libtorch keeps cuDNN's plans per thread (cuDNN's v8 API: a thread_local cache), so the
 * cost comes back on every batch worker thread, and on every reload after an eviction.
 *
 * So a batched copy runs a few batch sizes only, its buckets, and runs each once on each thread
 * that serves it before it is READY. A batch is padded with zero rows up to the smallest bucket
 * that holds it; the padding rows are cut from the outputs (Splitter reads each request's rows
 * by offset). The same sizes are the buckets CUDA graphs record (ModelGraphs), so a padded batch
 * replays its graph without a second padding.
 *
 * Which sizes
 *
 * The preferred batch sizes plus maxBatchSize when the spec gives preferred sizes (the user's
 * buckets, on any device); else, on a CUDA device, the powers of two below maxBatchSize and
 * maxBatchSize itself: 9 sizes for 256, each at most twice the rows it pads, the spacing
 * growing with the size so the count grows with log2(maxBatchSize), not with maxBatchSize. On
 * the CPU without preferred sizes there are none: no plan is timed there, and padding would
 * cost compute for nothing.
 *
 * Buckets apply only when the batch is the one dimension that varies: every input's dimensions
 * after the first are fixed (an image input counts as fixed: the model sees it at its
 * pre-processing's output size) and every output's first dimension is the batch. A model whose
 * other dimensions vary meets new shapes regardless, and padding rules (Padding) already pad
 * those; such a spec has no buckets.
 *
 * Pad or cut
 *
 * Padding 130 rows to 256 doubles the work of a batch; sending 128 and leaving 2 for the next
 * batch costs one small batch more. So with derived buckets, a batch that is not a bucket is cut
 * back to the largest bucket below it when that leaves fewer rows behind than padding would add
 * (the rest go back to the front of their queue, already due), and padded otherwise: at most
 * about half of any batch run is padding. With the user's preferred sizes the batch is cut as the
 * Batching documentation has always said, to the largest preferred size it reaches (BatchQueue),
 * and what that leaves (fewer rows than the smallest, or requests of several rows) is padded.
 */

/**
 * The batch sizes a batched model copy runs: ascending, the largest {@code maxBatchSize}; a
 * batch of {@code n} rows runs as the smallest bucket {@code >= n}. {@link #NONE} runs every
 * batch as it is. Immutable.
 */
public final class BatchBuckets {

  /** No buckets: batches run at their own size. */
  public static final BatchBuckets NONE = new BatchBuckets(new int[0]);

  private final int[] sizes;

  private BatchBuckets(int[] sizes) {
    this.sizes = sizes;
  }

  /**
   * The buckets of {@code spec}'s copies on {@code device} (see the notes above): the preferred
   * sizes plus {@code maxBatchSize} if set; else on CUDA {@link #derived}; else none. None too
   * without batching, and when a dimension other than the batch varies.
   */
  public static BatchBuckets forSpec(ModelSpec spec, Device device) {
    Batching batching = spec.batching().orElse(null);
    if (batching == null || whyNot(spec) != null) {
      return NONE;
    }
    return batching.preferredBatchSizes().isEmpty() && !device.isCuda() ? NONE
        : new BatchBuckets(sizes(batching));
  }

  /**
   * The bucket sizes of a batching, ascending: the preferred sizes and {@code maxBatchSize}, or
   * without preferred sizes {@link #derived}. CUDA graphs record these (ModelGraphs).
   */
  public static int[] sizes(Batching batching) {
    List<Integer> asked = batching.preferredBatchSizes();
    if (asked.isEmpty()) {
      return derived(batching.maxBatchSize());
    }
    TreeSet<Integer> sizes = new TreeSet<>(asked);
    sizes.add(batching.maxBatchSize());
    return sizes.stream().mapToInt(Integer::intValue).toArray();
  }

  /**
   * The given sizes as buckets; for backends that choose their own.
   *
   * @param sizes {@code >= 1}, strictly increasing; empty for {@link #NONE}
   * @throws IllegalArgumentException if they are not
   */
  public static BatchBuckets of(int... sizes) {
    for (int i = 0; i < sizes.length; i++) {
      if (sizes[i] < 1 || (i > 0 && sizes[i] <= sizes[i - 1])) {
        throw new IllegalArgumentException("batch buckets must be >= 1 and strictly increasing"
            + " but were " + Arrays.toString(sizes));
      }
    }
    return sizes.length == 0 ? NONE : new BatchBuckets(sizes.clone());
  }

  /** The powers of two below {@code max}, and {@code max}: 1, 2, 4, ..., max. */
  public static int[] derived(int max) {
    if (max < 1) {
      throw new IllegalArgumentException("maxBatchSize must be >= 1 but was " + max);
    }
    int n = 32 - Integer.numberOfLeadingZeros(max - 1) + 1;
    int[] sizes = new int[n];
    for (int i = 0; i < n - 1; i++) {
      sizes[i] = 1 << i;
    }
    sizes[n - 1] = max;
    return sizes;
  }

  /**
   * Why {@code spec}'s copies cannot have buckets, or null if they can: a dimension besides the
   * batch varies, or an output has no batch dimension to cut the padding from.
   */
  public static String whyNot(ModelSpec spec) {
    for (TensorSpec in : spec.signature().inputs()) {
      long[] shape = in.shape();
      if (shape.length == 0 || shape[0] != -1) {
        return "input '" + in.name() + "' has shape " + Arrays.toString(shape)
            + "; its first dimension is not the batch (-1)";
      }
      if (spec.imageInputs().containsKey(in.name())) {
        continue;
      }
      for (int d = 1; d < shape.length; d++) {
        if (shape[d] < 0) {
          return "input '" + in.name() + "' has shape " + Arrays.toString(shape)
              + "; a dimension besides the batch varies";
        }
      }
    }
    for (TensorSpec out : spec.signature().outputs()) {
      long[] shape = out.shape();
      if (shape.length == 0 || shape[0] != -1) {
        return "output '" + out.name() + "' has shape " + Arrays.toString(shape)
            + "; its first dimension is not the batch (-1)";
      }
    }
    return null;
  }

  /** Whether there are none. */
  public boolean isEmpty() {
    return sizes.length == 0;
  }

  /** The sizes, ascending; a copy. */
  public int[] sizes() {
    return sizes.clone();
  }

  /** The largest size, or 0 if none. */
  public int largest() {
    return sizes.length == 0 ? 0 : sizes[sizes.length - 1];
  }

  /** The rows a batch of {@code rows} runs as: the smallest bucket that holds it, else rows. */
  public int padTo(int rows) {
    for (int s : sizes) {
      if (s >= rows) {
        return s;
      }
    }
    return rows;
  }

  /**
   * The most rows a batch that reached {@code rows} should keep when no preferred sizes cut it
   * (see "Pad or cut"): the largest bucket {@code <= rows} when padding up would add more rows
   * than cutting leaves behind; else {@code rows}.
   */
  int cutTo(int rows) {
    int below = 0;
    for (int s : sizes) {
      if (s <= rows) {
        below = s;
      }
    }
    if (below == 0 || below == rows) {
      return rows;
    }
    int above = padTo(rows);
    return above - rows > rows - below ? below : rows;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BatchBuckets b && Arrays.equals(sizes, b.sizes);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(sizes);
  }

  @Override
  public String toString() {
    return Arrays.toString(sizes);
  }
}
