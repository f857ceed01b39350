package ai.nos;

import java.util.List;

/**
 * A snapshot of one device in a {@link ModelManager}.
 *
 * @param device the device
 * @param name what it is, e.g. {@code "NVIDIA H200"} or {@code "cpu"}
 * @param totalBytes the device's memory
 * @param budgetBytes what the manager may use of it
 * @param usedBytes what loaded and loading copies take (with {@code overheadBytes}, never above
 *     the budget)
 * @param models ids of the models with a copy here
 * @param loads copies loaded here so far
 * @param evictions copies evicted here so far to make room
 * @param allocatedBytes what the device's allocator holds in live tensors now, as the device
 *     reports it (CUDA: libtorch's caching allocator): the models' resting bytes plus what no
 *     model owns, such as the cuBLAS/cuDNN workspaces of each thread that ran kernels here; -1
 *     where it is not measured (the CPU). Compare it with {@code usedBytes + overheadBytes}.
 * @param overheadBytes what the native libraries hold here for the process rather than for a
 *     model (CUDA: the cuBLAS/cuDNN workspaces of each NOS thread that ran kernels here, measured
 *     as each first ran), booked once for the device and left out of every model's footprint; 0
 *     where none is measured
 */
public record DeviceStats(Device device, String name, long totalBytes, long budgetBytes,
    long usedBytes, List<String> models, long loads, long evictions, long allocatedBytes,
    long overheadBytes) {

  public DeviceStats {
    models = List.copyOf(models);
  }

  /** Budget left: the budget less the models' and the libraries' bytes. */
  public long freeBytes() {
    return budgetBytes - overheadBytes - usedBytes;
  }
}
