package ai.nos.optim.internal;

import ai.nos.Tensor;
import ai.nos.internal.torch.CudaStatus;
import ai.nos.internal.torch.TorchTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.tensorrt.nvinfer.IInt8EntropyCalibrator2;

/**
 * The calibration batches of an INT8 build, handed to TensorRT's builder one at a time: a
 * JavaCPP virtual subclass of {@code nvinfer1::IInt8EntropyCalibrator2} whose overrides TensorRT
 * calls from C++ during {@code buildSerializedNetwork}.
 *
 * <h2>Callbacks</h2>
 * {@link #getBatch} copies the next batch's host tensors to the device (libtorch tensors on the
 * build's GPU, each cast to the type the network declares for that input: float, as INT8
 * builds keep float inputs), binds them in the order of TensorRT's {@code names} (by name, not
 * position), waits for the copies, and says {@code true}; after the last batch it says
 * {@code false}. An exception must never reach C++ (JNI would leave it pending under TensorRT's
 * frames): every callback catches everything, keeps the first failure and answers "no more
 * batches"; {@link TensorRt} then fails the build with {@link #failure()} whatever TensorRT made of
 * the shortened calibration. No calibration cache is read or written: NOS caches the engine itself
 * (its key holds a digest of the batches), so a second build of the same key never happens.
 *
 * <h2>Lifetime</h2>
 * TensorRT keeps a raw pointer to the native peer, whose callbacks reach this Java object: the
 * builder keeps it reachable (a local used after the build) and {@link #close} frees it after
 * the builder config that points at it. The device tensors of the batch TensorRT reads are kept
 * until the next {@code getBatch} (TensorRT's contract) and freed on {@link #close} at the
 * latest.
 *
 * <p>Not thread-safe: TensorRT calls it from the building thread, one call at a time.
 */
final class Int8Calibrator extends IInt8EntropyCalibrator2 {
  private final List<Map<String, Tensor>> batches;
  private final int rows;
  private final Map<String, torch.ScalarType> types;
  private final org.bytedeco.pytorch.Device device;
  private final List<org.bytedeco.pytorch.Tensor> bound = new ArrayList<>();
  private int next;
  private String failure;

  /**
   * @param batches each a map of input name to host tensor of {@code rows} rows
   * @param types the network's type for each input, by name
   * @param device the build's CUDA device
   */
  Int8Calibrator(List<Map<String, Tensor>> batches, int rows, Map<String, torch.ScalarType> types,
      int device) {
    super();
    this.batches = List.copyOf(batches);
    this.rows = rows;
    this.types = Map.copyOf(types);
    this.device = new org.bytedeco.pytorch.Device(torch.DeviceType.CUDA, (byte) device);
    this.device.retainReference();
  }

  /** The rows of every batch: the calibration profile's opt batch. */
  @Override
  @SuppressWarnings("deprecation")
  public int getBatchSize() {
    return rows;
  }

  @Override
  public boolean getBatch(PointerPointer bindings, PointerPointer names, int nbBindings) {
    try {
      return nextBatch(bindings, names, nbBindings);
    } catch (Throwable t) {
      fail(t.toString());
      return false;
    }
  }

  private boolean nextBatch(PointerPointer bindings, PointerPointer names, int nbBindings) {
    release();
    if (failure != null || next >= batches.size()) {
      return false;
    }
    Map<String, Tensor> batch = batches.get(next);
    try (PointerScope scope = new PointerScope()) {
      for (int j = 0; j < nbBindings; j++) {
        String name = names.getString(j);
        Tensor host = batch.get(name);
        torch.ScalarType type = types.get(name);
        if (host == null || type == null) {
          fail("TensorRT asked for calibration input '" + name + "' but the calibration batches"
              + " hold " + batch.keySet());
          return false;
        }
        org.bytedeco.pytorch.Tensor t = TorchTensors.toTorch(host, device, host.dtype());
        if (t.scalar_type().value != type.value) {
          t = t.to(type);
        }
        t = t.contiguous();
        t.retainReference();
        bound.add(t);
        bindings.put(j, t.data_ptr());
      }
    }
    // A large batch goes up asynchronously on libtorch's stream; TensorRT reads it on its own.
    CudaStatus.check(cudart.cudaDeviceSynchronize(), "copy a calibration batch");
    next++;
    return true;
  }

  /** No cache: NOS keys the engine by the batches' digest instead. */
  @Override
  public Pointer readCalibrationCache(LongPointer length) {
    try {
      length.put(0L);
    } catch (Throwable t) {
      fail(t.toString());
    }
    return null;
  }

  @Override
  public void writeCalibrationCache(Pointer cache, long length) {
    // The engine is what NOS caches.
  }

  /** The batches TensorRT has taken so far. */
  int given() {
    return next;
  }

  /** The first thing that went wrong in a callback, or null. */
  String failure() {
    return failure;
  }

  private void fail(String what) {
    if (failure == null) {
      failure = "calibration batch " + (next + 1) + " of " + batches.size() + ": " + what;
    }
  }

  private void release() {
    for (org.bytedeco.pytorch.Tensor t : bound) {
      t.releaseReference();
    }
    bound.clear();
  }

  /** Frees the bound device tensors and the native peer. */
  @Override
  public void close() {
    release();
    device.releaseReference();
    super.close();
  }
}
