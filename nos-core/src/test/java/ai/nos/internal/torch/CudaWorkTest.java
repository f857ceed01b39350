package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.DeviceUnavailableException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Lock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaWork} without a GPU: an exclusive section waits for every shared hold (pinning never
 * runs beside a call on a GPU), and a device marked lost refuses calls with a message that says
 * what happened and what to do. The GPU side (a real unpin under traffic, a real lost context)
 * is PinnedUnpinGpuTest.
 */
final class CudaWorkTest {

  @AfterEach
  void forget() {
    CudaWork.clearForTests();
  }

  /**
   * A lost context names the failure it was first seen in by its error line. It quoted the
   * message's literal first line, which is blank when libtorch quotes TorchScript code and says
   * nothing in a traceback.
   */
  @Test
  void lostReason_quotesTheFailuresErrorLine_notABlankFirstLine() {
    String blankFirst = "\nCUDA error: an illegal memory access was encountered\nCUDA kernel"
        + " errors might be asynchronously reported at some other API call\n";
    String reason = CudaWork.lostReason(Device.cuda(0), 700, "an illegal memory access was"
        + " encountered", "m", new RuntimeException(blankFirst));
    assertTrue(reason.contains("first seen while model 'm' ran: CUDA error: an illegal memory"
        + " access was encountered). CUDA keeps"), reason);
    String traceback = "The following operation failed in the TorchScript interpreter.\n"
        + "Traceback of TorchScript, serialized code (most recent call last):\n"
        + "  File \"code/__torch__.py\", line 12, in forward\n"
        + "RuntimeError: CUDA error: device-side assert triggered\n"
        + "For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n";
    reason = CudaWork.lostReason(Device.cuda(1), 710, "device-side assert triggered", "p",
        new RuntimeException(traceback));
    assertEquals("the CUDA context of cuda:1 is lost for this process (CUDA error 710:"
        + " device-side assert triggered, first seen while model 'p' ran: RuntimeError: CUDA"
        + " error: device-side assert triggered). CUDA keeps such an error until the process"
        + " ends, so every later call and load on this GPU fails; restart the process. Causes: a"
        + " kernel that read or wrote out of bounds (a custom op, an index out of range), a"
        + " device-side assert, or a driver fault.", reason);
    assertTrue(CudaWork.lostReason(Device.cuda(0), 700, "x", "m", new RuntimeException())
        .contains("ran: (libtorch gave no message))"));
  }

  @Test
  void exclusive_waitsForEverySharedHold() throws Exception {
    Lock call = CudaWork.shared(Device.cuda(0), "m");
    AtomicBoolean ran = new AtomicBoolean();
    CountDownLatch started = new CountDownLatch(1);
    Thread unpin = new Thread(() -> {
      started.countDown();
      CudaWork.exclusive(() -> {
        ran.set(true);
        return null;
      });
    });
    unpin.start();
    assertTrue(started.await(10, TimeUnit.SECONDS));
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (unpin.getState() != Thread.State.WAITING && System.nanoTime() < end) {
      Thread.onSpinWait();
    }
    assertEquals(Thread.State.WAITING, unpin.getState(), "the exclusive section waits");
    assertFalse(ran.get(), "nothing ran beside a call");
    call.unlock();
    unpin.join(10_000);
    assertTrue(ran.get(), "ran once the call ended");
  }

  @Test
  void sharedHolds_areReentrant_evenWithAnExclusiveWaiting() throws Exception {
    Lock load = CudaWork.shared(Device.cuda(0), "m");
    Thread unpin = new Thread(() -> CudaWork.exclusive(() -> null));
    unpin.start();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (unpin.getState() != Thread.State.WAITING && System.nanoTime() < end) {
      Thread.onSpinWait();
    }
    // A load's warm-up call takes the hold again on the same thread: it must not deadlock.
    Lock warmUp = CudaWork.shared(Device.cuda(0), "m");
    warmUp.unlock();
    load.unlock();
    unpin.join(10_000);
    assertFalse(unpin.isAlive());
  }

  @Test
  void aLostDevice_refusesCallsWithTheReason_otherDevicesServe() {
    CudaWork.markLost(1, "the CUDA context of cuda:1 is lost for this process (CUDA error 719)");
    DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
        () -> CudaWork.shared(Device.cuda(1), "resnet"));
    assertTrue(e.getMessage().startsWith("model 'resnet' cannot run on cuda:1: the CUDA context"),
        e.getMessage());
    assertTrue(e.getMessage().contains("error 719"), e.getMessage());
    CudaWork.shared(Device.cuda(0), "resnet").unlock();
    CudaWork.checkUsable(Device.cpu(), "resnet");
    // The first reason stays.
    CudaWork.markLost(1, "another");
    assertThrows(DeviceUnavailableException.class, () -> CudaWork.checkUsable(Device.cuda(1), "x"),
        "still lost");
    assertTrue(assertThrows(DeviceUnavailableException.class,
        () -> CudaWork.checkUsable(Device.cuda(1), "x")).getMessage().contains("error 719"));
  }

  @Test
  void onlyCudaLookingFailures_areExamined() {
    assertTrue(CudaWork.looksLikeCuda(new RuntimeException("x",
        new RuntimeException("CUDA error: unspecified launch failure"))));
    assertTrue(CudaWork.looksLikeCuda(new RuntimeException(
        "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")));
    assertFalse(CudaWork.looksLikeCuda(new RuntimeException("shape mismatch: [2, 3] vs [3]")));
    // A model's own failure on the CPU is never taken for a lost device (and asks no CUDA).
    assertNull(CudaWork.lostOrNull(Device.cpu(), "m",
        new RuntimeException("CUDA error: unspecified launch failure")));
    assertTrue(CudaWork.isSticky(719) && CudaWork.isSticky(700) && CudaWork.isSticky(710));
    assertFalse(CudaWork.isSticky(2), "out of memory is not sticky");
  }
}
