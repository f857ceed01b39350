package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.DeviceUnavailableException;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import org.bytedeco.cuda.global.cudart;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CUDA work NOS runs in this process, for two things no single call can see.
 *
 * <h2>Pinning and unpinning host memory</h2>
 * Every call and load NOS runs on a GPU holds {@link #shared} for as long as it launches kernels
 * and copies; {@link #exclusive} (pinning and unpinning a {@link ai.nos.PinnedBuffer}) waits for
 * those, synchronizes every device and runs with none in flight. On an H200 (driver 580),
 * {@code cudaHostUnregister} while other threads ran kernels killed the CUDA context: the kernels
 * of unrelated calls failed with "unspecified launch failure" (error 719) even under
 * {@code CUDA_LAUNCH_BLOCKING=1}, and every later CUDA call of the process failed
 * (issue 15, item 11; {@code PinnedBufferGpuTest.closingWhileOtherThreadsCall_failsNoCall} and
 * {@code PinnedUnpinGpuTest}). Waiting only for the copies that read the range being unpinned
 * ({@link PinnedMemory.Range}) was not enough. The price: pinning or unpinning waits for the NOS
 * calls running on the GPUs and holds new ones back while it runs (a few milliseconds for
 * 154 MB); a {@code PinnedBuffer} is meant to be made once and reused, so that is rare.
 *
 * <h2>Lost contexts</h2>
 * Some CUDA errors are sticky: after a kernel faults (an illegal address, a device-side assert),
 * the context of that device fails every later call for the life of the process. When a call on
 * a GPU fails with what looks like a CUDA error, {@link #lostOrNull} asks the device; if the error
 * is sticky, the device is marked lost, that call and every later call or load on it fail at once
 * with a {@link DeviceUnavailableException} that says so and what to do (restart the process),
 * instead of each model failing with a bare CUDA message one by one.
 *
 * <p>Thread-safe: a fair-less {@link ReentrantReadWriteLock} (a queued exclusive request holds
 * new shared ones back, so an unpin is not starved under traffic; shared holds are reentrant, so
 * a load that runs a warm-up call takes it twice without deadlock), and an atomic array of the
 * lost devices' reasons.
 */
public final class CudaWork {
  private static final Logger LOG = LoggerFactory.getLogger(CudaWork.class);

  /** CUDA runtime errors that leave the context unusable for the rest of the process. */
  private static final int[] STICKY = {
    700, // cudaErrorIllegalAddress
    702, // cudaErrorLaunchTimeout
    710, // cudaErrorAssert
    714, // cudaErrorHardwareStackError
    715, // cudaErrorIllegalInstruction
    716, // cudaErrorMisalignedAddress
    717, // cudaErrorInvalidAddressSpace
    718, // cudaErrorInvalidPc
    719, // cudaErrorLaunchFailure
  };

  private static final ReentrantReadWriteLock WORK = new ReentrantReadWriteLock();

  /** Per CUDA device index: why it is lost, or null while it is usable. Sized on first use. */
  private static volatile AtomicReferenceArray<String> lost;

  private CudaWork() {}

  /**
   * Takes the shared hold for a call or load on {@code device}, after checking that the device is
   * not lost. Give it back with {@link Lock#unlock()}.
   *
   * @throws DeviceUnavailableException if the device's context was lost earlier
   */
  static Lock shared(Device device, String modelId) {
    checkUsable(device, modelId);
    Lock lock = WORK.readLock();
    lock.lock();
    return lock;
  }

  /**
   * Runs {@code action} with no NOS call or load running on any GPU, after the work already
   * launched there is done: waits (uninterruptibly) for the shared holds to end.
   */
  static <T> T exclusive(Supplier<T> action) {
    Lock lock = WORK.writeLock();
    lock.lock();
    try {
      synchronizeDevices();
      return action.get();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Throws if the device's CUDA context was lost earlier in this process.
   *
   * @throws DeviceUnavailableException naming the device, the first failure and what to do
   */
  static void checkUsable(Device device, String modelId) {
    AtomicReferenceArray<String> marks = lost;
    if (marks == null || !device.isCuda()) {
      return;
    }
    int index = device.index().orElse(0);
    String reason = index < marks.length() ? marks.get(index) : null;
    if (reason != null) {
      throw new DeviceUnavailableException("model '" + modelId + "' cannot run on " + device
          + ": " + reason);
    }
  }

  /**
   * After a call or load on {@code device} failed with {@code failure}: if the device's context
   * is now lost (a sticky CUDA error), marks the device lost and returns the exception to throw
   * instead; else null (the failure is the model's own, or a CUDA error that does not stick).
   */
  static DeviceUnavailableException lostOrNull(Device device, String modelId,
      RuntimeException failure) {
    if (!device.isCuda() || !looksLikeCuda(failure)) {
      return null;
    }
    int index = device.index().orElse(0);
    int err = stickyError(index);
    if (err == 0) {
      return null;
    }
    String reason = lostReason(device, err, errorName(err), modelId, failure);
    markLost(index, reason);
    DeviceUnavailableException e = new DeviceUnavailableException("model '" + modelId
        + "' failed on " + device + ": " + reason);
    e.initCause(failure);
    return e;
  }

  /**
   * What a lost context's exceptions say: the device, CUDA's error, and the failure it was first
   * seen in, by its error line (a TorchScript traceback's {@code RuntimeError: CUDA error: ...},
   * else the first non-blank line: such messages may start with a blank one).
   */
  static String lostReason(Device device, int err, String errorName, String modelId,
      RuntimeException failure) {
    return "the CUDA context of " + device + " is lost for this process (CUDA error " + err
        + ": " + errorName + ", first seen while model '" + modelId + "' ran: "
        + TorchModel.modelMessage(failure.getMessage()) + "). CUDA keeps such an error until"
        + " the process ends, so every later call and load on this GPU fails; restart the"
        + " process. Causes: a kernel that read or wrote out of bounds (a custom op, an index out"
        + " of range), a device-side assert, or a driver fault.";
  }

  /** Marks a device lost (the first reason stays). Logs once per device. */
  static void markLost(int index, String reason) {
    AtomicReferenceArray<String> marks = lost;
    if (marks == null || index >= marks.length()) {
      synchronized (CudaWork.class) {
        marks = lost;
        if (marks == null || index >= marks.length()) {
          AtomicReferenceArray<String> grown = new AtomicReferenceArray<>(
              Math.max(index + 1, Math.max(TorchRuntime.cudaDeviceCount(), 1)));
          for (int i = 0; marks != null && i < marks.length(); i++) {
            grown.set(i, marks.get(i));
          }
          lost = grown;
          marks = grown;
        }
      }
    }
    if (marks.compareAndSet(index, null, reason)) {
      LOG.error("cuda:{}: {}", index, reason);
    }
  }

  /** Forgets every mark; for tests that mark a device lost without CUDA. */
  static void clearForTests() {
    lost = null;
  }

  /** Whether a failure's message reads like one raised by CUDA or its libraries. */
  static boolean looksLikeCuda(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      String m = t.getMessage();
      if (m != null && (m.contains("CUDA error") || m.contains("cuDNN error")
          || m.contains("CUBLAS_STATUS") || m.contains("CUDNN_STATUS")
          || m.contains("device-side assert") || m.contains("illegal memory access"))) {
        return true;
      }
    }
    return false;
  }

  static boolean isSticky(int err) {
    for (int s : STICKY) {
      if (s == err) {
        return true;
      }
    }
    return false;
  }

  /** The sticky error device {@code index}'s context holds now, or 0. */
  private static int stickyError(int index) {
    int[] current = new int[1];
    cudart.cudaGetDevice(current);
    try {
      int err = cudart.cudaSetDevice(index);
      if (err == 0) {
        err = cudart.cudaDeviceSynchronize();
      }
      if (err != 0 && !isSticky(err)) {
        cudart.cudaGetLastError(); // a passing error: clear it for the next call
      }
      return isSticky(err) ? err : 0;
    } finally {
      cudart.cudaSetDevice(current[0]);
    }
  }

  /** Waits for the work launched on every device; a device's failure is left to its calls. */
  private static void synchronizeDevices() {
    int devices = TorchRuntime.cudaDeviceCount();
    if (devices == 0) {
      return;
    }
    int[] current = new int[1];
    cudart.cudaGetDevice(current);
    try {
      for (int i = 0; i < devices; i++) {
        if (cudart.cudaSetDevice(i) == 0 && cudart.cudaDeviceSynchronize() != 0) {
          cudart.cudaGetLastError();
        }
      }
    } finally {
      cudart.cudaSetDevice(current[0]);
    }
  }

  private static String errorName(int err) {
    return cudart.cudaGetErrorString(err).getString();
  }
}
