package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** {@link Timing#windows} on a clock the test runs: each call advances it by a set time. */
final class TimingTest {

  @Test
  void windows_countWorkOverWallTime_includingGapsBetweenCalls() throws Exception {
    AtomicLong clock = new AtomicLong();
    AtomicInteger calls = new AtomicInteger();
    // Each call takes 1 ms; every 10th measured call also leaves a 5 ms gap before the next
    // (a pause outside the call): a window sees it, a per-call percentile does not.
    Timing.Call call = () -> {
      int n = calls.incrementAndGet();
      clock.addAndGet(1_000_000);
      if (n > Timing.WARM_UP_CALLS && (n - Timing.WARM_UP_CALLS) % 10 == 0) {
        clock.addAndGet(5_000_000);
      }
    };

    Timing.Windows w = Timing.windows(call, 8, 0.1, 3, clock::get);

    // 0.1 s windows: calls of 1 ms, 10 calls take 15 ms; the window closes at the first call
    // ending at or past 100 ms: 70 calls in 105 ms, the 70th's gap included.
    assertEquals(3, w.perSecond().size());
    for (double perSecond : w.perSecond()) {
      assertEquals(70 * 8 / 0.105, perSecond, 1e-6);
    }
    assertEquals(Timing.WARM_UP_CALLS + 3 * 70, calls.get());
    assertEquals(1_000_000L, w.p50Nanos(), "the median call is a plain 1 ms one");
    assertTrue(w.median() < 8 / 0.001, "windows count the gaps that batch / p50 misses");
  }

  @Test
  void windows_minAndMedian_overWindowsOfDifferentSpeed() throws Exception {
    AtomicLong clock = new AtomicLong();
    AtomicInteger calls = new AtomicInteger();
    // 1 ms calls in the first window, 2 ms in the second, 4 ms in the third (10 ms windows).
    long[] callNanos = {1_000_000, 2_000_000, 4_000_000};
    Timing.Call call = () -> {
      int n = calls.incrementAndGet() - Timing.WARM_UP_CALLS;
      int window = n <= 0 ? 0 : n <= 10 ? 0 : n <= 15 ? 1 : 2;
      clock.addAndGet(callNanos[window]);
    };

    Timing.Windows w = Timing.windows(call, 1, 0.01, 3, clock::get);

    assertEquals(List.of(1000.0, 500.0, 250.0), w.perSecond());
    assertEquals(500.0, w.median());
    assertEquals(250.0, w.min());
  }

  @Test
  void windows_refuseBadSettings_namingThem() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Timing.windows(() -> { }, 1, 1, 0));
    assertTrue(e.getMessage().contains("repeats 0"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Timing.windows(() -> { }, 1, 0, 3));
    assertTrue(e.getMessage().contains("seconds 0.0"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Timing.windows(() -> { }, 0, 1, 3));
    assertTrue(e.getMessage().contains("items per call 0"), e.getMessage());
  }

  @Test
  void callers_countTheCallsOfEveryThread_inEachWindow() throws Exception {
    java.util.Set<String> threads = java.util.concurrent.ConcurrentHashMap.newKeySet();
    AtomicInteger calls = new AtomicInteger();
    Timing.Call call = () -> {
      threads.add(Thread.currentThread().getName());
      calls.incrementAndGet();
      Thread.sleep(2);
    };

    Timing.Windows w = Timing.callers(List.of(call, call, call), 4, 0.05, 3);

    assertEquals(3, threads.size(), "one thread per caller");
    assertEquals(3, w.perSecond().size());
    // Three callers of calls that sleep 2 ms: at most 1,500 calls/s of 4 items, and more than
    // one caller's 500 (what a harness that ran the callers one after another would measure).
    for (double perSecond : w.perSecond()) {
      assertTrue(perSecond > 4 * 500 * 1.2 && perSecond <= 4 * 1500 * 1.01, "" + perSecond);
    }
    assertTrue(w.sortedNanos().size() >= 3 * 10 && w.p50Nanos() >= 2_000_000);
  }

  @Test
  void callers_throwTheFirstCallsException_andStopTheOthers() {
    AtomicInteger calls = new AtomicInteger();
    Timing.Call failing = () -> {
      if (calls.incrementAndGet() > 50) {
        throw new IllegalStateException("call 51 failed");
      }
      Thread.sleep(1);
    };
    Timing.Call fine = () -> Thread.sleep(1);

    Exception e = assertThrows(IllegalStateException.class,
        () -> Timing.callers(List.of(failing, fine), 1, 10, 3));
    assertEquals("call 51 failed", e.getMessage());
  }

  @Test
  void callers_refuseNoCallers() {
    assertThrows(IllegalArgumentException.class, () -> Timing.callers(List.of(), 1, 1, 1));
  }
}
