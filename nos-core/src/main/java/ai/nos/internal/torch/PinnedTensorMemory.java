package ai.nos.internal.torch;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Pinned host memory for the tensors NOS makes ({@code Tensor.of}, {@code fromBuffer},
 * {@code zeros}, a call's outputs) where a CUDA device is in use, so that a tensor goes to a GPU
 * with one DMA copy straight from its own bytes, as a {@link ai.nos.PinnedBuffer} does, instead of
 * being copied into a pinned staging block first (issue #20, item 1: on an H200 that staging copy
 * of a 154 MB batch costs several milliseconds of host copy on top of the transfer).
 *
 * <h2>Where the memory comes from</h2>
 * Blocks of libtorch's caching host allocator ({@code torch.empty(..., pinned_memory=true)}):
 * PyTorch's own pinned pool, with power-of-two size classes, blocks reused from tensor to tensor
 * and never given back to the driver (pinning and unpinning are slow, and unpinning under running
 * kernels killed the CUDA context on an H200: {@link CudaWork}). A block is held by one NOS tensor
 * at a time and goes back to the pool when that tensor is unreachable.
 *
 * <h2>Why a view can never see another tensor's bytes</h2>
 * The buffer handed out is a root direct buffer made over the block (JNI's
 * {@code NewDirectByteBuffer}, through JavaCPP); every view of it ({@code duplicate},
 * {@code slice}, {@code asReadOnlyBuffer}) keeps that root reachable (the JDK's direct buffers hold
 * their root as their attachment). The {@link Cleaner} action is registered on the root, so the
 * block goes back only when neither the tensor nor any view of its bytes is reachable: a view an
 * application keeps reads the same bytes for as long as it lives. (A pinned block handed out and
 * returned at an explicit close was rejected for #5 for that reason.) A copy from the buffer holds
 * a view until it is done ({@link TorchTensors#toTorch}), so a block is never returned under a
 * transfer.
 *
 * <h2>Bounds</h2>
 * Only buffers of at least {@link #MIN_BYTES} are pinned (smaller ones move through the driver's
 * own staging at no measurable cost), only while libtorch is loaded with a CUDA device (a
 * {@code Tensor} made before any model is loaded, or on a machine without a GPU, is ordinary
 * direct memory, and making one never loads libtorch), and only up to {@link #limit()} bytes held
 * by live tensors at once (system property {@value #LIMIT_PROPERTY}, default 2 GiB; 0 turns this
 * off). Beyond it a tensor gets ordinary direct memory and its calls take the staging path: a
 * program that drops large tensors faster than the collector reclaims them loses the fast path,
 * never memory. The pool itself keeps what it ever handed out (rounded up to a power of two), as
 * PyTorch's does.
 *
 * <p>Thread-safe: the count of held bytes is atomic, libtorch's allocator is thread-safe, and the
 * register of pinned ranges is {@link PinnedMemory}'s concurrent map.
 */
public final class PinnedTensorMemory {
  /** Buffers smaller than this stay ordinary direct memory. */
  public static final int MIN_BYTES = 1 << 20;

  /** The system property that bounds the bytes held by live tensors; 0 turns pinning off. */
  public static final String LIMIT_PROPERTY = "nos.pinnedTensorBytes";

  private static final long DEFAULT_LIMIT = 2L << 30;

  /** Where blocks come from and go back to: libtorch's pinned pool, or a test's. */
  interface Source {
    /** A block of at least {@code bytes} bytes, or null if none can be had. */
    Block take(int bytes);
  }

  /** A block of a {@link Source}: its address, and how to give it back (called once). */
  interface Block {
    long address();

    void giveBack();
  }

  /** The process's pool, made at the first tensor pinned (its Cleaner starts a thread). */
  private static final class Holder {
    static final Pool POOL = new Pool(PinnedTensorMemory::torchBlock, limitOrOff());
  }

  /**
   * The bound from {@value #LIMIT_PROPERTY}, or 0 (no pinned tensors, as before this existed)
   * with an error logged when the property is not a byte count: a mistyped setting must not
   * make every later {@code Tensor.of} fail.
   */
  static long limitOrOff() {
    try {
      return limitFromProperty();
    } catch (IllegalArgumentException e) {
      org.slf4j.LoggerFactory.getLogger(PinnedTensorMemory.class).error("{}; NOS's tensors stay"
          + " in ordinary direct memory", e.getMessage());
      return 0;
    }
  }

  private PinnedTensorMemory() {}

  /**
   * A direct buffer of {@code bytes} bytes in pinned memory (native order; zeros if
   * {@code zeroed}, else undefined), or null where this process does not pin tensors (no CUDA
   * device in use, too small, or the limit reached): the caller then allocates ordinary direct
   * memory.
   */
  public static ByteBuffer allocate(int bytes, boolean zeroed) {
    if (bytes < MIN_BYTES || !TorchRuntime.cudaLoaded()) {
      return null;
    }
    ByteBuffer buf = Holder.POOL.allocate(bytes);
    if (buf != null && zeroed) {
      Pointer.memset(new BytePointer(buf), 0, bytes);
    }
    return buf;
  }

  /** The bytes live tensors hold in pinned memory now (0 before the first). */
  public static long heldBytes() {
    return TorchRuntime.cudaLoaded() ? Holder.POOL.held() : 0;
  }

  /** The most bytes live tensors may hold in pinned memory ({@value #LIMIT_PROPERTY}). */
  public static long limit() {
    return TorchRuntime.cudaLoaded() ? Holder.POOL.limit : limitOrOff();
  }

  static long limitFromProperty() {
    String v = System.getProperty(LIMIT_PROPERTY);
    if (v == null || v.isBlank()) {
      return DEFAULT_LIMIT;
    }
    try {
      long limit = Long.parseLong(v.trim());
      if (limit < 0) {
        throw new NumberFormatException();
      }
      return limit;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("system property " + LIMIT_PROPERTY + " must be a"
          + " number of bytes >= 0 (0 turns pinned tensor memory off) but was '" + v + "'");
    }
  }

  /** A block of libtorch's caching host allocator, held by one tensor reference of its own. */
  private static Block torchBlock(int bytes) {
    org.bytedeco.pytorch.Tensor host;
    try (PointerScope scope = new PointerScope()) {
      TensorOptions options = new TensorOptions(torch.ScalarType.Byte)
          .pinned_memory(new BoolOptional(true));
      host = torch.empty(new long[] {bytes}, options, new MemoryFormatOptional());
      host.retainReference(); // outlives the scope: released when the block goes back
    } catch (RuntimeException e) {
      return null; // no pinned memory to be had: the tensor is ordinary memory
    }
    long address = host.data_ptr().address();
    return new Block() {
      @Override
      public long address() {
        return address;
      }

      @Override
      public void giveBack() {
        host.releaseReference();
      }
    };
  }

  /**
   * Hands out blocks of a {@link Source} as root buffers and takes each back once its root is
   * unreachable; a pool per source (one for the process; tests make their own).
   */
  static final class Pool {
    /** Process-wide, so its thread comes from the default runtime ({@link ai.nos.NosRuntime}). */
    private static final Cleaner CLEANER =
        Cleaner.create(ai.nos.NosRuntime.defaultRuntime().threads("nos-pinned-tensors-"));

    private final Source source;
    final long limit;
    private final AtomicLong held = new AtomicLong();
    private final AtomicLong returned = new AtomicLong();

    Pool(Source source, long limit) {
      this.source = source;
      this.limit = limit;
    }

    ByteBuffer allocate(int bytes) {
      if (!reserve(bytes)) {
        return null;
      }
      Block block;
      try {
        block = source.take(bytes);
      } catch (RuntimeException | Error e) {
        held.addAndGet(-bytes);
        throw e;
      }
      if (block == null) {
        held.addAndGet(-bytes);
        return null;
      }
      long address = block.address();
      // A root buffer: every view of it keeps it reachable (class comment).
      ByteBuffer root = new BytePointer(new Address(address)).capacity(bytes).asByteBuffer()
          .order(ByteOrder.nativeOrder());
      PinnedMemory.trackTensorMemory(address, bytes);
      CLEANER.register(root, new GiveBack(this, block, address, bytes));
      return root;
    }

    private boolean reserve(int bytes) {
      while (true) {
        long now = held.get();
        if (now + bytes > limit) {
          return false;
        }
        if (held.compareAndSet(now, now + bytes)) {
          return true;
        }
      }
    }

    long held() {
      return held.get();
    }

    /** Blocks given back so far: for tests. */
    long returned() {
      return returned.get();
    }
  }

  /** A pointer at an address, to make a buffer over it; frees nothing. */
  private static final class Address extends Pointer {
    Address(long address) {
      this.address = address;
    }
  }

  /** The Cleaner's action: holds the block, never the buffer (which would then stay reachable). */
  private record GiveBack(Pool pool, Block block, long address, int bytes) implements Runnable {
    @Override
    public void run() {
      // Out of the register first, so no copy can find the range once the block is reused.
      PinnedMemory.untrack(address);
      try {
        block.giveBack();
      } finally {
        pool.held.addAndGet(-bytes);
        pool.returned.incrementAndGet();
      }
    }
  }
}
