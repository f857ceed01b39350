package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import ai.nos.internal.manager.Backend;
import ai.nos.internal.manager.Replica;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.javacpp.Pointer;

/**
 * The libtorch {@link Backend}: CUDA devices (or the CPU) with their memory, and copies of
 * TorchScript models whose footprint is measured on load.
 *
 * <h2>Measuring</h2>
 * On CUDA, a copy's footprint is the peak of the caching allocator's allocated bytes, over the
 * load and a warm-up call at the spec's largest batch, above the level before the load. Loads on
 * one device are serialized so two loads never share a measurement; calls of other models running
 * meanwhile can only make it larger (safe). On the CPU it is the bytes of the parameters and
 * buffers; working memory there comes from the heap-like host allocator and is not booked.
 */
public final class TorchBackend implements Backend {
  private final Map<Device, Object> loadLocks = new ConcurrentHashMap<>();
  private final Map<FileVersion, String> hashes = new ConcurrentHashMap<>();

  @Override
  public List<DeviceInfo> devices() {
    int n = TorchRuntime.cudaDeviceCount();
    List<DeviceInfo> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(new DeviceInfo(Device.cuda(i), TorchRuntime.cudaDeviceName(i),
          TorchRuntime.cudaTotalBytes(i)));
    }
    out.add(new DeviceInfo(Device.cpu(), "cpu", Pointer.totalPhysicalBytes()));
    return out;
  }

  @Override
  public void prepare(ModelSpec spec) {
    TorchRuntime.resolve(spec.device(), spec.id());
    Path file = Artifacts.verifiedFile(spec.id(), spec.artifact());
    contentHash(spec.id(), file);
  }

  /** The artifact's sha256, computed once per file version (path, size, modification time). */
  private String contentHash(String modelId, Path file) {
    try {
      FileVersion version = new FileVersion(file, Files.size(file),
          Files.getLastModifiedTime(file).toMillis());
      return hashes.computeIfAbsent(version, v -> Artifacts.sha256(modelId, file));
    } catch (IOException e) {
      throw new ai.nos.ModelLoadException("model '" + modelId + "': cannot read artifact file "
          + file + ": " + e.getMessage(), e);
    }
  }

  private record FileVersion(Path file, long size, long modified) {}

  @Override
  public Replica load(ModelSpec spec, DeviceInfo device) {
    ModelSpec placed = spec.toBuilder().device(device.device()).build();
    synchronized (loadLocks.computeIfAbsent(device.device(), d -> new Object())) {
      if (!device.device().isCuda()) {
        TorchModel model = TorchModel.load(placed);
        try {
          return new TorchReplica(model, model.parameterBytes());
        } catch (RuntimeException e) {
          model.close();
          throw e;
        }
      }
      int index = device.device().index().orElse(0);
      long before = TorchRuntime.cudaAllocatedBytes(index);
      TorchRuntime.cudaResetPeak(index);
      TorchModel model = TorchModel.load(placed);
      try {
        model.infer(warmUpInputs(spec));
        long peak = TorchRuntime.cudaPeakAllocatedBytes(index) - before;
        return new TorchReplica(model, Math.max(peak, 1));
      } catch (RuntimeException e) {
        model.close();
        throw e;
      }
    }
  }

  /** Zeros at the spec's largest batch (1 without batching); dynamic dims are 1. */
  static Map<String, Tensor> warmUpInputs(ModelSpec spec) {
    long batch = spec.batching().map(b -> (long) b.maxBatchSize()).orElse(1L);
    Map<String, Tensor> inputs = new HashMap<>();
    for (TensorSpec t : spec.signature().inputs()) {
      long[] shape = t.shape();
      shape[0] = batch;
      for (int i = 1; i < shape.length; i++) {
        shape[i] = shape[i] == -1 ? 1 : shape[i];
      }
      inputs.put(t.name(), Tensor.zeros(t.dtype(), shape));
    }
    return inputs;
  }

  @Override
  public long estimateBytes(ModelSpec spec) {
    long file = spec.artifact().localPath().map(p -> {
      try {
        return Files.size(p);
      } catch (IOException e) {
        return 0L;
      }
    }).orElse(0L);
    // Weights take about the file's size. On CUDA, twice that leaves room for working memory
    // until the first load measures the model; on the CPU only weights are booked.
    boolean cpuOnly = spec.device().isCpu() || TorchRuntime.cudaDeviceCount() == 0;
    return Math.max(cpuOnly ? file : 2 * file, 1);
  }

  @Override
  public String footprintKey(ModelSpec spec, DeviceInfo device) {
    String hash = spec.artifact().sha256().orElseGet(() -> spec.artifact().localPath()
        .map(p -> contentHash(spec.id(), p.toAbsolutePath().normalize()))
        .orElse(spec.artifact().uri().toString()));
    int batch = spec.batching().map(b -> b.maxBatchSize()).orElse(1);
    return hash + "|" + spec.precision().label() + "|batch=" + batch + "|" + device.name();
  }

  @Override
  public void releaseCache(DeviceInfo device) {
    if (device.device().isCuda()) {
      TorchRuntime.cudaEmptyCache();
    }
  }

  @Override
  public boolean isOutOfMemory(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      String m = t.getMessage();
      if (m != null && m.contains("out of memory")) {
        return true;
      }
    }
    return false;
  }

  private static final class TorchReplica implements Replica {
    private final TorchModel model;
    private final long bytes;

    TorchReplica(TorchModel model, long bytes) {
      this.model = model;
      this.bytes = bytes;
    }

    @Override
    public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
      // The manager validated the inputs before choosing this copy; only order them.
      List<Tensor> ordered = new ArrayList<>();
      for (TensorSpec t : model.spec().signature().inputs()) {
        ordered.add(inputs.get(t.name()));
      }
      return model.inferValidated(ordered);
    }

    @Override
    public Map<String, Tensor> inferBatch(ai.nos.internal.batch.Batch batch) {
      return model.inferBatch(batch);
    }

    @Override
    public long footprintBytes() {
      return bytes;
    }

    @Override
    public void close() {
      model.close();
    }
  }
}
