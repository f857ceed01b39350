package ai.nos.benchmarks.gpu;

import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.cuda.CUDAStreamGuard;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * The experiment behind "a CUDA stream per worker" (docs/history.md, "Next, in order"), on the GPU
 * machine (scripts/gpu/bench.sh streams): ResNet-50 fp16 from raw libtorch, threads calling with
 * (a) the current stream, as NOS does now, and (b) one stream from libtorch's pool per thread,
 * kept for the thread's life. Prints the device bytes left allocated after each mode (the
 * per-(thread, stream) cuBLAS/cuDNN workspaces) and the images/s of 2 threads at batch 64 (host
 * input in, logits out) in each mode. Args: MODELS_DIR SECONDS.
 */
public final class StreamProbe {
  private StreamProbe() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    TorchRuntime.ensureLoaded();
    System.out.printf("StreamProbe: %s%n", TorchRuntime.cudaDeviceName(0));
    org.bytedeco.pytorch.Device cuda = new org.bytedeco.pytorch.Device("cuda:0");
    JitModule module = torch.load(dir.resolve("resnet50.pt").toString(), new DeviceOptional(cuda),
        false);
    module.eval();
    module.to(torch.ScalarType.Half, false);
    for (boolean ownStream : new boolean[] {false, true}) {
      String mode = ownStream ? "a pool stream per thread" : "the current stream";
      // Memory: 4 threads, 20 calls each at batch 32.
      TorchRuntime.cudaEmptyCache();
      long before = TorchRuntime.cudaAllocatedBytes(0);
      run(4, ownStream, () -> {
        for (int i = 0; i < 20; i++) {
          call(module, cuda, 32);
        }
        return 0L;
      });
      TorchRuntime.cudaEmptyCache();
      long after = TorchRuntime.cudaAllocatedBytes(0);
      System.out.printf("  %s: 4 new threads x 20 calls left %d MiB more allocated (%d -> %d"
          + " MiB)%n", mode, (after - before) >> 20, before >> 20, after >> 20);
      // Throughput: 2 threads at batch 64 for SECONDS.
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      long t0 = System.nanoTime();
      long images = run(2, ownStream, () -> {
        long n = 0;
        while (System.nanoTime() < end) {
          call(module, cuda, 64);
          n += 64;
        }
        return n;
      });
      System.out.printf("  %s: 2 threads, batch 64: %.0f images/s%n", mode,
          images / ((System.nanoTime() - t0) / 1e9));
    }
    System.exit(0);
  }

  /** Runs {@code work} on {@code threads} new threads, each on its own stream if asked. */
  private static long run(int threads, boolean ownStream, Callable<Long> work) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    List<Future<Long>> fs = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      fs.add(pool.submit(() -> {
        if (!ownStream) {
          return work.call();
        }
        CUDAStream stream = torch_cuda.getStreamFromPool(false, (byte) 0);
        try (CUDAStreamGuard guard = new CUDAStreamGuard(stream.asStream())) {
          return work.call();
        }
      }));
    }
    long total = 0;
    for (Future<Long> f : fs) {
      total += f.get();
    }
    pool.shutdown();
    return total;
  }

  /** One call as NOS makes it: a host batch to the device, fp16 forward, logits to the host. */
  private static void call(JitModule module, org.bytedeco.pytorch.Device cuda, int batch) {
    try (PointerScope scope = new PointerScope(); InferenceMode mode = new InferenceMode()) {
      Tensor host = torch.randn(new long[] {batch, 3, 224, 224}, new TensorOptions());
      Tensor x = host.to(cuda, torch.ScalarType.Half, false, false,
          new org.bytedeco.pytorch.MemoryFormatOptional());
      IValueVector args = new IValueVector();
      args.push_back(new IValue(x));
      module.forward(args).toTensor().to(torch.ScalarType.Float).cpu();
    }
  }
}
