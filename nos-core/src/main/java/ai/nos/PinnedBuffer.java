package ai.nos;

import ai.nos.internal.torch.PinnedMemory;
import java.lang.ref.Cleaner;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * A reusable host buffer for large inputs, pinned in RAM so that a GPU copies it with one DMA
 * transfer: the input of a call is then moved to the device straight from the application's
 * bytes, with no copy on the host first.
 *
 * <pre>{@code
 * try (PinnedBuffer images = PinnedBuffer.allocate(DType.FLOAT32, 256, 3, 224, 224)) {
 *   while (running) {
 *     decodeInto(images.buffer().asFloatBuffer());      // write this call's pixels
 *     Tensor logits = model.infer(images.tensor()).get("logits");
 *   }
 * }
 * }</pre>
 *
 * <p><b>Why.</b> A {@link Tensor} in ordinary memory reaches a GPU through a pinned staging block
 * of NOS's: a host copy, then the DMA. For a batch of 256 ResNet-50 images (154 MB of float32) on
 * an H200 host the host copy costs about 6 ms on 8 threads and the DMA 2.8 ms
 * (scripts/gpu/copy_probe.py); from a pinned buffer only the DMA remains. Pin a buffer once and
 * reuse it: pinning costs about 9 ms and unpinning 3 ms for that size. Small inputs gain little.
 * Pinning and unpinning run with no NOS call or load running on any GPU: they wait for those in
 * flight and hold new ones back meanwhile (unregistering host memory beside running kernels lost
 * the CUDA context on an H200).
 *
 * <p><b>Where there is no GPU.</b> In a process that sees no CUDA device the buffer is ordinary
 * direct memory and {@link #isPinned()} is false; everything else works the same, so one program
 * runs on both kinds of machine.
 *
 * <p><b>Sharing.</b> {@link #tensor()} does not copy: the tensor reads this buffer's bytes when a
 * call runs. Write the next input only once the call that reads the last one has returned (or its
 * future completed); a write during that call may change what it sees. The buffer itself is not
 * synchronized: give each thread its own, or hand one over with the usual happens-before (a
 * queue, a future).
 *
 * <p><b>Memory.</b> The bytes are JVM direct memory ({@link ByteBuffer#allocateDirect}, bounded
 * by {@code -XX:MaxDirectMemorySize}), padded to whole 64 KiB pages of their own. {@link #close()}
 * unpins them; they stay valid, so a tensor or buffer view still held is ordinary memory and
 * never dangling, and the JVM frees them when the last view is collected. A buffer never closed
 * is unpinned when it is collected. Pinned memory cannot be swapped: keep it to what the calls in
 * flight need.
 *
 * <p><b>Thread-safety.</b> {@link #close()} is idempotent and may be called from any thread;
 * the other methods are safe to call from several threads, but the bytes are the application's
 * to order (see Sharing).
 */
public final class PinnedBuffer implements AutoCloseable {
  /** Pinned ranges are whole pages of their own: the largest page size Linux uses by default. */
  private static final int PAGE = 64 << 10;
  /** Process-wide, so its thread comes from the default runtime ({@link NosRuntime}). */
  private static final Cleaner CLEANER =
      Cleaner.create(NosRuntime.defaultRuntime().threads("nos-pinned-cleaner-"));

  private final DType dtype;
  private final long[] shape;
  private final int byteSize;
  /** Page-aligned, a whole number of pages, native order; the pinned range. */
  private final ByteBuffer block;
  private final boolean pinned;
  private final Cleaner.Cleanable unpin;
  private volatile boolean closed;

  private PinnedBuffer(DType dtype, long[] shape, int byteSize) {
    this.dtype = dtype;
    this.shape = shape;
    this.byteSize = byteSize;
    int padded = (int) ((byteSize + PAGE - 1L) / PAGE * PAGE);
    ByteBuffer raw = ByteBuffer.allocateDirect(padded + PAGE);
    this.block = raw.alignedSlice(PAGE).limit(padded).slice().order(ByteOrder.nativeOrder());
    this.pinned = PinnedMemory.pin(block);
    // The action holds the block, not this object, so the JVM cannot free the bytes before they
    // are unpinned; it runs once, from close() or after this buffer is collected.
    ByteBuffer toUnpin = block;
    this.unpin = CLEANER.register(this, () -> PinnedMemory.unpin(toUnpin));
  }

  /**
   * A buffer for a tensor of {@code dtype} and {@code shape} (zeros), pinned where a CUDA device
   * is visible.
   *
   * @throws IllegalArgumentException if the shape has a negative size, a rank above
   *     {@value Tensor#MAX_RANK}, or holds more bytes than a {@link Tensor} can
   * @throws NosException if CUDA refuses to pin the memory (its error is in the message)
   */
  public static PinnedBuffer allocate(DType dtype, long... shape) {
    Objects.requireNonNull(dtype, "dtype");
    long[] s = Objects.requireNonNull(shape, "shape").clone();
    return new PinnedBuffer(dtype, s, bytes(dtype, s, "allocate"));
  }

  /** The element type. */
  public DType dtype() {
    return dtype;
  }

  /** A copy of the shape the buffer was allocated for. */
  public long[] shape() {
    return shape.clone();
  }

  /** The bytes the shape holds: {@code product(shape) * dtype().byteSize()}. */
  public long byteSize() {
    return byteSize;
  }

  /** Whether the memory is pinned now: false without a CUDA device, and after {@link #close()}. */
  public boolean isPinned() {
    return pinned && !closed;
  }

  /**
   * A writable view of the bytes: native byte order, position 0, limit {@link #byteSize()}. Each
   * call returns a new view, so its position is the caller's own.
   *
   * @throws IllegalStateException after {@link #close()}
   */
  public ByteBuffer buffer() {
    open("buffer");
    return block.duplicate().limit(byteSize).order(ByteOrder.nativeOrder());
  }

  /**
   * A tensor over the whole buffer, with the allocated shape. It shares the bytes (see the class
   * comment) and is moved to a GPU straight from them while the buffer is pinned.
   *
   * @throws IllegalStateException after {@link #close()}
   */
  public Tensor tensor() {
    return tensor(shape);
  }

  /**
   * A tensor over the first bytes of the buffer under {@code shape}: a smaller batch of the same
   * rows, say {@code tensor(16, 3, 224, 224)} from a buffer allocated for 256 images.
   *
   * @throws IllegalArgumentException if the shape is invalid or needs more bytes than the buffer
   *     holds
   * @throws IllegalStateException after {@link #close()}
   */
  public Tensor tensor(long... shape) {
    Objects.requireNonNull(shape, "shape");
    int bytes = bytes(dtype, shape, "tensor");
    if (bytes > byteSize) {
      throw new IllegalArgumentException("tensor shape " + Arrays.toString(shape) + " needs "
          + bytes + " bytes but this PinnedBuffer holds " + byteSize + " (" + dtype.label()
          + Arrays.toString(this.shape) + ")");
    }
    open("tensor");
    return Tensor.wrap(dtype, block.duplicate().limit(bytes).order(ByteOrder.nativeOrder()),
        shape);
  }

  /**
   * Unpins the memory (once; later calls do nothing), after any transfer from it in progress: on
   * a GPU, after the calls reading it have finished (their copy from it is asynchronous, so a
   * call holds the buffer until its work on the device is done). Views and tensors taken before
   * stay valid as ordinary memory: a call that reads one later copies it as it copies any tensor.
   */
  @Override
  public void close() {
    closed = true;
    unpin.clean();
  }

  @Override
  public String toString() {
    return "PinnedBuffer(" + dtype.label() + Arrays.toString(shape) + ", "
        + (closed ? "closed" : pinned ? "pinned" : "not pinned: no CUDA device") + ")";
  }

  private void open(String method) {
    if (closed) {
      throw new IllegalStateException(method + "() on a closed PinnedBuffer (" + dtype.label()
          + Arrays.toString(shape) + "); allocate a new one");
    }
  }

  /** The byte size of {@code shape}, validated as {@link Tensor} would. */
  private static int bytes(DType dtype, long[] shape, String method) {
    if (shape.length > Tensor.MAX_RANK) {
      throw new IllegalArgumentException(method + ": shape " + Arrays.toString(shape)
          + " has rank " + shape.length + " but a Tensor has rank at most " + Tensor.MAX_RANK);
    }
    BigInteger n = BigInteger.valueOf(dtype.byteSize());
    for (int i = 0; i < shape.length; i++) {
      if (shape[i] < 0) {
        throw new IllegalArgumentException(method + ": shape[" + i + "] must be >= 0 but was "
            + shape[i] + " in " + Arrays.toString(shape));
      }
      n = n.multiply(BigInteger.valueOf(shape[i]));
    }
    long max = Integer.MAX_VALUE - 2L * PAGE;
    if (n.compareTo(BigInteger.valueOf(max)) > 0) {
      throw new IllegalArgumentException(method + ": " + dtype.label() + " shape "
          + Arrays.toString(shape) + " holds " + n + " bytes; a PinnedBuffer holds at most "
          + max);
    }
    return n.intValue();
  }
}
