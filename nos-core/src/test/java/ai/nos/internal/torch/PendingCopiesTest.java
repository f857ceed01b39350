package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link PendingCopies} without CUDA: a held range is released only after the call's stream was
 * waited for, on a failing wait too, and a call that held nothing waits for nothing. The ranges
 * are made-up addresses (as in PinnedMemoryTest); the stream's wait is a counter. CUDA's part is
 * PendingCopiesGpuTest's.
 */
final class PendingCopiesTest {
  private static final long BASE = 0x7e00_0000_0000L;
  /** A made-up pinned range, acquired once as a call's copy acquires it. */
  private PinnedMemory.Range range;

  @BeforeEach
  void acquireARange() {
    PinnedMemory.track(BASE, 1 << 20);
    range = PinnedMemory.acquire(BASE, 4096);
    assertNotNull(range);
  }

  @AfterEach
  void untrack() {
    PinnedMemory.untrack(BASE);
  }

  @Test
  void close_waitsForTheStream_thenReleasesWhatTheCopiesRead() {
    AtomicInteger readersAtWait = new AtomicInteger(-1);
    PendingCopies pending = new PendingCopies(() -> readersAtWait.set(range.readers()));
    pending.hold(range, ByteBuffer.allocateDirect(16));
    assertEquals(1, pending.held());
    pending.close();
    assertEquals(1, readersAtWait.get(), "the range was still read while the stream ran");
    assertEquals(0, range.readers(), "released after the wait");
    assertEquals(0, pending.held());
    pending.close(); // nothing left: no second release
    assertEquals(0, range.readers());
  }

  @Test
  void close_releasesEvenWhenTheWaitFails_andThrowsItsFailure() {
    RuntimeException lost = new RuntimeException("CUDA error: an illegal memory access");
    PendingCopies pending = new PendingCopies(() -> {
      throw lost;
    });
    pending.hold(range, ByteBuffer.allocateDirect(16));
    assertSame(lost, assertThrows(RuntimeException.class, pending::close));
    assertEquals(0, range.readers(), "a failed wait must not leave the range read for good");
  }

  @Test
  void close_withNothingHeld_waitsForNothing() {
    AtomicInteger waits = new AtomicInteger();
    PendingCopies pending = new PendingCopies(waits::incrementAndGet);
    pending.close();
    assertEquals(0, waits.get(), "a call without asynchronous copies pays no stream wait");
  }
}
