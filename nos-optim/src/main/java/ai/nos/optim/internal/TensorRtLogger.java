package ai.nos.optim.internal;

import org.bytedeco.tensorrt.nvinfer.ILogger;

/**
 * The one {@code nvinfer1::ILogger} NOS gives TensorRT: a JavaCPP virtual subclass whose
 * {@code log} TensorRT calls from C++, feeding a {@link TensorRtLog} and the debug log.
 *
 * <h2>Why the first logger heard nothing</h2>
 * On the H200 (seventh session) a build failed and the logger kept no message. JavaCPP does call
 * the Java override (checked on a CPU machine: TensorRT 10.15's {@code createInferBuilder} without
 * a driver delivers its "CUDA initialization failure" errors to it), but the {@code Severity} it
 * passes is a new enum object made by JNI, not the constant: {@code severity == kERROR} is false
 * and {@code severity.name()} is null (only {@code value} is set; Bytedeco's samples call
 * {@code intern()} for this reason). That logger compared by identity, so it dropped every
 * message. Here only {@code value} is read ({@link TensorRtLog#severityOf}).
 *
 * <h2>Lifetime</h2>
 * TensorRT keeps the pointer for as long as any object made with it lives, and those are never
 * freed (see {@link TensorRt}), so the logger lives for the JVM: one instance in a static field,
 * with a retained reference so that a {@code PointerScope} open on the thread that first made it
 * cannot free it on close (CudaGraphs' filter was lost that way). JavaCPP's global reference from
 * the native object back to this Java object is what TensorRT's callbacks reach; the static field
 * keeps it from being collected.
 *
 * <p>Thread-safety: {@code log} may be called from any thread at any time; it never throws.
 */
final class TensorRtLogger extends ILogger {
  /** Verbose is dropped: a build logs thousands of those lines. */
  private static final int KEPT_SEVERITY = TensorRtLog.INFO;
  private static final int KEPT_MESSAGES = 256;

  private static final class Holder {
    static final TensorRtLogger INSTANCE = create();

    private static TensorRtLogger create() {
      TensorRtLogger logger = new TensorRtLogger(new TensorRtLog(KEPT_SEVERITY, KEPT_MESSAGES));
      logger.retainReference();
      return logger;
    }
  }

  private final TensorRtLog book;

  private TensorRtLogger(TensorRtLog book) {
    super();
    this.book = book;
  }

  /** The JVM's logger; its native side is allocated on the first call (TensorRT must load). */
  static TensorRtLogger get() {
    return Holder.INSTANCE;
  }

  /** What this logger kept. */
  TensorRtLog book() {
    return book;
  }

  @Override
  public void log(Severity severity, String message) {
    book.callback(severity, message);
  }
}
