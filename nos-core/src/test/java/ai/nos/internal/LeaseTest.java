package ai.nos.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

final class LeaseTest {

  @Test
  void close_withNothingInFlight_freesAtOnce() {
    AtomicInteger freed = new AtomicInteger();
    Lease lease = new Lease(freed::incrementAndGet);
    assertTrue(lease.close());
    assertEquals(1, freed.get());
    assertFalse(lease.close());
    assertEquals(1, freed.get());
    assertFalse(lease.tryAcquire());
  }

  @Test
  void close_withCallsInFlight_freesWhenTheLastEnds() {
    AtomicInteger freed = new AtomicInteger();
    Lease lease = new Lease(freed::incrementAndGet);
    assertTrue(lease.tryAcquire());
    assertTrue(lease.tryAcquire());
    lease.close();
    assertTrue(lease.isClosed());
    assertFalse(lease.tryAcquire());
    assertEquals(0, freed.get());
    lease.release();
    assertEquals(0, freed.get());
    assertEquals(1, lease.inFlight());
    lease.release();
    assertEquals(1, freed.get());
  }

  @RepeatedTest(20)
  void stress_freesExactlyOnce_neverUnderAHolder() throws Exception {
    AtomicInteger freed = new AtomicInteger();
    AtomicInteger holders = new AtomicInteger();
    AtomicInteger violations = new AtomicInteger();
    Lease lease = new Lease(() -> {
      if (holders.get() != 0) {
        violations.incrementAndGet();
      }
      freed.incrementAndGet();
    });
    int threads = 8;
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> all = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      Thread th = new Thread(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          return;
        }
        for (int i = 0; i < 20_000; i++) {
          if (lease.tryAcquire()) {
            holders.incrementAndGet();
            if (freed.get() != 0) {
              violations.incrementAndGet();
            }
            holders.decrementAndGet();
            lease.release();
          }
        }
      });
      th.start();
      all.add(th);
    }
    go.countDown();
    Thread.sleep(1);
    lease.close();
    for (Thread th : all) {
      th.join();
    }
    assertEquals(1, freed.get());
    assertEquals(0, violations.get());
  }
}
