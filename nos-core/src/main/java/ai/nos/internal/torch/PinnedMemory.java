package ai.nos.internal.torch;

import ai.nos.NosException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * JVM direct memory pinned in place for the GPUs' copy engines ({@code cudaHostRegister}), and the
 * register of which address ranges are pinned, so that {@link TorchTensors#toTorch} can move such
 * an input to the device with one DMA copy instead of first copying it into a pinned block of its
 * own (H200, 154 MB: 2.8 ms instead of about 6 ms of host copy on 8 threads plus 2.8 ms;
 * scripts/gpu/copy_probe.py).
 *
 * <p>The memory stays owned by the JVM ({@link ByteBuffer#allocateDirect}): pinning never frees
 * it, so a buffer used after {@link #unpin} is ordinary memory again, never a dangling pointer.
 * Ranges are registered {@code cudaHostRegisterPortable} (every device may copy from them) and
 * must cover whole pages of their own: {@link ai.nos.PinnedBuffer} aligns and pads its block.
 *
 * <p>Thread-safe. The register is a concurrent map of {@link Range}s. A copy {@link #acquire}s
 * the range it reads for as long as the copy runs (a GPU call's asynchronous copy: until the
 * call's stream is done, after its forward pass and its copy back, {@link PendingCopies}); {@link
 * #unpin} removes the range from the
 * map, refuses new copies and waits for those running before it unpins, so memory is never
 * unpinned under a transfer, whether a buffer is closed while a call reads it or its Cleaner
 * runs while a tensor taken from it is still in use. A copy refused by a closing range takes the
 * staging path; the bytes stay valid either way (the JVM owns them). Waiting for the copies of
 * the range alone proved not enough: the register and unregister themselves run under
 * {@link CudaWork#exclusive}, with no NOS call or load running on any GPU.
 */
public final class PinnedMemory {
  private static final Logger LOG = LoggerFactory.getLogger(PinnedMemory.class);

  /** Pinned ranges by start address. Ranges never overlap. */
  private static final ConcurrentSkipListMap<Long, Range> RANGES = new ConcurrentSkipListMap<>();

  /** Inputs moved straight from pinned memory, for tests and benchmarks to see the path taken. */
  private static final AtomicLong DIRECT_COPIES = new AtomicLong();

  private PinnedMemory() {}

  /**
   * Pins all of {@code block}'s capacity for every CUDA device. Returns false, pinning nothing,
   * where this process sees no CUDA device (there is nothing to copy to).
   *
   * @throws NosException if CUDA refuses (the message has CUDA's error)
   */
  public static boolean pin(ByteBuffer block) {
    if (!block.isDirect() || block.capacity() == 0 || TorchRuntime.cudaDeviceCount() == 0) {
      return false;
    }
    BytePointer p = new BytePointer(block);
    long start = p.address() + p.position();
    long bytes = block.capacity();
    // With no NOS work on the GPUs: see CudaWork (unregistering under running kernels killed
    // the context on an H200; registering changes the same mappings, so it waits too).
    int err = CudaWork.exclusive(() -> cudart.cudaHostRegister(p.position(0).capacity(bytes),
        bytes, cudart.cudaHostRegisterPortable));
    if (err != 0) {
      cudart.cudaGetLastError(); // clears the error, which would fail the next CUDA call
      throw new NosException("CUDA could not pin " + bytes + " bytes of host memory"
          + " (cudaHostRegister: " + cudart.cudaGetErrorString(err).getString() + ", error " + err
          + "). Pinned memory is locked in RAM; free some, or use ordinary tensors.");
    }
    track(start, bytes);
    return true;
  }

  /** Unpins a block {@link #pin} pinned; a block it did not pin is left alone. Never throws. */
  public static void unpin(ByteBuffer block) {
    BytePointer p = new BytePointer(block);
    long start = p.address() + p.position();
    Range range = untrack(start);
    if (range == null) {
      return;
    }
    range.close(); // waits for the copies reading it
    int err = CudaWork.exclusive(() -> cudart.cudaHostUnregister(p.position(0)));
    if (err != 0) {
      cudart.cudaGetLastError();
      LOG.warn("cudaHostUnregister of {} bytes at 0x{} failed: {}", block.capacity(),
          Long.toHexString(start), cudart.cudaGetErrorString(err).getString());
    }
  }

  /**
   * The pinned range holding all {@code bytes} bytes from {@code address}, acquired for one copy
   * (give it back with {@link Range#release()}), or null if they are not all in one pinned range
   * or that range is being unpinned.
   */
  static Range acquire(long address, long bytes) {
    Range range = holding(address, bytes);
    return range != null && range.tryAcquire() ? range : null;
  }

  /** The range holding all {@code bytes} bytes from {@code address}, or null. */
  private static Range holding(long address, long bytes) {
    if (bytes <= 0) {
      return null;
    }
    Map.Entry<Long, Range> e = RANGES.floorEntry(address);
    return e != null && address + bytes <= e.getValue().end ? e.getValue() : null;
  }

  /** {@link #acquire(long, long)} for {@code buf}'s remaining bytes. */
  static Range acquire(ByteBuffer buf) {
    BytePointer p = new BytePointer(buf);
    return acquire(p.address() + p.position(), buf.remaining());
  }

  /** Registers a pinned range (pin does, after CUDA pinned it; tests do without CUDA). */
  static void track(long start, long bytes) {
    RANGES.put(start, new Range(start + bytes, false));
  }

  /**
   * Registers a block of {@link PinnedTensorMemory}: pinned by libtorch's allocator, never
   * unpinned, removed with {@link #untrack} when its tensor is gone.
   */
  static void trackTensorMemory(long start, long bytes) {
    RANGES.put(start, new Range(start + bytes, true));
  }

  /** Removes the range starting at {@code start}: null if there is none. */
  static Range untrack(long start) {
    return RANGES.remove(start);
  }

  /**
   * One pinned range and the copies reading it now. A monitor guards the count: copies are few
   * and short (a synchronous transfer, or a GPU call whose copy is asynchronous), so waiting on it
   * costs nothing measurable.
   */
  static final class Range {
    final long end;
    /** A block of {@link PinnedTensorMemory}, not a {@link ai.nos.PinnedBuffer}'s range. */
    final boolean tensorMemory;
    private int readers;
    private boolean closing;

    Range(long end, boolean tensorMemory) {
      this.end = end;
      this.tensorMemory = tensorMemory;
    }

    /** Counts one more copy reading the range; false once it is closing. */
    synchronized boolean tryAcquire() {
      if (closing) {
        return false;
      }
      readers++;
      return true;
    }

    /** The copy is done. */
    synchronized void release() {
      if (--readers == 0) {
        notifyAll();
      }
    }

    /** Refuses new copies and waits, uninterruptibly, for those reading the range. */
    synchronized void close() {
      closing = true;
      boolean interrupted = false;
      while (readers > 0) {
        try {
          wait();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }

    /** Copies reading the range now; for tests. */
    synchronized int readers() {
      return readers;
    }
  }

  /** Notes one input moved straight from pinned memory. */
  static void countDirectCopy() {
    DIRECT_COPIES.incrementAndGet();
  }

  /** How many inputs this process moved straight from pinned memory to a device. */
  public static long directCopies() {
    return DIRECT_COPIES.get();
  }

  /**
   * How many {@link ai.nos.PinnedBuffer} ranges are pinned now: for tests that a closed or
   * collected buffer unpins. Tensor memory's blocks are not counted.
   */
  public static int pinnedRanges() {
    return (int) RANGES.values().stream().filter(r -> !r.tensorMemory).count();
  }

  /** Whether all of {@code buf}'s remaining bytes are in a block of {@link PinnedTensorMemory}. */
  public static boolean isTensorMemory(ByteBuffer buf) {
    BytePointer p = new BytePointer(buf);
    Range range = holding(p.address() + p.position(), buf.remaining());
    return range != null && range.tensorMemory;
  }

  /** How many blocks of {@link PinnedTensorMemory} live tensors hold now. */
  public static int tensorMemoryRanges() {
    return (int) RANGES.values().stream().filter(r -> r.tensorMemory).count();
  }
}
