package ai.nos.optim.internal;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.tensorrt.nvinfer.ILogger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What TensorRT logged, kept for the exception of a failed build: a severity filter and a
 * bounded ring of the newest messages. Pure Java, so it is tested on machines without TensorRT;
 * {@link TensorRtLogger} is the native side that feeds it.
 *
 * <h2>Severities</h2>
 * TensorRT's own numbers: 0 internal error, 1 error, 2 warning, 3 info, 4 verbose. A message is
 * kept when its number is at most the threshold; verbose messages (thousands in one build) are
 * dropped by default. An unknown number (below 0 or above 4) is kept and labelled with it, so a
 * newer TensorRT's severity is never silently lost.
 *
 * <h2>Marks</h2>
 * Every kept message gets the next sequence number. A build takes a {@link #mark()} first and
 * asks for what came after it ({@link #since}), so messages of an earlier build, or of another
 * TensorRT object logging at the same time, are told apart without clearing anything.
 *
 * <h2>Concurrency</h2>
 * TensorRT calls the logger from whichever thread does the work (a build's thread, its own
 * worker threads). Every method locks this object; the ring is small and the work inside the
 * lock is a few array writes, so contention is not a concern. {@link #record} never throws: it
 * runs inside TensorRT's C++ frames, where an exception would have nowhere to go.
 */
final class TensorRtLog {
  private static final Logger LOG = LoggerFactory.getLogger(TensorRtLogger.class);
  static final int INTERNAL_ERROR = 0;
  static final int ERROR = 1;
  static final int WARNING = 2;
  static final int INFO = 3;
  static final int VERBOSE = 4;
  /** A message longer than this is cut: one pathological message must not fill the heap. */
  static final int MAX_MESSAGE_CHARS = 4000;
  private static final String[] LABELS = {"internal error", "error", "warning", "info", "verbose"};

  /** One kept message. */
  record Entry(long sequence, int severity, String message) {
    /** {@code "error: <message>"}. */
    @Override
    public String toString() {
      return label(severity) + ": " + message;
    }
  }

  private final int threshold;
  private final Entry[] ring;
  /**
   * Sequence number of the next kept message: written under this object's lock, read without it
   * by {@link #mark()} (every engine call takes a mark).
   */
  private volatile long next;

  /**
   * @param threshold the highest severity number kept (e.g. {@link #INFO})
   * @param capacity how many of the newest messages are kept
   * @throws IllegalArgumentException if the threshold is not 0..4 or the capacity below 1
   */
  TensorRtLog(int threshold, int capacity) {
    if (threshold < INTERNAL_ERROR || threshold > VERBOSE) {
      throw new IllegalArgumentException("the TensorRT log threshold must be a severity 0..4"
          + " (internal error .. verbose) but was " + threshold);
    }
    if (capacity < 1) {
      throw new IllegalArgumentException("the TensorRT log must keep at least 1 message but"
          + " capacity was " + capacity);
    }
    this.threshold = threshold;
    this.ring = new Entry[capacity];
  }

  /** {@code "warning"} for 2; {@code "severity 7"} for a number TensorRT does not define. */
  static String label(int severity) {
    return severity >= 0 && severity < LABELS.length ? LABELS[severity] : "severity " + severity;
  }

  /** Whether a message of this severity is kept. */
  boolean keeps(int severity) {
    return severity <= threshold || severity > VERBOSE;
  }

  /** Keeps the message if its severity passes the filter. Never throws. */
  synchronized void record(int severity, String message) {
    if (!keeps(severity)) {
      return;
    }
    String text = message == null ? "(no message)" : message.length() > MAX_MESSAGE_CHARS
        ? message.substring(0, MAX_MESSAGE_CHARS) + "... (" + message.length() + " chars)"
        : message;
    ring[(int) (next % ring.length)] = new Entry(next, severity, text);
    next++;
  }

  /**
   * Records one call of {@code ILogger::log}, the body of {@link TensorRtLogger#log}. Never
   * throws: nothing may unwind into TensorRT's C++ frames (the method is noexcept there, and
   * JavaCPP would turn a Java exception into a C++ one).
   */
  void callback(ILogger.Severity severity, String message) {
    try {
      int level = severityOf(severity);
      record(level, message);
      if (level <= INFO && LOG.isDebugEnabled()) {
        LOG.debug("TensorRT {}: {}", label(level), message);
      }
    } catch (RuntimeException | Error ignored) {
      // an OutOfMemoryError here must not take the process down through std::terminate
    }
  }

  /**
   * TensorRT's severity number. Reads {@code value} only: the object JavaCPP passes to a
   * callback is a new one made by JNI, not the enum constant, and has no name.
   */
  static int severityOf(ILogger.Severity severity) {
    return severity == null ? ERROR : severity.value;
  }

  /**
   * The sequence number the next kept message will get: pass it to {@link #since}. A volatile
   * read, no lock: every engine call takes one, for the messages of a call that fails.
   */
  long mark() {
    return next;
  }

  /** The kept messages logged at or after {@code mark}, oldest first. */
  synchronized List<Entry> since(long mark) {
    long from = Math.max(mark, next - ring.length);
    List<Entry> out = new ArrayList<>((int) Math.max(0, next - from));
    for (long s = Math.max(0, from); s < next; s++) {
      out.add(ring[(int) (s % ring.length)]);
    }
    return out;
  }

  /**
   * What TensorRT said since {@code mark}, for an exception: its errors, else its warnings, else
   * its last three messages; empty if it said nothing.
   */
  List<String> reasons(long mark) {
    List<Entry> all = since(mark);
    for (int worst = ERROR; worst <= WARNING; worst++) {
      List<String> picked = new ArrayList<>();
      for (Entry e : all) {
        if (e.severity() <= worst) {
          picked.add(e.message());
        }
      }
      if (!picked.isEmpty()) {
        return picked;
      }
    }
    List<String> last = new ArrayList<>();
    for (Entry e : all.subList(Math.max(0, all.size() - 3), all.size())) {
      last.add(e.toString());
    }
    return last;
  }
}
