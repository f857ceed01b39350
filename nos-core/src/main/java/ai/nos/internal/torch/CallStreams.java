package ai.nos.internal.torch;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * The CUDA streams NOS's calls run on (issue #20, item 2): {@value #PER_DEVICE} per device, so
 * that one call's host-to-device copy, or its copy back, runs while another call computes.
 *
 * <p>Before, every call ran on libtorch's default stream, the legacy one, on which all of a
 * device's work takes turns: the second of two concurrent calls (the batcher's two workers per
 * copy, or two application threads) could not start its 154 MB input transfer until the first
 * call's kernels were done. Python's {@code torch.compile} loop copies, then computes; NOS runs
 * the two at once.
 *
 * <h2>Which stream a call gets</h2>
 * {@link TorchModel} takes one for each call on a GPU ({@link #take}) and makes it the thread's
 * current stream for the call; the call's copies, kernels, CUDA-graph replays, AOTInductor and
 * TensorRT runs all go on the current stream. A call gets the stream with the fewest calls on it
 * now, and between equals the one its thread used last: two concurrent calls get two streams,
 * and a thread keeps to one stream while it can. cuBLAS keeps a workspace per (thread's handle,
 * stream) for the life of the process (about 33 MiB on an H200), so a per-call stream from
 * libtorch's pool leaked device memory until the pool's 32 streams all had one (docs/status.md,
 * known traps); here a thread can touch at most {@value #PER_DEVICE} streams per device.
 *
 * <h2>Ordering with everything else</h2>
 * The streams are made with {@code cudaStreamCreate}'s default flags: blocking streams, which the
 * legacy default stream synchronizes with both ways. Work NOS or libtorch does anywhere else on
 * the default stream (a load's weight copies and casts, a host-tier swap back, the generation
 * engines) is therefore done before a call's work on these streams starts, and later
 * default-stream work waits for it, exactly as when everything ran on the default stream. Two
 * calls on two of these streams are not ordered with each other: each call's tensors are its own,
 * and what calls share is ordered by their locks, held until the call has copied its outputs to
 * the host (a synchronous copy, so the call's work on its stream is done): a model's recorded CUDA
 * graphs ({@code GraphBuckets}), TensorRT's execution contexts (events). libtorch's caching
 * allocator tags a block with the stream it was allocated on and reuses it only on that stream.
 * Graph captures run on a non-blocking side stream of libtorch's pool ({@link CudaGraphs}),
 * never on one of these, so a call never lands in a capture.
 *
 * <p>Thread-safe: the streams of a device are made once, on first use, under the map's lock, and
 * kept for the life of the process; the counts of calls per stream are atomic.
 */
final class CallStreams {
  /** Streams per device: the batcher's two workers per model copy. */
  static final int PER_DEVICE = 2;

  private static final ConcurrentMap<Integer, CallStreams> DEVICES = new ConcurrentHashMap<>();

  /** Per thread, per device index (up to 64), the stream it used last, plus one (0: none). */
  private static final ThreadLocal<byte[]> LAST = ThreadLocal.withInitial(() -> new byte[64]);

  private final CUDAStream[] streams;
  private final AtomicIntegerArray running = new AtomicIntegerArray(PER_DEVICE);
  private final AtomicLong[] calls = new AtomicLong[PER_DEVICE];
  /** Calls that started while a call on another of the device's streams was running. */
  private final AtomicLong alongside = new AtomicLong();

  private CallStreams(CUDAStream[] streams) {
    this.streams = streams;
    for (int i = 0; i < PER_DEVICE; i++) {
      calls[i] = new AtomicLong();
    }
  }

  /** One call's use of a stream: {@link #close} gives it back. */
  static final class Use implements AutoCloseable {
    private final CallStreams owner;
    private final int index;

    private Use(CallStreams owner, int index) {
      this.owner = owner;
      this.index = index;
    }

    /** The stream, to make current for the call. */
    CUDAStream stream() {
      return owner.streams[index];
    }

    @Override
    public void close() {
      owner.running.decrementAndGet(index);
    }
  }

  /** A stream of {@code device} for one call (see the class comment for which). */
  static Use take(int device) {
    CallStreams d = DEVICES.computeIfAbsent(device, CallStreams::make);
    byte[] last = LAST.get();
    int previous = device < last.length ? last[device] - 1 : -1;
    int[] now = new int[PER_DEVICE];
    for (int i = 0; i < PER_DEVICE; i++) {
      now[i] = d.running.get(i);
    }
    int index = choose(now, previous);
    if (d.running.getAndIncrement(index) == 0) {
      for (int i = 0; i < PER_DEVICE; i++) {
        if (i != index && now[i] > 0) {
          d.alongside.incrementAndGet();
          break;
        }
      }
    }
    d.calls[index].incrementAndGet();
    if (device < last.length) {
      last[device] = (byte) (index + 1);
    }
    return new Use(d, index);
  }

  /** The index of the stream this thread's last call on {@code device} ran on; -1: none. */
  static int lastOnThisThread(int device) {
    return device < 64 ? LAST.get()[device] - 1 : -1;
  }

  /**
   * The stream a call takes, given the calls running on each now and the one its thread used
   * last ({@code -1}: none): the fewest running, and between equals the thread's last, else the
   * lowest index.
   */
  static int choose(int[] running, int last) {
    int best = last >= 0 && last < running.length ? last : 0;
    for (int i = 0; i < running.length; i++) {
      if (running[i] < running[best]) {
        best = i;
      }
    }
    return best;
  }

  private static CallStreams make(int device) {
    CUDAStream[] streams = new CUDAStream[PER_DEVICE];
    IntPointer current = new IntPointer(1);
    CudaStatus.check(cudart.cudaGetDevice(current), "read the current device");
    int previous = current.get();
    try {
      CudaStatus.check(cudart.cudaSetDevice(device), "select device " + device);
      for (int i = 0; i < PER_DEVICE; i++) {
        CUstream_st raw = new CUstream_st();
        // Default flags: a blocking stream (class comment). Never destroyed.
        CudaStatus.check(cudart.cudaStreamCreate(raw), "make a stream for calls");
        CUDAStream stream = torch_cuda.getStreamFromExternal(raw, (byte) device);
        stream.retainReference(); // kept for the process, whatever scope the caller has open
        streams[i] = stream;
      }
    } finally {
      cudart.cudaSetDevice(previous);
      current.close();
    }
    return new CallStreams(streams);
  }

  /** Calls run on each of {@code device}'s streams so far; empty if none ran there. */
  static long[] calls(int device) {
    CallStreams d = DEVICES.get(device);
    long[] out = new long[d == null ? 0 : PER_DEVICE];
    for (int i = 0; i < out.length; i++) {
      out[i] = d.calls[i].get();
    }
    return out;
  }

  /** Calls on {@code device} that started while another of its streams had a call running. */
  static long alongside(int device) {
    CallStreams d = DEVICES.get(device);
    return d == null ? 0 : d.alongside.get();
  }
}
