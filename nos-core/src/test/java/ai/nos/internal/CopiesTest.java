package ai.nos.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Large host copies in parallel parts: every byte lands once, failures come back, small stays. */
@Timeout(60)
final class CopiesTest {

  @Test
  void largeCopy_everyByteInPlace_buffersUntouched() {
    int bytes = (int) (9 * Copies.MIN_PART_BYTES + 12345);
    ByteBuffer src = ByteBuffer.allocateDirect(bytes + 7);
    SplittableRandom r = new SplittableRandom(3);
    for (int i = 0; i < src.capacity(); i++) {
      src.put(i, (byte) r.nextInt());
    }
    ByteBuffer dst = ByteBuffer.allocateDirect(bytes + 11);
    Copies.copy(src.asReadOnlyBuffer(), 7, dst, 11, bytes);
    for (int i = 0; i < bytes; i++) {
      if (src.get(7 + i) != dst.get(11 + i)) {
        throw new AssertionError("byte " + i + " differs");
      }
    }
    for (int i = 0; i < 11; i++) {
      assertEquals(0, dst.get(i), "nothing written before the destination offset");
    }
    assertEquals(0, dst.position());
    assertEquals(0, src.position());
  }

  @Test
  void parts_smallCopiesStayOnTheCaller_largeOnesSplitUpToThePool() {
    assertEquals(1, Copies.parts(0));
    assertEquals(1, Copies.parts(Copies.MIN_PART_BYTES - 1));
    int cores = Runtime.getRuntime().availableProcessors();
    assertEquals(Math.min(16, Math.max(1, cores)), Copies.parts(1L << 40));
  }

  @Test
  void run_partsRunOnSeveralThreadsAtOnce() throws Exception {
    int parts = Copies.parts(1L << 40);
    org.junit.jupiter.api.Assumptions.assumeTrue(parts > 1, "one processor: nothing to split");
    Set<String> threads = ConcurrentHashMap.newKeySet();
    CountDownLatch all = new CountDownLatch(parts);
    Copies.run(parts, i -> {
      threads.add(Thread.currentThread().getName());
      all.countDown();
      try {
        // Every part waits for the others: passes only if they run at the same time.
        assertTrue(all.await(10, TimeUnit.SECONDS));
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    assertEquals(parts, threads.size(), threads.toString());
    assertTrue(threads.stream().anyMatch(n -> n.startsWith("nos-copy-")), threads.toString());
  }

  @Test
  void run_failureOfAPart_isRethrownAfterAllFinish() {
    int parts = Math.max(2, Copies.parts(1L << 40));
    IllegalStateException boom = new IllegalStateException("part 1 failed");
    Set<Integer> ran = ConcurrentHashMap.newKeySet();
    IllegalStateException e = assertThrows(IllegalStateException.class, () ->
        Copies.run(parts, i -> {
          ran.add(i);
          if (i == 1) {
            throw boom;
          }
        }));
    assertEquals("part 1 failed", e.getMessage());
    assertEquals(parts, ran.size(), "the other parts still ran");
    assertSame(IllegalStateException.class, e.getClass());
  }
  @Test
  void run_nestedInAPart_runsEveryInnerPart() {
    int parts = Math.max(2, Copies.parts(1L << 40));
    java.util.concurrent.atomic.AtomicInteger inner =
        new java.util.concurrent.atomic.AtomicInteger();
    assertTimeoutPreemptively(java.time.Duration.ofSeconds(20), () ->
        Copies.run(parts, i -> Copies.run(parts, j -> inner.incrementAndGet())));
    assertEquals(parts * parts, inner.get());
  }
}
