import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where a fresh JVM's load of Bytedeco's libtorch preset spends its time (issue 20 item 5: NOS's
 * first result is ~240 ms behind DJL's, and ~530 ms of NOS's is JavaCPP's load). Run by
 * scripts/bench/native-load.sh with only the JavaCPP, OpenBLAS and PyTorch preset jars on the class
 * path (no NOS code), and JavaCPP's debug log on: every "Debug: Loading ..." line JavaCPP writes to
 * System.err is stamped with the time since main began, and the stages are read off them:
 * <ul>
 *   <li>javacpp: from Loader.load's call to JavaCPP's first line (Loader's own start: platform,
 *       properties, the preset's annotations);
 *   <li>openblas: from the first line to the first
 *       "Loading class org.bytedeco.pytorch.global.torch" (the two OpenBLAS presets the PyTorch
 *       preset inherits, their natives and JNI libraries);
 *   <li>link: from the first libtorch-folder library line to the libjnitorch.so line (the dynamic
 *       link of libgomp, libc10, libtorch and libtorch_cpu: what any libtorch binding pays);
 *   <li>onload: from the libjnitorch.so line to Loader.load's return (dlopen of the JNI library,
 *       ~4 ms by dlopen_times.c, then its JNI_OnLoad, which registers the member offsets of every
 *       class the preset maps, loading each class: Loader.putMemberOffset);
 * </ul>
 * and the classes the JVM loaded during Loader.load. One line:
 * {@code native-load jvm-to-main-ms A javacpp-ms B openblas-ms C link-ms D onload-ms E loader-ms F
 * first-tensor-ms G classes H onload-classes I} (classes: loaded during Loader.load;
 * onload-classes: of them, after the libjnitorch.so line; jvm-to-main from the launch time the
 * script passes as {@code -Dnative.load.launched}, epoch nanoseconds).
 */
public final class NativeLoad {
  private static final long START = System.nanoTime();
  private static final List<double[]> STAMPS = new ArrayList<>();
  private static final List<String> LINES = new ArrayList<>();
  private static long classesAtJni;

  public static void main(String[] args) throws Exception {
    // From the script's launch (-Dnative.load.launched, epoch nanoseconds) to main's class init.
    String launched = System.getProperty("native.load.launched");
    Instant now = Instant.now();
    double jvmToMain = launched == null ? Double.NaN
        : (now.getEpochSecond() * 1e9 + now.getNano() - Double.parseDouble(launched)) / 1e6
            - ms();
    PrintStream err = System.err;
    System.setErr(new PrintStream(new OutputStream() {
      private final StringBuilder line = new StringBuilder();

      @Override
      public synchronized void write(int b) {
        if (b == '\n') {
          synchronized (LINES) {
            if (line.toString().endsWith("libjnitorch.so")) {
              classesAtJni = ManagementFactory.getClassLoadingMXBean().getTotalLoadedClassCount();
            }
            LINES.add(line.toString());
            STAMPS.add(new double[] {ms()});
          }
          line.setLength(0);
        } else {
          line.append((char) b);
        }
      }
    }, true, StandardCharsets.UTF_8));
    long classesBefore = ManagementFactory.getClassLoadingMXBean().getTotalLoadedClassCount();
    double t0 = ms();
    org.bytedeco.javacpp.Loader.load(org.bytedeco.pytorch.global.torch.class);
    double loaded = ms();
    long classesAfter = ManagementFactory.getClassLoadingMXBean().getTotalLoadedClassCount();
    long classes = classesAfter - classesBefore;
    long onloadClasses = classesAfter - classesAtJni;
    org.bytedeco.pytorch.global.torch.ones(2, 2).close();
    double tensor = ms();
    System.setErr(err);
    double first = stamp(l -> true, t0);
    double torchClass = stamp(l -> l.endsWith("Loading class org.bytedeco.pytorch.global.torch"),
        Double.NaN);
    double linkStart = stamp(l -> l.contains("/org/bytedeco/pytorch/") && l.contains(".so"),
        Double.NaN);
    double jni = stamp(l -> l.endsWith("libjnitorch.so"), Double.NaN);
    if (Double.isNaN(torchClass) || Double.isNaN(linkStart) || Double.isNaN(jni)) {
      throw new IllegalStateException("JavaCPP's debug lines lack a stage (is"
          + " -Dorg.bytedeco.javacpp.logger.debug=true set?): " + LINES);
    }
    System.out.printf(Locale.ROOT, "native-load jvm-to-main-ms %.1f javacpp-ms %.1f openblas-ms"
        + " %.1f link-ms %.1f onload-ms %.1f loader-ms %.1f first-tensor-ms %.1f classes %d"
        + " onload-classes %d%n", jvmToMain, first - t0, torchClass - first, jni - linkStart,
        loaded - jni, loaded - t0, tensor - loaded, classes, onloadClasses);
  }

  private static double ms() {
    return (System.nanoTime() - START) / 1e6;
  }

  /** The time of the first line matching, else {@code otherwise}. */
  private static double stamp(java.util.function.Predicate<String> match, double otherwise) {
    synchronized (LINES) {
      for (int i = 0; i < LINES.size(); i++) {
        if (match.test(LINES.get(i))) {
          return STAMPS.get(i)[0];
        }
      }
    }
    return otherwise;
  }
}
