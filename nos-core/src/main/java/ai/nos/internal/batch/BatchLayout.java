package ai.nos.internal.batch;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Padding;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a batcher needs from a spec, worked out once: the inputs in signature order, which of their
 * dimensions are padded and with what bytes, which output dimensions are cut back, the batching
 * limits in the units the batcher counts in, and the batch sizes the copy runs
 * ({@link BatchBuckets}). Immutable.
 */
final class BatchLayout {

  /** An output dimension cut back to the size of an input dimension of each request. */
  record Unpad(int outputDim, int input, int inputDim) {}

  final String modelId;
  final List<String> inputs;
  final int maxBatchSize;
  /** Rows that send a batch at once: the largest preferred size, else maxBatchSize. */
  final int fullRows;
  /** Preferred sizes, increasing; empty when none. */
  final int[] preferred;
  final long delayNanos;
  final int maxQueueSize;
  /** The sizes batches are padded up to; {@link BatchBuckets#NONE} runs them as they are. */
  final BatchBuckets buckets;

  private final Map<String, Integer> index = new HashMap<>();
  private final boolean[][] padded;
  private final Regions.Pad[] pads;
  private final Map<String, List<Unpad>> unpad = new HashMap<>();

  BatchLayout(ModelSpec spec) {
    this(spec, BatchBuckets.NONE);
  }

  /**
   * @throws IllegalArgumentException if the spec has no batching, or the buckets' largest is
   *     not {@code maxBatchSize} (a full batch would have no bucket)
   */
  BatchLayout(ModelSpec spec, BatchBuckets buckets) {
    Batching batching = spec.batching().orElseThrow(() -> new IllegalArgumentException(
        "model '" + spec.id() + "' has no batching settings in its spec"));
    modelId = spec.id();
    List<TensorSpec> specs = spec.signature().inputs();
    inputs = spec.signature().inputNames();
    padded = new boolean[specs.size()][];
    pads = new Regions.Pad[specs.size()];
    for (int i = 0; i < specs.size(); i++) {
      index.put(inputs.get(i), i);
      padded[i] = new boolean[specs.get(i).rank()];
    }
    for (Padding p : batching.padding()) {
      int i = index.get(p.input());
      padded[i][p.dim()] = true;
      pads[i] = new Regions.Pad(element(specs.get(i).dtype(), p.value()));
    }
    for (Padding.Unpad u : batching.unpad()) {
      unpad.computeIfAbsent(u.output(), k -> new ArrayList<>())
          .add(new Unpad(u.dim(), index.get(u.input()), u.inputDim()));
    }
    maxBatchSize = batching.maxBatchSize();
    preferred = batching.preferredBatchSizes().stream().mapToInt(Integer::intValue).toArray();
    fullRows = preferred.length == 0 ? maxBatchSize : preferred[preferred.length - 1];
    delayNanos = batching.maxQueueDelay().toNanos();
    maxQueueSize = batching.maxQueueSize();
    if (!buckets.isEmpty() && buckets.largest() != maxBatchSize) {
      throw new IllegalArgumentException("model '" + modelId + "': the largest batch bucket of "
          + buckets + " must be batching.maxBatchSize (" + maxBatchSize + ")");
    }
    this.buckets = buckets;
  }

  /** One element of {@code dtype} holding {@code value}, in native byte order. */
  private static byte[] element(DType dtype, double value) {
    Tensor t;
    switch (dtype) {
      case FLOAT32:
        t = Tensor.of(new float[] {(float) value});
        break;
      case FLOAT16:
        t = Tensor.ofFloat16(new float[] {(float) value});
        break;
      case BFLOAT16:
        t = Tensor.ofBFloat16(new float[] {(float) value});
        break;
      case INT64:
        t = Tensor.of(new long[] {(long) value});
        break;
      case INT32:
        t = Tensor.of(new int[] {(int) value});
        break;
      case UINT8:
        t = Tensor.of(new byte[] {(byte) (int) value});
        break;
      default:
        t = Tensor.of(new boolean[] {value != 0});
        break;
    }
    return t.toByteArray();
  }

  /**
   * A request's inputs in signature order, checked only as far as batching needs: present, with
   * a batch dimension of 1 to maxBatchSize rows. The rest is the caller's to check.
   *
   * @throws IllegalArgumentException if an input is missing or the rows are out of range
   */
  Tensor[] tensors(Map<String, Tensor> inputs) {
    Tensor[] tensors = new Tensor[this.inputs.size()];
    for (int i = 0; i < tensors.length; i++) {
      String name = this.inputs.get(i);
      tensors[i] = inputs.get(name);
      if (tensors[i] == null || tensors[i].rank() == 0) {
        throw new IllegalArgumentException("request to model '" + modelId + "' needs input '"
            + name + "' with a batch dimension but it was " + tensors[i]);
      }
    }
    long rows = tensors[0].dim(0);
    if (rows < 1 || rows > maxBatchSize) {
      throw new IllegalArgumentException("request to model '" + modelId + "' has " + rows
          + " rows but must have 1 to batching.maxBatchSize (" + maxBatchSize + ")");
    }
    return tensors;
  }

  /** Tensors in signature order by name. */
  Map<String, Tensor> named(Tensor[] tensors) {
    Map<String, Tensor> named = new LinkedHashMap<>();
    for (int i = 0; i < tensors.length; i++) {
      named.put(inputs.get(i), tensors[i]);
    }
    return named;
  }

  /** The position of {@code input} in signature order. */
  int index(String input) {
    Integer i = index.get(input);
    if (i == null) {
      throw new IllegalArgumentException("model '" + modelId + "' has no input '" + input
          + "'; its inputs are " + inputs);
    }
    return i;
  }

  boolean padded(int input, int dim) {
    return padded[input][dim];
  }

  /** The pad of an input; null if none of its dimensions is padded. */
  Regions.Pad pad(int input) {
    return pads[input];
  }

  /** The unpad rules of an output; empty if none. */
  List<Unpad> unpad(String output) {
    return unpad.getOrDefault(output, List.of());
  }

  /**
   * What requests must share to be batched: per input its dtype and every dimension but the
   * batch and the padded ones.
   */
  ShapeKey key(Tensor[] tensors) {
    int length = 0;
    for (Tensor t : tensors) {
      length += 1 + t.rank();
    }
    long[] key = new long[length];
    int k = 0;
    for (int i = 0; i < tensors.length; i++) {
      Tensor t = tensors[i];
      key[k++] = t.dtype().ordinal() * (long) (Tensor.MAX_RANK + 1) + t.rank();
      for (int d = 1; d < t.rank(); d++) {
        key[k++] = padded(i, d) ? -1 : t.dim(d);
      }
      key[k++] = Long.MIN_VALUE;
    }
    return new ShapeKey(key);
  }
}
