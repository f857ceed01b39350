package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/** The window of recent latencies: quantiles, the ring's wrap, and records from many threads. */
final class LatencyWindowTest {

  @Test
  void quantileMicros_empty_isZero() {
    assertEquals(0, new LatencyWindow(8).quantileMicros(0.5));
  }

  @Test
  void quantileMicros_ofOneToAThousandMicros() {
    LatencyWindow w = new LatencyWindow(1000);
    for (int us = 1000; us >= 1; us--) {
      w.record(us * 1000L);
    }
    assertEquals(501, w.quantileMicros(0.5));
    assertEquals(991, w.quantileMicros(0.99));
    assertEquals(1000, w.quantileMicros(1.0));
    assertEquals(1, w.quantileMicros(0.0));
  }

  @Test
  void record_pastTheSize_keepsTheLatestOnly() {
    LatencyWindow w = new LatencyWindow(4);
    for (int i = 0; i < 10; i++) {
      w.record(1_000_000L); // 1 ms, then overwritten
    }
    for (int i = 0; i < 4; i++) {
      w.record(2_000L);
    }
    assertEquals(2, w.quantileMicros(1.0));
  }

  @Test
  void constructor_sizeBelowOne_isRefused() {
    var e = assertThrows(IllegalArgumentException.class, () -> new LatencyWindow(0));
    assertEquals("a latency window needs >= 1 slot but got 0", e.getMessage());
  }

  /** 16 threads record their own values at once; every quantile is one of them, none lost. */
  @Test
  void record_fromManyThreads_holdsOnlyRecordedValues() throws Exception {
    int threads = 16;
    int each = 20_000;
    LatencyWindow w = new LatencyWindow(1024);
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> all = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      long value = (t + 1) * 1000L; // thread t records (t + 1) us
      Thread th = new Thread(() -> {
        try {
          start.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
        for (int i = 0; i < each; i++) {
          w.record(value);
        }
      });
      th.start();
      all.add(th);
    }
    start.countDown();
    for (int i = 0; i < 200; i++) {
      long q = w.quantileMicros(0.5); // read while they record
      assertTrue(q >= 0 && q <= threads, "median " + q + " us was never recorded");
    }
    for (Thread th : all) {
      th.join();
    }
    for (double q : new double[] {0, 0.25, 0.5, 0.99, 1}) {
      long us = w.quantileMicros(q);
      assertTrue(us >= 1 && us <= threads, q + "-quantile " + us + " us was never recorded");
    }
  }
}
