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
  private static final AtomicReferenceArray<MemoryFormatOptional> NO_MEMORY_FORMAT =
      new AtomicReferenceArray<>(1);

  private TorchTensors() {}

  /** Host options of {@code dtype}, shared; see {@link #HOST_OPTIONS}. Never to be closed. */
  static TensorOptions hostOptions(DType dtype) {
    TensorOptions options = HOST_OPTIONS.get(dtype.ordinal());
    return options != null ? options
        : shared(HOST_OPTIONS, dtype.ordinal(), new TensorOptions(scalarType(dtype)));
  }

  /** No memory format (libtorch's default), shared as {@link #hostOptions} are. */
  static MemoryFormatOptional noMemoryFormat() {
    MemoryFormatOptional none = NO_MEMORY_FORMAT.get(0);
    return none != null ? none : shared(NO_MEMORY_FORMAT, 0, new MemoryFormatOptional());
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
   */
  public static org.bytedeco.pytorch.Tensor toTorch(Tensor t,
      org.bytedeco.pytorch.Device device, DType as) {
    ByteBuffer buf = t.buffer();
    // Memory the caller pinned (ai.nos.PinnedBuffer) goes with the direct copy below: one DMA
    // transfer, no staging. The range stays acquired until the copy is done (it is synchronous),
    // so it cannot be unpinned under the transfer, and the caller's bytes are free on return.
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
    try {
      if (pinned != null) {
        PinnedMemory.countDirectCopy();
      }
      org.bytedeco.pytorch.Tensor view = torch.from_blob(new BytePointer(buf), t.shape(),
          hostOptions(t.dtype()));
      org.bytedeco.pytorch.Tensor out;
      if (device.is_cuda()) {
        // Copy in the caller's dtype, then cast on the device: a cast on the host would run
        // single-threaded over the whole batch before the copy.
        out = view.to(device, scalarType(t.dtype()), false, true, noMemoryFormat());
        if (as != t.dtype()) {
          out = out.to(scalarType(as));
        }
      } else {
        out = view.to(scalarType(as)); // a cast on the CPU: an uncast input was staged above
      }
      // The view reads the buffer until the copy above is done (synchronous for host memory).
      java.lang.ref.Reference.reachabilityFence(buf);
      return out;
    } finally {
      if (pinned != null) {
        pinned.release();
      }
    }
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
   * ({@link PinnedTensorMemory}); otherwise through a host tensor libtorch makes.
   */
  static Tensor fromTorch(org.bytedeco.pytorch.Tensor t, DType dtype) {
    if (t.is_cuda()) {
      long bytes = t.nbytes();
      ByteBuffer pinned = bytes <= Integer.MAX_VALUE
          ? PinnedTensorMemory.allocate((int) bytes, false) : null;
      if (pinned != null) {
        long[] shape = t.sizes().vec().get();
        org.bytedeco.pytorch.Tensor view = torch.from_blob(new BytePointer(pinned), shape,
            new TensorOptions(t.scalar_type()));
        view.copy_(t); // synchronous: the bytes are there when it returns
        java.lang.ref.Reference.reachabilityFence(pinned);
        return Tensor.wrap(dtype, pinned, shape);
      }
    }
    org.bytedeco.pytorch.Tensor host = t.is_cuda() ? t.cpu() : t;
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
      throw new IllegalStateException("output of " + bytes + " bytes is larger than a Tensor can"
          + " hold (2 GiB)");
    }
    ByteBuffer out = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    if (bytes > 0) {
      Pointer.memcpy(new BytePointer(out), host.data_ptr(), bytes);
    }
    return Tensor.wrap(dtype, out, shape);
  }
}
