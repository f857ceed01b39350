package ai.nos.internal.torch;

import static org.bytedeco.cuda.global.cudart.cudaGetLastError;
import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamCaptureModeThreadLocal;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.cuda.CUDAStreamGuard;
import org.bytedeco.pytorch.cuda.DeviceAssertionsDataVectorCUDAKernelLaunchInfoVectorPair;
import org.bytedeco.pytorch.cuda.StreamFilter;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * Records a forward pass as a CUDA graph, the way {@code torch.cuda.graph} does, from the pieces
 * the presets map (libtorch's {@code at::cuda::CUDAGraph} is not mapped): warm-up runs on a side
 * stream from libtorch's pool (one per device for the process, {@link #SIDE_STREAMS}), then
 * {@code cudaStreamBeginCapture} on that stream while the caching allocator sends the stream's
 * allocations to a private pool ({@code beginAllocateToPool}), {@code cudaStreamEndCapture},
 * {@code cudaGraphInstantiate}. Replays launch on the calling thread's current stream (a graph
 * captured on a side stream may replay on any stream, the default one included).
 *
 * <p>Loaded only for CUDA devices: its class initialization loads the CUDA runtime's bindings.
 *
 * <h2>Concurrency</h2>
 * Every capture of a device runs on the device's one recording thread ({@link RecordingThreads}),
 * whoever asks for it: the device's loader, or, for a copy swapped back from the host tier, the
 * call that first fits a bucket ({@link GraphBuckets#lazy} serializes those of one copy under its
 * record lock). That thread keeps the cuDNN plans and cuBLAS handle the load's captures used, so
 * a capture after a swap back records the same kernels (bit-identical outputs) without
 * benchmarking again, and it makes a device's captures take turns on its one side stream. The
 * asking thread holds its {@link CudaWork#shared} hold and no replay lock while it waits. Other
 * threads may run other models on the device meanwhile: capture is in thread-local mode, the
 * side stream is non-blocking, and the allocator's filter ({@link #FILTER}, one for the process)
 * routes only allocations made on a stream being captured into its pool. Replays are serialized
 * by {@link GraphBuckets}.
 *
 * <h2>Memory</h2>
 * All buckets of a model share one private pool. Each capture holds one use of it, released by
 * {@link #close} after the graphs and the tensors in it are gone; the allocator then returns
 * the pool's memory at the next {@code emptyCache} (the manager calls it after each eviction).
 */
final class CudaGraphs implements GraphBuckets.Recorder, AutoCloseable {

  /** Warm-up runs before each capture: TorchScript's profiling executor settles after two. */
  static final int WARMUP_RUNS = 3;

  /**
   * Warm-up runs before a capture of a copy swapped back onto the device it was parked from
   * (recorded lazily, {@link GraphBuckets#lazy}). Its executor settled at the load: the plan
   * libtorch's {@code ProfilingGraphExecutorImpl} optimized after its profiling runs is kept
   * in the module's method and reused while the guards it inserted pass, and they check the
   * type of each tensor (dtype, device, sizes, strides, requires-grad), never its storage;
   * {@link ModuleWeights} moves the weights back with {@code set_data} keeping all of those, so
   * the same plan runs ({@code LazyGraphsTest.executorPlan_survivesParkAndRestore} checks it on
   * the CPU: the first call after the restore runs the plan the last call before the park ran).
   * One run stays, and cannot go: the capturing thread may not have run on the side stream yet,
   * and its first run there makes cuBLAS's workspace for that (handle, stream) pair and the
   * thread's cuBLAS and cuDNN handles; made during the capture, the workspace would be taken
   * from the graphs' private pool and held there for the life of the process.
   */
  static final int RESTORE_WARMUP_RUNS = 1;

  /** Raw addresses of the streams being captured now, over all devices and models. */
  private static final Set<Long> CAPTURING = ConcurrentHashMap.newKeySet();

  /**
   * The allocator's filter: allocations on a stream being captured go to the capture's pool.
   * One instance for the process (JavaCPP gives each callback class a bounded number of native
   * thunks); each model's {@code beginAllocateToPool} registers it with its own pool, and the
   * allocator asks each registered capture in turn, so a stream matches only its own capture's
   * entry as long as two captures never run on a stream at once (a device's captures take turns
   * on its one side stream).
   */
  private static final StreamFilter FILTER = new StreamFilter() {
    @Override
    public boolean call(Pointer stream) {
      return stream != null && CAPTURING.contains(stream.address());
    }
  };

  static {
    // The filter's native thunk lives as long as the class: the class may be initialized on a
    // thread inside a PointerScope (a generator's first recording was), whose close would free it
    // and leave every later capture with a null filter ("Pointer address of argument 2 is NULL").
    FILTER.retainReference();
  }

  /**
   * Pool ids NOS hands out: {@code (POOL_BASE + n, 0)}, far above libtorch's own counters (which
   * start at 1), in the {@code (n, 0)} form libtorch gives graph-private pools.
   */
  private static final long POOL_BASE = 1L << 62;
  private static final java.util.concurrent.atomic.AtomicLong POOLS =
      new java.util.concurrent.atomic.AtomicLong();

  /**
   * One side stream per device for every capture of the process. cuBLAS keeps a workspace for
   * each stream it ever ran on (64 MiB on an H200, never freed), so a stream of libtorch's pool per
   * recording made each CUDA-graphs load or swap back leave 64 MiB behind, until the pool's 32
   * streams all had one (HostTierGpuTest, eighth session: 345 MB -> 1,252 MB over 14 swaps).
   * The workspace is per (cuBLAS handle, stream) and libtorch's handles are per thread: every
   * capture runs on the device's one recording thread ({@link #RECORDERS}), so a device keeps
   * one.
   */
  private static final java.util.concurrent.ConcurrentMap<Integer, CUDAStream> SIDE_STREAMS =
      new ConcurrentHashMap<>();

  /**
   * Every capture of a device, at a load and at a swap back, runs on the device's one recording
   * thread: cuDNN's benchmark cache and cuBLAS's handles are per thread, so a capture on another
   * thread benchmarked again and could record other kernels (outputs one fp16 step away after a
   * swap back).
   */
  private static final RecordingThreads RECORDERS = new RecordingThreads("nos-cuda-graphs-");

  private final int device;
  private final int warmups;
  private final Function<List<Tensor>, List<Tensor>> forward;
  private final CUDAStream side;
  /** The pool id's two 64-bit halves, in memory this object owns. */
  private final LongPointer poolId;
  /**
   * A view of {@link #poolId} as the presets' pool-id type. The presets name
   * {@code c10::MempoolId_t} (a pair of integers) with a class whose deallocator destroys a pair
   * of vectors, so NOS never lets JavaCPP free an object of that class: an id returned by
   * {@code MemPool.graph_pool_handle} crashed the deallocator thread once it was collected.
   * This view wraps memory it does not own and has no deallocator.
   */
  private final DeviceAssertionsDataVectorCUDAKernelLaunchInfoVectorPair pool;
  private int captures;
  private boolean closed;

  /**
   * @param device the CUDA device index
   * @param forward runs the model on its inputs and returns its output tensors (in the calling
   *     scope); the outputs of the captured run become the bucket's static outputs
   */
  CudaGraphs(int device, Function<List<Tensor>, List<Tensor>> forward) {
    this(device, forward, WARMUP_RUNS);
  }

  /** @param warmups eager runs on the side stream before each capture, {@code >= 1} */
  CudaGraphs(int device, Function<List<Tensor>, List<Tensor>> forward, int warmups) {
    if (warmups < 1) {
      throw new IllegalArgumentException("warm-up runs before a capture must be >= 1 but were "
          + warmups);
    }
    this.warmups = warmups;
    this.device = device;
    this.forward = forward;
    this.side = sideStream(device);
    this.poolId = new LongPointer(POOL_BASE + POOLS.incrementAndGet(), 0L);
    // Owned by this object, not by a PointerScope the constructing thread may have open: a scope
    // that freed it at its close left releasePool reading a pool id from freed memory ("it !=
    // graph_pools.end()" assert when a generator closed, ninth session's follow-up). Released by
    // close().
    poolId.retainReference();
    this.pool = new DeviceAssertionsDataVectorCUDAKernelLaunchInfoVectorPair(poolId);
  }

  private static CUDAStream sideStream(int device) {
    return SIDE_STREAMS.computeIfAbsent(device, d -> {
      // Kept for the process: not freed by a PointerScope the first caller's thread has open.
      CUDAStream stream = torch_cuda.getStreamFromPool(false, (byte) (int) d);
      stream.retainReference();
      return stream;
    });
  }

  /**
   * Makes the library state of the device's recording thread on the device's side stream, the
   * first time for the device in this process ({@link LibraryState#prepareRecordingThread}), and
   * returns the allocator bytes it holds; afterwards 0. Called before a copy with CUDA graphs is
   * measured, so that state is booked as the device's, not as that copy's. Waits for the
   * device's recording thread like a capture does (with the caller's {@link CudaWork#shared}
   * hold).
   */
  static long prepareRecordingThread(int device) {
    if (device < 0) {
      throw new IllegalArgumentException("device index must be >= 0 but was " + device);
    }
    CUDAStream stream = sideStream(device);
    return RECORDERS.call(device, () -> {
      try (PointerScope scope = new PointerScope();
          CUDAStreamGuard guard = new CUDAStreamGuard(stream.unwrap())) {
        return LibraryState.prepareRecordingThread(device);
      }
    });
  }

  @Override
  public GraphBuckets.Recorded record(List<Tensor> statics) {
    // The static inputs were written on the caller's current stream; the side stream must see
    // them.
    torch_cuda.getCurrentCUDAStream((byte) device).synchronize();
    // On the device's recording thread (its cuDNN plans and cuBLAS handle: RecordingThreads),
    // which also makes the device's captures take turns on its one side stream.
    List<Tensor> handed = new ArrayList<>();
    GraphBuckets.Program program = RECORDERS.call(device, () -> {
      try (PointerScope scope = new PointerScope(); InferenceMode mode = new InferenceMode()) {
        GraphBuckets.Recorded recorded = recordOnSide(statics);
        // Handles that outlive this scope, one reference each, for the caller.
        for (Tensor o : recorded.outputs()) {
          Tensor h = new Tensor(o);
          h.retainReference();
          handed.add(h);
        }
        return recorded.program();
      }
    });
    // The outputs as references in the caller's scope (what the Recorder contract says), and
    // the handed handles released.
    List<Tensor> outputs = new ArrayList<>();
    for (Tensor h : handed) {
      outputs.add(new Tensor(h));
      h.releaseReference();
    }
    return new GraphBuckets.Recorded(program, outputs);
  }

  private GraphBuckets.Recorded recordOnSide(List<Tensor> statics) {
    CUstream_st stream = side.stream();
    try (CUDAStreamGuard guard = new CUDAStreamGuard(side.unwrap())) {
      for (int i = 0; i < warmups; i++) {
        try (PointerScope scope = new PointerScope()) {
          forward.apply(statics);
        }
      }
      side.synchronize();
      CUgraph_st graph = new CUgraph_st();
      List<Tensor> outputs = null;
      RuntimeException failure = null;
      CAPTURING.add(stream.address());
      torch_cuda.beginAllocateToPool((byte) device, pool, FILTER);
      captures++;
      int rc;
      try {
        CudaStatus.check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
            "begin capture");
        try {
          outputs = forward.apply(statics);
        } catch (RuntimeException e) {
          failure = e;
        }
        rc = cudaStreamEndCapture(stream, graph);
      } finally {
        torch_cuda.endAllocateToPool((byte) device, pool);
        CAPTURING.remove(stream.address());
      }
      if (failure != null || rc != 0) {
        if (!graph.isNull()) {
          cudaGraphDestroy(graph);
        }
        // A failed capture leaves its error pending in the runtime, and libtorch checks
        // cudaGetLastError after each kernel launch: the next call on this thread (the load's
        // eager check) would fail with "operation failed due to a previous error during
        // capture". Take it off.
        cudaGetLastError();
        if (failure != null) {
          throw new IllegalStateException("the forward pass cannot be captured: "
              + TorchModel.modelMessage(failure.getMessage()), failure);
        }
        CudaStatus.check(rc, "end capture");
      }
      CUgraphExec_st exec = new CUgraphExec_st();
      int instantiated = cudaGraphInstantiate(exec, graph, 0L);
      if (instantiated != 0) {
        cudaGraphDestroy(graph);
        CudaStatus.check(instantiated, "instantiate the captured graph");
      }
      return new GraphBuckets.Recorded(new Launch(device, exec, graph), outputs);
    }
  }

  /** Releases this recorder's uses of the pool; call after the graphs and their tensors. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    var allocator = torch_cuda.getAllocator();
    for (; captures > 0; captures--) {
      allocator.releasePool((byte) device, pool);
    }
    poolId.releaseReference();
  }

  /** One instantiated graph. */
  private static final class Launch implements GraphBuckets.Program {
    private final int device;
    private final CUgraphExec_st exec;
    private final CUgraph_st graph;

    Launch(int device, CUgraphExec_st exec, CUgraph_st graph) {
      this.device = device;
      this.exec = exec;
      this.graph = graph;
    }

    @Override
    public void replay() {
      // The stream must belong to the thread's current device for the launch.
      byte previous = torch_cuda.ExchangeDevice((byte) device);
      try {
        CUDAStream current = torch_cuda.getCurrentCUDAStream((byte) device);
        try {
          CudaStatus.check(cudaGraphLaunch(exec, current.stream()), "launch the captured graph");
        } finally {
          current.close();
        }
      } finally {
        if (previous != device) {
          torch_cuda.ExchangeDevice(previous);
        }
      }
    }

    @Override
    public void close() {
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(graph);
    }
  }

}
