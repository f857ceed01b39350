package ai.nos.internal.torch;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * One long-lived thread per device on which work that must always run on the same thread runs:
 * every CUDA-graph capture of a device ({@link CudaGraphs}), at a load and at a swap back alike.
 *
 * <p>Why one thread: libtorch keeps per thread what decides which kernels a capture records.
 * cuDNN's benchmark cache is {@code thread_local} (its execution plans are bound to the thread's
 * cuDNN handle), and cuBLAS's handles and workspaces are per thread too. A capture on a thread
 * that never ran the model benchmarks every convolution again (tens of milliseconds) and may
 * pick other algorithms than the load did, so the graphs recorded again after a swap back gave
 * outputs one fp16 step away from the ones before the swap (HostTierGpuTest on an H200, ninth
 * session). On the device's one thread, the capture after a swap back finds the load's plans.
 *
 * <h2>Concurrency</h2>
 * Each device's work runs in submission order on its thread, one at a time; that thread is
 * started at the first use and lives as long as the class (a daemon, so it never holds the JVM
 * up; a thread that died would lose its caches, and the executor's worker survives any failure
 * of a task). The caller waits without being interruptible: the work holds native resources
 * (a graph being captured) that a caller giving up would leave without an owner; an interrupt
 * during the wait is kept and set again on the caller's thread when the work is done. A caller
 * already on the device's thread runs the work directly (no self-deadlock). The work must not
 * wait for another device's thread.
 *
 * <h2>Whose thread</h2>
 * NOS's own daemon, never an application's ThreadFactory: the thread is per device for the whole
 * JVM (static, in CudaGraphs) and shared by every manager and generator that records there, so it
 * belongs to none of them; taken from the first recording manager's factory it would outlive that
 * manager (a factory's pool being shut down, or a non-daemon thread holding the JVM up). README,
 * "Versions and process-wide settings", lists it as the one exception to the factory.
 */
final class RecordingThreads {
  private final String prefix;
  private final ConcurrentMap<Integer, ExecutorService> threads = new ConcurrentHashMap<>();
  private final ConcurrentMap<Integer, Thread> owners = new ConcurrentHashMap<>();

  /** @param prefix the threads' names: {@code prefix + device} */
  RecordingThreads(String prefix) {
    this.prefix = prefix;
  }

  /**
   * Runs {@code work} on the device's thread and returns what it returned; its
   * {@link RuntimeException} or {@link Error} is thrown here as it was thrown there.
   */
  <T> T call(int device, Supplier<T> work) {
    if (device < 0) {
      throw new IllegalArgumentException("device index must be >= 0 but was " + device);
    }
    if (Thread.currentThread() == owners.get(device)) {
      return work.get();
    }
    ExecutorService executor = threads.computeIfAbsent(device,
        d -> Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, prefix + d);
          t.setDaemon(true);
          owners.put(d, t);
          return t;
        }));
    Future<T> future = executor.submit(work::get);
    boolean interrupted = false;
    try {
      while (true) {
        try {
          return future.get();
        } catch (InterruptedException e) {
          interrupted = true;
        } catch (ExecutionException e) {
          Throwable cause = e.getCause();
          if (cause instanceof RuntimeException r) {
            throw r;
          }
          if (cause instanceof Error err) {
            throw err;
          }
          throw new IllegalStateException(cause);
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** The device's thread, or null before its first use. */
  Thread thread(int device) {
    return owners.get(device);
  }
}
