package ai.nos.internal.torch;

import ai.nos.DType;
import ai.nos.Tensor;
import ai.nos.internal.Copies;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Moves tensors between NOS's JVM {@link Tensor}s and libtorch, one bulk copy each way.
 *
 * <p>Every native object made here is attached to the caller's open {@code PointerScope}, which
 * frees it; nothing here outlives the call but the shared host options ({@link #hostOptions}).
 * Public for nos-optim's INT8 calibration, which sends its host batches to the device the way a
 * call's inputs go ({@link #toTorch}).
 */
public final class TorchTensors {
  /**
   * The options of a host tensor of each dtype, made once and shared: every call's inputs are
   * made with them, and libtorch only reads them. A native object made per call costs JavaCPP's
   * process-wide lock twice (registered when made, unregistered when freed): with 64 callers on
   * 2 cores those were the most contended monitors of a call (issue 20 item 5).
   */
  private static final AtomicReferenceArray<TensorOptions> HOST_OPTIONS =
      new AtomicReferenceArray<>(DType.values().length);
  /** Index 0: no memory format (libtorch's default); 1: channels-last. */
  private static final AtomicReferenceArray<MemoryFormatOptional> MEMORY_FORMATS =
      new AtomicReferenceArray<>(2);
  private static final java.util.concurrent.atomic.AtomicLong ASYNC_COPIES =
      new java.util.concurrent.atomic.AtomicLong();

  private TorchTensors() {}

  /** Host options of {@code dtype}, shared; see {@link #HOST_OPTIONS}. Never to be closed. */
  static TensorOptions hostOptions(DType dtype) {
    TensorOptions options = HOST_OPTIONS.get(dtype.ordinal());
    return options != null ? options
        : shared(HOST_OPTIONS, dtype.ordinal(), new TensorOptions(scalarType(dtype)));
  }

  /** No memory format (libtorch's default), shared as {@link #hostOptions} are. */
  static MemoryFormatOptional noMemoryFormat() {
    MemoryFormatOptional none = MEMORY_FORMATS.get(0);
    return none != null ? none : shared(MEMORY_FORMATS, 0, new MemoryFormatOptional());
  }

  /** Channels-last, shared as {@link #hostOptions} are. */
  static MemoryFormatOptional channelsLastFormat() {
    MemoryFormatOptional cl = MEMORY_FORMATS.get(1);
    return cl != null ? cl : shared(MEMORY_FORMATS, 1,
        new MemoryFormatOptional(torch.MemoryFormat.ChannelsLast));
  }

  /**
   * {@code made} as {@code slots[i]}, kept beyond the caller's scope, or the object another
   * thread put there first ({@code made} is then freed).
   */
  private static <P extends Pointer> P shared(AtomicReferenceArray<P> slots, int i, P made) {
    if (slots.compareAndSet(i, null, made)) {
      // One reference more than the caller's scope will release: it outlives the call.
      made.retainReference();
      return made;
    }
    made.close();
    return slots.get(i);
  }

  static ScalarType scalarType(DType dtype) {
    switch (dtype) {
      case FLOAT32:
        return ScalarType.Float;
      case FLOAT16:
        return ScalarType.Half;
      case BFLOAT16:
        return ScalarType.BFloat16;
      case INT64:
        return ScalarType.Long;
      case INT32:
        return ScalarType.Int;
      case UINT8:
        return ScalarType.Byte;
      case BOOL:
        return ScalarType.Bool;
      default:
        throw new AssertionError(dtype);
    }
  }

  /** The NOS dtype of a libtorch scalar type, or null if NOS has none for it. */
  static DType dtype(ScalarType type) {
    for (DType d : DType.values()) {
      if (scalarType(d).value == type.value) {
        return d;
      }
    }
    return null;
  }

  /**
   * A libtorch tensor on {@code device} holding a copy of {@code t}, cast to {@code as}. The copy
   * matters on the CPU too: a model may write into its inputs, and a {@link Tensor} is immutable.
   * Synchronous: the caller's bytes are free when it returns.
   */
  public static org.bytedeco.pytorch.Tensor toTorch(Tensor t,
      org.bytedeco.pytorch.Device device, DType as) {
    return toTorch(t, device, as, null);
  }

  /**
   * As {@link #toTorch(Tensor, org.bytedeco.pytorch.Device, DType)}; with {@code pending} (a GPU
   * call's, on its current stream), an input in pinned memory is copied asynchronously and
   * {@code pending} holds its range until the call's stream is done ({@link PendingCopies}).
   */
  static org.bytedeco.pytorch.Tensor toTorch(Tensor t, org.bytedeco.pytorch.Device device,
      DType as, PendingCopies pending) {
    ByteBuffer buf = t.buffer();
    // Memory the caller pinned (ai.nos.PinnedBuffer) goes with the direct copy below: one DMA
    // transfer, no staging. The range stays acquired until the copy is done (at the end of this
    // method, or with pending when the stream is), so it cannot be unpinned under the transfer.
    PinnedMemory.Range pinned = device.is_cuda() ? PinnedMemory.acquire(buf) : null;
    // A large input for a GPU goes through a pinned block; on the CPU the staged host tensor is
    // the input itself: one tensor, one copy (a view of the buffer and its clone made two
    // native objects more).
    if (pinned == null && (device.is_cuda() ? buf.remaining() >= Copies.MIN_PART_BYTES
        : as == t.dtype())) {
      int bytes = buf.remaining();
      return staged(t.shape(), t.dtype(), bytes,
          block -> Copies.copy(buf, buf.position(), block, 0, bytes), device, as);
    }
    boolean async = pinned != null && pending != null;
    try {
      if (pinned != null) {
        PinnedMemory.countDirectCopy();
      }
      if (async) {
        pending.hold(pinned, buf); // before the copy is queued: see PendingCopies.hold
        pinned = null;
        ASYNC_COPIES.incrementAndGet();
      }
      org.bytedeco.pytorch.Tensor view = torch.from_blob(new BytePointer(buf), t.shape(),
          hostOptions(t.dtype()));
      org.bytedeco.pytorch.Tensor out;
      if (device.is_cuda()) {
        // Copy in the caller's dtype, then cast on the device: a cast on the host would run
        // single-threaded over the whole batch before the copy.
        out = view.to(device, scalarType(t.dtype()), async, true, noMemoryFormat());
        if (as != t.dtype()) {
          out = out.to(scalarType(as));
        }
      } else {
        out = view.to(scalarType(as)); // a cast on the CPU: an uncast input was staged above
      }
      // The view reads the buffer until the copy above is done (synchronous for host memory,
      // unless pending holds the buffer).
      java.lang.ref.Reference.reachabilityFence(buf);
      return out;
    } finally {
      if (pinned != null) {
        pinned.release();
      }
    }
  }

  /** Inputs copied asynchronously from pinned memory ({@link PendingCopies}); for tests. */
  public static long asyncCopies() {
    return ASYNC_COPIES.get();
  }

  /**
   * A tensor of {@code shape} and {@code dtype} on {@code device}, cast to {@code as}, whose
   * {@code bytes} bytes {@code fill} writes into a host buffer (in native order). For a CUDA
   * device the buffer is a block of libtorch's caching host allocator, pinned and reused from call
   * to call, moved with one asynchronous copy (a pageable copy would stage through the driver on
   * one thread); the block goes back to its allocator when the call's scope closes, and the
   * allocator keeps it from reuse until the copy on the stream is done. On the CPU the buffer is
   * the tensor. Public for the generation engine's admissions (Whisper's PCM windows).
   */
  public static org.bytedeco.pytorch.Tensor staged(long[] shape, DType dtype, long bytes,
      java.util.function.Consumer<ByteBuffer> fill, org.bytedeco.pytorch.Device device,
      DType as) {
    ScalarType type = scalarType(dtype);
    TensorOptions options = device.is_cuda()
        ? new TensorOptions(type).pinned_memory(new org.bytedeco.pytorch.BoolOptional(true))
        : hostOptions(dtype);
    org.bytedeco.pytorch.Tensor host = torch.empty(shape, options, noMemoryFormat());
    if (bytes > 0) {
      fill.accept(new BytePointer(host.data_ptr()).capacity(bytes).asByteBuffer()
          .order(ByteOrder.nativeOrder()));
    }
    org.bytedeco.pytorch.Tensor out = device.is_cuda()
        ? host.to(device, type, true, false, noMemoryFormat())
        : host;
    return as == dtype ? out : out.to(scalarType(as));
  }

  /**
   * Copies a libtorch tensor (any device, any layout) into a new JVM {@link Tensor}. From a GPU,
   * a large output goes with one copy straight into the tensor's own pinned memory
   * ({@link PinnedTensorMemory}), a small one with one copy straight into a new direct buffer (the
   * driver stages it); a CPU tensor is copied into a new direct buffer. {@code dtype} is
   * {@code t}'s own (TorchModel casts an output to its signature's dtype first).
   */
  static Tensor fromTorch(org.bytedeco.pytorch.Tensor t, DType dtype) {
    if (t.is_cuda()) {
      long bytes = t.nbytes();
      if (bytes > Integer.MAX_VALUE) {
        throw tooLarge(bytes);
      }
      long[] shape = t.sizes().vec().get();
      ByteBuffer pinned = PinnedTensorMemory.allocate((int) bytes, false);
      // Not pinned (small, or over the pool's limit): a plain direct buffer, written by the same
      // one copy (before, libtorch's .cpu() made a host tensor and a memcpy followed).
      ByteBuffer out = pinned != null ? pinned
          : ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
      if (bytes > 0) {
        // The shared options of t's dtype: a native object made per call costs JavaCPP's lock
        // twice (see HOST_OPTIONS).
        org.bytedeco.pytorch.Tensor view = torch.from_blob(new BytePointer(out), shape,
            hostOptions(dtype));
        view.copy_(t); // synchronous: the bytes are there when it returns
      }
      java.lang.ref.Reference.reachabilityFence(out);
      return Tensor.wrap(dtype, out, shape);
    }
    org.bytedeco.pytorch.Tensor host = t;
    if (!host.is_contiguous()) {
      host = host.contiguous();
    }
    int rank = (int) host.dim();
    long[] shape = new long[rank];
    for (int i = 0; i < rank; i++) {
      shape[i] = host.size(i);
    }
    long bytes = host.nbytes();
    if (bytes > Integer.MAX_VALUE) {
      throw tooLarge(bytes);
    }
    ByteBuffer out = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    if (bytes > 0) {
      Pointer.memcpy(new BytePointer(out), host.data_ptr(), bytes);
    }
    return Tensor.wrap(dtype, out, shape);
  }

  private static IllegalStateException tooLarge(long bytes) {
    return new IllegalStateException("output of " + bytes + " bytes is larger than a Tensor can"
        + " hold (2 GiB)");
  }
}
