package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The register of pinned ranges, without CUDA: which copies find a range, and that unpinning
 * waits for the copies reading it (so memory is never unpinned under a transfer). The ranges here
 * are made-up addresses, tracked and untracked directly; CUDA's part is PinnedBufferGpuTest's.
 */
final class PinnedMemoryTest {
  private static final long BASE = 0x7f00_0000_0000L;

  @Test
  void acquire_findsOnlyWholeSpansInsideARange() {
    PinnedMemory.track(BASE, 4096);
    try {
      PinnedMemory.Range whole = PinnedMemory.acquire(BASE, 4096);
      assertNotNull(whole);
      whole.release();
      PinnedMemory.Range inside = PinnedMemory.acquire(BASE + 100, 200);
      assertSame(whole, inside);
      inside.release();
      assertNull(PinnedMemory.acquire(BASE + 4000, 200), "runs past the end");
      assertNull(PinnedMemory.acquire(BASE - 8, 16), "starts before the range");
      assertNull(PinnedMemory.acquire(BASE + 4096, 8), "just after it");
      assertNull(PinnedMemory.acquire(BASE, 0), "nothing to copy");
      assertEquals(0, whole.readers());
    } finally {
      PinnedMemory.untrack(BASE);
    }
    assertNull(PinnedMemory.acquire(BASE, 16), "untracked");
  }

  @Test
  void close_waitsForTheCopiesReadingTheRange_andRefusesNewOnes() throws Exception {
    PinnedMemory.track(BASE, 1 << 20);
    PinnedMemory.Range copying = PinnedMemory.acquire(BASE, 1024);
    assertNotNull(copying);
    PinnedMemory.Range range = PinnedMemory.untrack(BASE);
    assertSame(copying, range);
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      CountDownLatch started = new CountDownLatch(1);
      Future<?> closing = pool.submit(() -> {
        started.countDown();
        range.close();
        return null;
      });
      started.await();
      Thread.sleep(100);
      assertFalse(closing.isDone(), "close must wait for the copy in progress");
      assertFalse(range.tryAcquire(), "a closing range takes no new copy");
      copying.release();
      closing.get(5, TimeUnit.SECONDS);
      assertEquals(0, range.readers());
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void manyCopiesAndOneClose_neverOverlap() throws Exception {
    for (int round = 0; round < 50; round++) {
      PinnedMemory.track(BASE, 1 << 20);
      AtomicInteger inCopy = new AtomicInteger();
      AtomicInteger overlaps = new AtomicInteger();
      ExecutorService pool = Executors.newFixedThreadPool(8);
      CountDownLatch go = new CountDownLatch(1);
      try {
        for (int t = 0; t < 7; t++) {
          pool.submit(() -> {
            go.await();
            for (int i = 0; i < 200; i++) {
              PinnedMemory.Range r = PinnedMemory.acquire(BASE + i, 64);
              if (r == null) {
                continue; // unpinned or closing: a real copy would take the staging path
              }
              inCopy.incrementAndGet();
              Thread.onSpinWait();
              inCopy.decrementAndGet();
              r.release();
            }
            return null;
          });
        }
        Future<?> closer = pool.submit(() -> {
          go.await();
          PinnedMemory.Range r = PinnedMemory.untrack(BASE);
          r.close();
          // Unpinned from here on: no copy may be inside the range.
          if (inCopy.get() != 0) {
            overlaps.incrementAndGet();
          }
          return null;
        });
        go.countDown();
        closer.get(10, TimeUnit.SECONDS);
      } finally {
        pool.shutdown();
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
      }
      assertEquals(0, overlaps.get(), "round " + round);
    }
  }
}
