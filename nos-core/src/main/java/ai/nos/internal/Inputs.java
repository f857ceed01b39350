package ai.nos.internal;

import ai.nos.ModelSpec;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Checks a call's inputs against the model's signature, in Java, before any native call: a tensor
 * of the wrong name, dtype, rank or size never reaches libtorch, and neither does a call bigger
 * than the model's {@link ModelSpec#maxCallBytes()}: the operating system kills a process that
 * runs out of memory inside libtorch, with no exception to catch. A spec of which no call could
 * pass, its smallest call being over the limit, is refused before any call: when built if it sets
 * the limit, when loaded if the limit is the loading machine's default ({@link #checkCallable}).
 */
public final class Inputs {
  private Inputs() {}

  /** The share of physical memory one call may take by default; see ModelSpec#maxCallBytes. */
  static final int DEFAULT_SHARE = 128;

  /** The default limit where the JVM cannot tell the machine's memory. */
  static final long FALLBACK_MAX_CALL_BYTES = 1L << 30;

  /**
   * A call of at most this many bytes is under the default limit of any machine that can run
   * libtorch (1/128 of 512 MiB), so it never asks the machine's memory: the first ask loads the
   * JVM's management classes, ~30 ms of a fresh JVM's first call on the 2-core VM.
   */
  static final long UNDER_ANY_DEFAULT_BYTES = 4L << 20;

  /** Read once: the machine's memory does not change under a running JVM. */
  private static final class DefaultLimit {
    static final long PHYSICAL = physicalMemory();
    static final long BYTES = PHYSICAL > 0 ? PHYSICAL / DEFAULT_SHARE : FALLBACK_MAX_CALL_BYTES;

    private static long physicalMemory() {
      try {
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        // Container-aware: inside a container with a memory limit, that limit.
        return os instanceof com.sun.management.OperatingSystemMXBean
            ? ((com.sun.management.OperatingSystemMXBean) os).getTotalMemorySize() : -1;
      } catch (RuntimeException | LinkageError e) {
        return -1;
      }
    }
  }

  /** The limit of a call of a model whose spec does not set {@link ModelSpec#maxCallBytes()}. */
  public static long defaultMaxCallBytes() {
    return DefaultLimit.BYTES;
  }

  /**
   * The bytes of the smallest call a spec allows, counted as a call is (see {@link #ordered}):
   * the batch at its least (a fixed first dimension's rows, else one row), every other dynamic
   * dimension at 1. {@code largest} names the tensor that takes most of them, for messages.
   */
  public record SmallestCall(long bytes, String largest) {}

  /** See {@link SmallestCall}. */
  public static SmallestCall smallestCall(ModelSpec spec) {
    List<TensorSpec> inputs = spec.signature().inputs();
    long batch = 1;
    for (TensorSpec ts : inputs) {
      batch = Math.max(batch, ts.dim(0));
    }
    long total = 0;
    long largestBytes = -1;
    String largest = null;
    for (TensorSpec ts : inputs) {
      long pixels = bytesAt(ts, batch);
      ai.nos.ImageInput image = spec.imageInputs().get(ts.name());
      long bytes = saturatedAdd(pixels, imageBytes(image, batch));
      total = saturatedAdd(total, bytes);
      if (bytes > largestBytes) {
        largestBytes = bytes;
        largest = "input '" + ts.name() + "' " + ts.dtype().label() + Arrays.toString(ts.shape())
            + " takes at least " + pixels + " bytes" + (image == null ? "" : " and " + imageBytes(
                image, batch) + " as the model's float32[" + batch + ", 3, " + image.outputSize()
                + ", " + image.outputSize() + "]");
      }
    }
    for (TensorSpec ts : spec.signature().outputs()) {
      long bytes = bytesAt(ts, batch);
      total = saturatedAdd(total, bytes);
      if (bytes > largestBytes) {
        largestBytes = bytes;
        largest = "output '" + ts.name() + "' " + ts.dtype().label()
            + Arrays.toString(ts.shape()) + " takes at least " + bytes + " bytes";
      }
    }
    return new SmallestCall(total, largest);
  }

  /**
   * Refuses, before the model is loaded, a spec without {@link ModelSpec#maxCallBytes()} whose
   * smallest call is over this machine's default limit: it would load and then refuse every call
   * as too big. (A spec that sets the limit is checked when it is built.)
   *
   * @throws IllegalArgumentException naming the model, its largest tensor with its shape and
   *     bytes, the smallest call's bytes and the limit
   */
  public static void checkCallable(ModelSpec spec) {
    if (spec.maxCallBytes().isPresent()) {
      return;
    }
    SmallestCall least = smallestCall(spec);
    // Under any machine's default, the machine's memory is not asked (see the constant).
    if (least.bytes() <= UNDER_ANY_DEFAULT_BYTES || least.bytes() <= defaultMaxCallBytes()) {
      return;
    }
    throw new IllegalArgumentException("model '" + spec.id() + "' could take no call: its"
        + " smallest call (the least batch, each other dynamic dimension at 1) needs "
        + least.bytes() + " bytes (" + least.largest() + "), over the limit of "
        + defaultMaxCallBytes() + " bytes per call (" + defaultSource() + "). Raise the limit"
        + " to at least " + least.bytes() + " with ModelSpec.Builder.maxCallBytes(long) or the"
        + " spec's JSON field \"maxCallBytes\"");
  }

  private static String defaultSource() {
    return DefaultLimit.PHYSICAL > 0 ? "the default maxCallBytes, 1/" + DEFAULT_SHARE
        + " of this machine's " + DefaultLimit.PHYSICAL + " bytes of memory"
        : "the default maxCallBytes (this JVM cannot tell the machine's memory)";
  }

  /**
   * Validates {@code inputs} and returns them in signature order.
   *
   * @throws IllegalArgumentException naming the input, what the signature expects and what was
   *     given
   */
  public static List<Tensor> ordered(ModelSpec spec, Map<String, Tensor> inputs) {
    String id = spec.id();
    if (inputs == null) {
      throw new IllegalArgumentException("inputs of model '" + id + "' must not be null");
    }
    List<TensorSpec> wanted = spec.signature().inputs();
    for (String name : inputs.keySet()) {
      if (name == null) {
        throw new IllegalArgumentException("inputs of model '" + id + "' hold a null name; its"
            + " inputs are " + spec.signature().inputNames());
      }
      if (spec.signature().input(name).isEmpty()) {
        throw new IllegalArgumentException("model '" + id + "' has no input '" + name
            + "'; its inputs are " + spec.signature().inputNames());
      }
    }
    List<Tensor> ordered = new ArrayList<>(wanted.size());
    String batchOwner = null;
    long batch = -1;
    for (TensorSpec ts : wanted) {
      Tensor t = inputs.get(ts.name());
      if (t == null) {
        throw new IllegalArgumentException("model '" + id + "' needs input '" + ts.name() + "' ("
            + ts.dtype() + Arrays.toString(ts.shape()) + ") but it was "
            + (inputs.containsKey(ts.name()) ? "null" : "not given; given: " + inputs.keySet()));
      }
      check(id, ts, t);
      ai.nos.ImageInput image = spec.imageInputs().get(ts.name());
      if (image != null) {
        // The size the pre-processing would resize to, checked before any pixel is copied.
        try {
          image.geometry((int) Math.min(Integer.MAX_VALUE, t.dim(2)),
              (int) Math.min(Integer.MAX_VALUE, t.dim(1)));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("image input '" + ts.name() + "' of model '" + id
              + "': " + e.getMessage(), e);
        }
      }
      long n = t.dim(0);
      if (batchOwner == null) {
        batchOwner = ts.name();
        batch = n;
      } else if (n != batch) {
        throw new IllegalArgumentException("inputs of model '" + id + "' must share the batch size"
            + " (dim 0): '" + batchOwner + "' has " + batch + " but '" + ts.name() + "' has " + n);
      }
      ordered.add(t);
    }
    if (spec.batching().isPresent() && batch > spec.batching().get().maxBatchSize()) {
      throw new IllegalArgumentException("input '" + batchOwner + "' of model '" + id
          + "' has batch size " + batch + " but the spec's batching.maxBatchSize is "
          + spec.batching().get().maxBatchSize());
    }
    checkBytes(spec, ordered, batch);
    return ordered;
  }

  /**
   * Refuses a call whose inputs (an image input also as the model input it becomes) plus
   * estimated outputs exceed the model's per-call limit. The output estimate reads the signature
   * at the call's batch size; a dynamic dimension past the first counts as 1, so the estimate
   * never exceeds what the model returns for such a tensor.
   */
  private static void checkBytes(ModelSpec spec, List<Tensor> ordered, long batch) {
    long in = 0;
    int largest = 0;
    long largestBytes = -1;
    // Every call runs this: no allocation, and no lookup for a spec without image inputs.
    Map<String, ai.nos.ImageInput> images = spec.imageInputs();
    for (int i = 0; i < ordered.size(); i++) {
      long bytes = ordered.get(i).byteSize();
      if (!images.isEmpty()) {
        bytes = saturatedAdd(bytes,
            imageBytes(images.get(spec.signature().inputs().get(i).name()), batch));
      }
      in = saturatedAdd(in, bytes);
      if (bytes > largestBytes) {
        largest = i;
        largestBytes = bytes;
      }
    }
    long out = 0;
    for (TensorSpec ts : spec.signature().outputs()) {
      out = saturatedAdd(out, bytesAt(ts, batch));
    }
    long total = saturatedAdd(in, out);
    boolean set = spec.maxCallBytes().isPresent();
    if (!set && total <= UNDER_ANY_DEFAULT_BYTES) {
      return;
    }
    long limit = set ? spec.maxCallBytes().getAsLong() : defaultMaxCallBytes();
    if (total <= limit) {
      return;
    }
    Tensor big = ordered.get(largest);
    TensorSpec bigSpec = spec.signature().inputs().get(largest);
    ai.nos.ImageInput bigImage = spec.imageInputs().get(bigSpec.name());
    long rows = limit / Math.max(1, total / batch);
    String split = rows >= 1 && rows < batch
        ? "Split it into calls of at most " + rows + " rows, or raise"
        : "Raise";
    String source = set ? "the spec's maxCallBytes" : defaultSource();
    throw new IllegalArgumentException("call of model '" + spec.id() + "' is too big: input '"
        + bigSpec.name() + "' " + big.dtype().label() + Arrays.toString(big.shape()) + " takes "
        + big.byteSize() + " bytes" + (bigImage == null ? "" : " and "
            + imageBytes(bigImage, batch) + " as the model's float32[" + batch + ", 3, "
            + bigImage.outputSize() + ", " + bigImage.outputSize() + "]")
        + "; with its other inputs and the outputs' estimated " + out
        + " bytes the call needs " + total + " bytes, over the limit of " + limit
        + " bytes per call (" + source + "; a model's working memory within a call is many"
        + " times its input). " + split + " the limit with ModelSpec.Builder.maxCallBytes(long)"
        + " or the spec's JSON field \"maxCallBytes\"");
  }

  /**
   * The float32 model input an image input becomes, {@code [batch, 3, side, side]}; 0 for another
   * input. Counted beside the pixels: 1x1 images would otherwise bring a model input thousands of
   * times their bytes past the limit.
   */
  private static long imageBytes(ai.nos.ImageInput image, long batch) {
    if (image == null) {
      return 0;
    }
    long side = image.outputSize();
    return saturatedMultiply(batch, 3 * side * side * Float.BYTES);
  }

  /**
   * The bytes of a tensor of {@code ts} with a dynamic first dimension at {@code batch} and each
   * other dynamic one at 1: a call's least for an input, the estimate for an output.
   */
  private static long bytesAt(TensorSpec ts, long batch) {
    long bytes = ts.dtype().byteSize();
    long[] shape = ts.shape();
    for (int d = 0; d < shape.length; d++) {
      long n = shape[d] != TensorSpec.DYNAMIC ? shape[d] : d == 0 ? batch : 1;
      bytes = saturatedMultiply(bytes, n);
    }
    return bytes;
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    return r < 0 ? Long.MAX_VALUE : r;
  }

  private static long saturatedMultiply(long a, long b) {
    long hi = Math.multiplyHigh(a, b);
    long lo = a * b;
    return hi != 0 || lo < 0 ? Long.MAX_VALUE : lo;
  }

  private static void check(String id, TensorSpec ts, Tensor t) {
    String what = "input '" + ts.name() + "' of model '" + id + "'";
    if (t.dtype() != ts.dtype()) {
      throw new IllegalArgumentException(what + " must be " + ts.dtype() + " but was " + t.dtype());
    }
    long[] want = ts.shape();
    long[] got = t.shape();
    if (got.length != want.length) {
      throw new IllegalArgumentException(what + " must have rank " + want.length + " (shape "
          + Arrays.toString(want) + ") but has rank " + got.length + " (shape "
          + Arrays.toString(got) + ")");
    }
    for (int i = 0; i < want.length; i++) {
      if (want[i] != -1 && got[i] != want[i]) {
        throw new IllegalArgumentException(what + " must have size " + want[i] + " in dim " + i
            + " (shape " + Arrays.toString(want) + ") but has " + got[i] + " (shape "
            + Arrays.toString(got) + ")");
      }
    }
    if (got[0] == 0) {
      throw new IllegalArgumentException(what + " has batch size 0 (shape " + Arrays.toString(got)
          + "); a batch holds at least one item");
    }
  }
}
