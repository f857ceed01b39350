package ai.nos.optim.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.bytedeco.tensorrt.nvinfer.ILogger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * TensorRT's log as NOS keeps it: the severity filter, the bounded ring, marks, the reasons a
 * failed build reports, and the callback fed the kind of {@code Severity} object JavaCPP really
 * passes (a JNI-made one, not the enum constant). Needs no TensorRT.
 */
@Timeout(60)
final class TensorRtLogTest {

  @Test
  void keeps_infoThreshold_dropsVerboseOnly() {
    TensorRtLog log = new TensorRtLog(TensorRtLog.INFO, 8);
    for (int s = 0; s <= 4; s++) {
      log.record(s, "m" + s);
    }
    log.record(7, "from a newer TensorRT");
    List<String> kept = new ArrayList<>();
    log.since(0).forEach(e -> kept.add(e.toString()));
    assertEquals(List.of("internal error: m0", "error: m1", "warning: m2", "info: m3",
        "severity 7: from a newer TensorRT"), kept);
  }

  @Test
  void record_pastCapacity_keepsTheNewestInOrder() {
    TensorRtLog log = new TensorRtLog(TensorRtLog.VERBOSE, 3);
    for (int i = 0; i < 5; i++) {
      log.record(TensorRtLog.INFO, "m" + i);
    }
    List<TensorRtLog.Entry> kept = log.since(0);
    assertEquals(3, kept.size());
    assertEquals(List.of(2L, 3L, 4L), kept.stream().map(TensorRtLog.Entry::sequence).toList());
    assertEquals("m4", kept.get(2).message());
    assertEquals(5, log.mark());
  }

  @Test
  void since_mark_returnsOnlyLaterMessages() {
    TensorRtLog log = new TensorRtLog(TensorRtLog.INFO, 16);
    log.record(TensorRtLog.ERROR, "an earlier build's error");
    long mark = log.mark();
    assertTrue(log.since(mark).isEmpty());
    assertTrue(log.reasons(mark).isEmpty(), "nothing said since the mark");
    log.record(TensorRtLog.WARNING, "this build's warning");
    assertEquals(List.of("this build's warning"), log.reasons(mark));
  }

  @Test
  void reasons_preferErrorsThenWarningsThenTheLastThree() {
    TensorRtLog log = new TensorRtLog(TensorRtLog.INFO, 16);
    long mark = log.mark();
    for (int i = 0; i < 5; i++) {
      log.record(TensorRtLog.INFO, "i" + i);
    }
    assertEquals(List.of("info: i2", "info: i3", "info: i4"), log.reasons(mark));
    log.record(TensorRtLog.WARNING, "w");
    assertEquals(List.of("w"), log.reasons(mark));
    log.record(TensorRtLog.ERROR, "e");
    log.record(TensorRtLog.INTERNAL_ERROR, "ie");
    assertEquals(List.of("e", "ie"), log.reasons(mark));
  }

  @Test
  void record_longOrMissingMessage_isCutOrNamed() {
    TensorRtLog log = new TensorRtLog(TensorRtLog.INFO, 4);
    log.record(TensorRtLog.ERROR, "x".repeat(TensorRtLog.MAX_MESSAGE_CHARS + 10));
    log.record(TensorRtLog.ERROR, null);
    List<TensorRtLog.Entry> kept = log.since(0);
    assertTrue(kept.get(0).message().endsWith("... (" + (TensorRtLog.MAX_MESSAGE_CHARS + 10)
        + " chars)"), kept.get(0).message().substring(TensorRtLog.MAX_MESSAGE_CHARS));
    assertEquals("(no message)", kept.get(1).message());
  }

  @Test
  void constructor_badArguments_nameTheValue() {
    IllegalArgumentException t = assertThrows(IllegalArgumentException.class,
        () -> new TensorRtLog(5, 4));
    assertTrue(t.getMessage().contains("severity 0..4") && t.getMessage().endsWith("was 5"),
        t.getMessage());
    IllegalArgumentException c = assertThrows(IllegalArgumentException.class,
        () -> new TensorRtLog(TensorRtLog.INFO, 0));
    assertTrue(c.getMessage().endsWith("capacity was 0"), c.getMessage());
  }

  /**
   * The H200's silent logger: JavaCPP hands the callback a {@code Severity} made by JNI, whose
   * {@code value} is set but which is not the constant and has no name. Compared by identity
   * (as the first logger did) it matched no severity and nothing was kept.
   */
  @Test
  void callback_javacppMadeSeverity_keepsTheMessageWithItsSeverity() throws Exception {
    ILogger.Severity error = javacppMade(ILogger.Severity.kERROR.value);
    assertNotSame(ILogger.Severity.kERROR, error);
    assertNull(error.name(), "what JNI makes has no name");
    TensorRtLog log = new TensorRtLog(TensorRtLog.INFO, 8);
    log.callback(error, "Error Code 4: API Usage Error (some TensorRT words)");
    log.callback(javacppMade(ILogger.Severity.kVERBOSE.value), "dropped");
    log.callback(null, "a null severity counts as an error");
    List<TensorRtLog.Entry> kept = log.since(0);
    assertEquals(2, kept.size(), "kept: " + kept);
    assertEquals("error: Error Code 4: API Usage Error (some TensorRT words)",
        kept.get(0).toString());
    assertEquals(List.of("Error Code 4: API Usage Error (some TensorRT words)",
        "a null severity counts as an error"), log.reasons(0));
  }

  /** TensorRT logs from its worker threads: eight at once lose no sequence number. */
  @Test
  void record_fromEightThreads_keepsAContiguousNewestWindow() throws Exception {
    int threads = 8;
    int each = 2_000;
    TensorRtLog log = new TensorRtLog(TensorRtLog.INFO, 64);
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int id = t;
        done.add(pool.submit(() -> {
          start.await();
          for (int i = 0; i < each; i++) {
            log.record(i % 3, "t" + id + " " + i);
          }
          return null;
        }));
      }
      start.countDown();
      for (Future<?> f : done) {
        f.get(30, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(threads * each, log.mark());
    List<TensorRtLog.Entry> kept = log.since(0);
    assertEquals(64, kept.size());
    for (int i = 0; i < kept.size(); i++) {
      assertEquals(threads * each - 64 + i, kept.get(i).sequence());
    }
    assertFalse(kept.stream().anyMatch(e -> e.message() == null));
  }

  /** A Severity as JavaCPP's JNI code makes it: allocated without a constructor, value set. */
  static ILogger.Severity javacppMade(int value) throws Exception {
    Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
    Field theUnsafe = unsafeClass.getDeclaredField("theUnsafe");
    theUnsafe.setAccessible(true);
    Object unsafe = theUnsafe.get(null);
    Object made = unsafeClass.getMethod("allocateInstance", Class.class)
        .invoke(unsafe, ILogger.Severity.class);
    long offset = (long) unsafeClass.getMethod("objectFieldOffset", Field.class)
        .invoke(unsafe, ILogger.Severity.class.getField("value"));
    unsafeClass.getMethod("putInt", Object.class, long.class, int.class)
        .invoke(unsafe, made, offset, value);
    return (ILogger.Severity) made;
  }
}
