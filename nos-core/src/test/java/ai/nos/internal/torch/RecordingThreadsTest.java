package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RecordingThreadsTest {

  @Test
  void everyCallOfADevice_runsOnItsOneThread_fromManyCallers() throws Exception {
    RecordingThreads threads = new RecordingThreads("rec-");
    Set<Thread> ran0 = ConcurrentHashMap.newKeySet();
    Set<Thread> ran1 = ConcurrentHashMap.newKeySet();
    ExecutorService callers = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        int device = i % 2;
        futures.add(callers.submit(() -> threads.call(device,
            () -> (device == 0 ? ran0 : ran1).add(Thread.currentThread()))));
      }
      for (Future<?> f : futures) {
        f.get(10, TimeUnit.SECONDS);
      }
    } finally {
      callers.shutdownNow();
    }
    assertEquals(1, ran0.size(), "threads that ran device 0's work: " + ran0);
    assertEquals(1, ran1.size(), "threads that ran device 1's work: " + ran1);
    Thread t0 = ran0.iterator().next();
    assertNotSame(t0, ran1.iterator().next());
    assertSame(t0, threads.thread(0));
    assertEquals("rec-0", t0.getName());
    assertTrue(t0.isDaemon(), "a recording thread must not hold the JVM up");
  }

  @Test
  void workOfADevice_runsOneAtATime() throws Exception {
    RecordingThreads threads = new RecordingThreads("rec-");
    int[] inside = {0};
    int[] most = {0};
    ExecutorService callers = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        futures.add(callers.submit(() -> threads.call(0, () -> {
          // Unsynchronized on purpose: one thread only ever runs this.
          inside[0]++;
          most[0] = Math.max(most[0], inside[0]);
          Thread.onSpinWait();
          inside[0]--;
          return null;
        })));
      }
      for (Future<?> f : futures) {
        f.get(10, TimeUnit.SECONDS);
      }
    } finally {
      callers.shutdownNow();
    }
    assertEquals(1, most[0]);
  }

  @Test
  void failures_reachTheCaller_asThrown_andTheThreadSurvives() {
    RecordingThreads threads = new RecordingThreads("rec-");
    IllegalStateException thrown = new IllegalStateException("capture failed");
    assertSame(thrown, assertThrows(IllegalStateException.class,
        () -> threads.call(0, () -> { throw thrown; })));
    OutOfMemoryError error = new OutOfMemoryError("native");
    assertSame(error, assertThrows(OutOfMemoryError.class,
        () -> threads.call(0, () -> { throw error; })));
    Thread before = threads.thread(0);
    assertEquals("ok", threads.call(0, () -> "ok"));
    assertSame(before, threads.thread(0), "a failed task must not cost the device its thread");
  }

  @Test
  void aCallerInterrupted_waitsForTheWork_andKeepsItsInterrupt() throws Exception {
    RecordingThreads threads = new RecordingThreads("rec-");
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    String[] got = new String[1];
    boolean[] flag = new boolean[1];
    Thread caller = new Thread(() -> {
      got[0] = threads.call(0, () -> {
        started.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
        return "recorded";
      });
      flag[0] = Thread.currentThread().isInterrupted();
    });
    caller.start();
    assertTrue(started.await(10, TimeUnit.SECONDS));
    caller.interrupt();
    Thread.sleep(50);
    assertTrue(caller.isAlive(), "the caller must wait for the work it handed over");
    release.countDown();
    caller.join(10_000);
    assertEquals("recorded", got[0]);
    assertTrue(flag[0], "the interrupt must be set again on the caller");
  }

  @Test
  void aCallFromTheDevicesOwnThread_runsDirectly() {
    RecordingThreads threads = new RecordingThreads("rec-");
    String inner = threads.call(0, () -> threads.call(0, () -> Thread.currentThread().getName()));
    assertEquals("rec-0", inner);
  }

  @Test
  void aNegativeDevice_isNamed() {
    RecordingThreads threads = new RecordingThreads("rec-");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> threads.call(-1, () -> null));
    assertEquals("device index must be >= 0 but was -1", e.getMessage());
  }
}
