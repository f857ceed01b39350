package ai.nos.internal.torch;

import java.util.BitSet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;

/*
 * The device memory a thread's libraries keep
 *
 * The first cuBLAS call of a thread on a device creates the thread's cuBLAS handle and takes its
 * workspace from the caching allocator, where it stays for the life of the process; cuDNN's
 * handle is per thread too. When a model's load or warm-up made that state, the allocator's
 * growth was booked as the model's footprint, so the first model on a device looked larger than
 * the second (issue 24). Each NOS thread that runs work on a GPU (the loader thread, the call
 * threads, the batch workers) therefore runs a tiny matmul and convolution there first, once per
 * thread and device, and the allocator's growth over it is the device's library overhead
 * (TorchBackend#libraryBytes), measured before the model's footprint. Other work on the device at
 * that moment can blur the figure either way; it is clamped at zero and, being per thread, small.
 *
 * The device's CUDA-graphs recording thread (CudaGraphs#prepareRecordingThread) is one more such
 * thread, with two differences. It runs on its capture stream, and cuBLAS keeps a workspace per
 * (handle, stream), so its state is made there. And it runs every model's every bucket, so it
 * also runs a matmul with a bias at more than one row, the call that takes cuBLASLt's path (and
 * its workspace, kept per handle and stream as well) in the linear layers of batched captures.
 * Before, the first capture on a device made all of it, and the first copy with CUDA graphs
 * there was booked with it (SwapBench probed twice around it).
 *
 * A token generator's scheduler thread (internal.generate.GenerationEngine) is a NOS thread of
 * its own, one per generator, born and gone with it; it makes its state the same way before its
 * first step ({@link #prepareEngineThread}). What that leaves stays after the generator closes
 * (PyTorch keeps workspaces per handle and stream for the process; a later thread reuses a freed
 * handle and its workspace), so it is not the generator's footprint: a generator booked with a
 * manager books it as that manager's library bytes (TorchBackend#addLibraryBytes). Before, such
 * a generator left 32 MiB (Hopper's cuBLAS workspace) allocated after its close that nothing had
 * booked (TokenGeneratorBookingGpuTest). A first attempt tallied it for the whole process and
 * every manager reported it: managers made later with small budgets then refused their models
 * (HostTierGpuTest, eleventh session), so it is booked by the one manager that made it.
 */

/** Makes a thread's cuBLAS/cuDNN state on a GPU exist, once, and measures what it holds. */
final class LibraryState {
  /** The devices the current thread has made its state on. Only NOS's own threads get one. */
  private static final ThreadLocal<BitSet> READY = ThreadLocal.withInitial(BitSet::new);

  private LibraryState() {}

  /**
   * {@link #prepareRecordingThread}'s work for a generator's scheduler thread (its prefills run
   * biased matmuls at many rows, on the thread's default stream): once per thread and device.
   */
  static long prepareEngineThread(int device) {
    return prepare(device, true);
  }

  /**
   * On the first call of the current thread for {@code device}: runs a matmul and a convolution
   * there and returns the allocator bytes they left allocated (the thread's library state);
   * afterwards 0.
   */
  static long prepareThread(int device) {
    return prepare(device, false);
  }

  /**
   * {@link #prepareThread} for the device's recording thread, on the stream it captures on (the
   * caller's current stream): also a matmul with a bias at more than one row.
   */
  static long prepareRecordingThread(int device) {
    return prepare(device, true);
  }

  private static long prepare(int device, boolean withBias) {
    BitSet ready = READY.get();
    if (ready.get(device)) {
      return 0;
    }
    long before = TorchRuntime.cudaAllocatedBytes(device);
    try (PointerScope scope = new PointerScope();
        org.bytedeco.pytorch.Device where = TorchRuntime.toTorch(ai.nos.Device.cuda(device))) {
      TensorOptions options = new TensorOptions(torch.ScalarType.Float)
          .device(new DeviceOptional(where));
      Tensor a = torch.zeros(new long[] {64, 64}, options);
      torch.matmul(a, a);
      Tensor x = torch.zeros(new long[] {1, 8, 16, 16}, options);
      Tensor w = torch.zeros(new long[] {8, 8, 3, 3}, options);
      torch.conv2d(x, w);
      if (withBias) {
        // In single and half precision: libtorch decides cuBLASLt's path per dtype.
        for (torch.ScalarType type : new torch.ScalarType[] {torch.ScalarType.Float,
            torch.ScalarType.Half}) {
          TensorOptions typed = new TensorOptions(type).device(new DeviceOptional(where));
          Tensor m = torch.zeros(new long[] {64, 64}, typed);
          torch.addmm(torch.zeros(new long[] {64}, typed), m, m);
        }
      }
      torch_cuda.getCurrentCUDAStream((byte) device).synchronize();
    }
    ready.set(device);
    return Math.max(0, TorchRuntime.cudaAllocatedBytes(device) - before);
  }
}
