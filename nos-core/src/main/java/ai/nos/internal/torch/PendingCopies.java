package ai.nos.internal.torch;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The pinned host memory one GPU call's asynchronous host-to-device copies read, held until the
 * call's stream is done with it (issue #20 item 3).
 *
 * <p>An input in pinned memory (a {@link ai.nos.PinnedBuffer}, or a tensor in
 * {@link PinnedTensorMemory}) goes to the device with {@code non_blocking}: the host queues the
 * call's conversion, its replay or forward pass and its copy back behind the DMA instead of
 * waiting for the DMA first, as Python's {@code x.to(device, non_blocking=True)} does. A
 * synchronous copy left the GPU idle while the host launched those one by one after the DMA
 * (docs/vit-call-path.md). The price is that the copy outlives {@link TorchTensors#toTorch}: the
 * pinned range must stay acquired ({@link PinnedMemory.Range}, which {@code PinnedBuffer.close}
 * and the unpinning wait for) and the buffer reachable (a tensor memory block goes back to its
 * pool only when no view of it is) until the DMA is done. {@link #close} synchronizes the call's
 * stream and only then releases them: on every path out of the call, its normal end (whose copy
 * back to the host already waited for the stream, so the wait is short) and its failures alike,
 * so the caller's bytes are free once the call returns or throws, as with a synchronous copy.
 *
 * <p>One call's thread only. The call also holds its GPU's shared {@link CudaWork} lock around
 * this, so no pinning or unpinning runs under the copy (see {@link PinnedMemory}).
 */
final class PendingCopies implements AutoCloseable {
  private final Runnable waitForStream;
  private final List<PinnedMemory.Range> ranges = new ArrayList<>(2);
  private final List<ByteBuffer> buffers = new ArrayList<>(2);

  /**
   * For the copies of one call; {@code waitForStream} waits for the call's current stream (its
   * {@code CUDAStream.synchronize}).
   */
  PendingCopies(Runnable waitForStream) {
    this.waitForStream = waitForStream;
  }

  /**
   * Holds {@code range}, acquired for a copy from {@code buf} on the call's stream, until
   * {@link #close}. Called before the copy is queued, so that a copy that fails half-queued is
   * waited for as well.
   */
  void hold(PinnedMemory.Range range, ByteBuffer buf) {
    ranges.add(range);
    buffers.add(buf);
  }

  /** The copies held now; for tests. */
  int held() {
    return ranges.size();
  }

  /**
   * Waits for the call's stream, then releases what the copies read. Releases them even if the
   * wait fails (a lost device: the copy is not running any more), and throws that failure.
   */
  @Override
  public void close() {
    if (ranges.isEmpty()) {
      return;
    }
    try {
      waitForStream.run();
    } finally {
      for (PinnedMemory.Range r : ranges) {
        r.release();
      }
      ranges.clear();
      for (ByteBuffer b : buffers) {
        Reference.reachabilityFence(b);
      }
      buffers.clear();
    }
  }
}
