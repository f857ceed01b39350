package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.ModelSpec;
import java.util.List;
import java.util.Objects;

/**
 * What a {@link ManagerCore} needs from the machine: the devices and their memory, and a way to
 * load one copy of a model on one of them. libtorch implements it in production
 * ({@code ai.nos.internal.torch.TorchBackend}); tests use a simulated inventory.
 */
public interface Backend {

  /** The devices a manager may use, with their total memory. */
  List<DeviceInfo> devices();

  /**
   * Loads one copy of {@code spec} on {@code device}, warms it up at the spec's largest batch and
   * measures its footprint. Called without the manager's lock held.
   */
  Replica load(ModelSpec spec, DeviceInfo device);

  /**
   * Brings a parked copy ({@link Replica#park()}) back onto {@code device}, which may differ from
   * the one it left: a copy of its weights into fresh device memory, no reading of the artifact,
   * no load-time passes, no measurement (the copy keeps its footprint). Called without the
   * manager's lock, after {@link Parked#staleReason()} said the copy may come back. On success the
   * returned replica owns what was parked; on failure {@code parked} is left whole for the caller
   * to close, and the caller loads from the artifact instead.
   *
   * @throws UnsupportedOperationException if this backend parks nothing (the default)
   */
  default Replica unpark(Parked parked, DeviceInfo device) {
    throw new UnsupportedOperationException("this backend does not park copies");
  }

  /** Bytes one copy is expected to need before it was ever measured. */
  long estimateBytes(ModelSpec spec);

  /** A key for the on-disk footprint catalog: artifact content, options and device kind. */
  String footprintKey(ModelSpec spec, DeviceInfo device);

  /**
   * Bytes the device's allocator holds in live tensors now, whoever owns them; -1 if the backend
   * does not measure it for this device.
   */
  default long allocatedBytes(DeviceInfo device) {
    return -1;
  }

  /**
   * Device bytes the native libraries hold for this process apart from any model: the state each
   * thread that ran work on the device made there once (CUDA: its cuBLAS and cuDNN workspaces),
   * measured when the thread first ran there, before the footprint of what it ran; 0 where none
   * is measured (the default). Grows as new threads run on the device, never counts a thread
   * twice, and is excluded from every {@link Replica#footprintBytes()}. Called under the
   * manager's lock after each load: must be cheap.
   */
  default long libraryBytes(DeviceInfo device) {
    return 0;
  }

  /**
   * Adds {@code bytes} of library state made outside the backend's own threads for a resource
   * this manager placed on {@code device} (a token generator's scheduler thread) to what
   * {@link #libraryBytes} reports. Ignored by backends that measure none.
   */
  default void addLibraryBytes(DeviceInfo device, long bytes) {}

  /** Returns cached, unused memory of a device to the driver (after evictions). */
  void releaseCache(DeviceInfo device);

  /**
   * Checks a spec before the manager books anything, without its lock: throws a detailed
   * {@code DeviceUnavailableException} if the spec asks for a device this process lacks
   * altogether, and a {@code ModelLoadException} if its artifact is missing or fails its
   * checksum. Slow work for {@link #footprintKey} (hashing the artifact) belongs here.
   */
  default void prepare(ModelSpec spec) {}

  /**
   * Lets go of what the backend holds for its manager (threads, say) once the manager is closed.
   * Loads still running finish; later loads are refused.
   */
  default void close() {}

  /** Whether a failure was the device running out of memory. */
  boolean isOutOfMemory(Throwable failure);

  /**
   * A device and its total memory in bytes; {@code name} identifies the kind (e.g. the GPU).
   * equals and hashCode are written out: a record's own are bootstrapped through
   * java.lang.runtime.ObjectMethods at their first call, about 13 ms of a fresh JVM's first load
   * (the manager keys its budgets by this record), and no other record is compared on that path.
   */
  record DeviceInfo(Device device, String name, long totalBytes) {
    @Override
    public boolean equals(Object o) {
      return o instanceof DeviceInfo d && Objects.equals(device, d.device)
          && Objects.equals(name, d.name) && totalBytes == d.totalBytes;
    }

    @Override
    public int hashCode() {
      return (Objects.hashCode(device) * 31 + Objects.hashCode(name)) * 31
          + Long.hashCode(totalBytes);
    }
  }
}
