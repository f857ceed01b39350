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
 * <p>Thread-safe: the register is a concurrent map. A range is removed from it before it is
 * unpinned, so a lookup that still finds a range races only with a caller that unpins memory a
 * call is reading, which {@link ai.nos.PinnedBuffer#close()} documents as the caller's error.
 */
public final class PinnedMemory {
  private static final Logger LOG = LoggerFactory.getLogger(PinnedMemory.class);

  /** Pinned ranges: start address to end address (exclusive). Ranges never overlap. */
  private static final ConcurrentSkipListMap<Long, Long> RANGES = new ConcurrentSkipListMap<>();

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
    int err = cudart.cudaHostRegister(p.position(0).capacity(bytes), bytes,
        cudart.cudaHostRegisterPortable);
    if (err != 0) {
      cudart.cudaGetLastError(); // clears the error, which would fail the next CUDA call
      throw new NosException("CUDA could not pin " + bytes + " bytes of host memory"
          + " (cudaHostRegister: " + cudart.cudaGetErrorString(err).getString() + ", error " + err
          + "). Pinned memory is locked in RAM; free some, or use ordinary tensors.");
    }
    RANGES.put(start, start + bytes);
    return true;
  }

  /** Unpins a block {@link #pin} pinned; a block it did not pin is left alone. Never throws. */
  public static void unpin(ByteBuffer block) {
    BytePointer p = new BytePointer(block);
    long start = p.address() + p.position();
    if (RANGES.remove(start) == null) {
      return;
    }
    int err = cudart.cudaHostUnregister(p.position(0));
    if (err != 0) {
      cudart.cudaGetLastError();
      LOG.warn("cudaHostUnregister of {} bytes at 0x{} failed: {}", block.capacity(),
          Long.toHexString(start), cudart.cudaGetErrorString(err).getString());
    }
  }

  /** Whether all {@code bytes} bytes from {@code address} lie in one pinned range. */
  static boolean isPinned(long address, long bytes) {
    Map.Entry<Long, Long> range = RANGES.floorEntry(address);
    return range != null && bytes > 0 && address + bytes <= range.getValue();
  }

  /** Notes one input moved straight from pinned memory. */
  static void countDirectCopy() {
    DIRECT_COPIES.incrementAndGet();
  }

  /** How many inputs this process moved straight from pinned memory to a device. */
  public static long directCopies() {
    return DIRECT_COPIES.get();
  }

  /** How many ranges are pinned now: for tests that a closed or collected buffer unpins. */
  public static int pinnedRanges() {
    return RANGES.size();
  }
}
