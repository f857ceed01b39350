package ai.nos.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TimeZone;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Context;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.StringOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * What a library may leave behind in the process it runs in, read in a child JVM so that no
 * other test's doing is seen: the harness of the "no process-global side effects" checks
 * (README, Versions and process-wide settings). A probe prints its findings as lines
 * {@code <tag> <key>=<value>}; {@link #run} starts it and times how long the JVM takes to end
 * after the probe's {@code main} returned, without {@code System.exit}.
 */
public final class ProcessState {
  /** The last line a probe's main prints before it returns. */
  public static final String DONE = "process-state-done";

  /** Native environment variables libtorch, OpenMP, MKL or DJL read or could set. */
  private static final List<String> NATIVE_ENV = List.of("OMP_NUM_THREADS", "MKL_NUM_THREADS",
      "OMP_WAIT_POLICY", "OMP_PROC_BIND", "KMP_AFFINITY", "KMP_BLOCKTIME",
      "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK", "MKL_DYNAMIC", "TORCH_CPP_LOG_LEVEL",
      "PYTORCH_NO_CUDA_MEMORY_CACHING", "PYTORCH_CUDA_ALLOC_CONF", "CUDA_VISIBLE_DEVICES",
      "CUDA_MODULE_LOADING", "CUBLAS_WORKSPACE_CONFIG", "RUST_FLAVOR", "OPT_OUT_TRACKING",
      "TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS", "LD_LIBRARY_PATH", "DJL_CACHE_DIR");

  private ProcessState() {}

  /**
   * The JVM-wide Java state: every system property, the default locale (and its categories),
   * time zone, the default uncaught exception handler, the
   * security manager and the registered shutdown hooks (the probe JVM opens java.lang for it).
   */
  public static Map<String, String> java() {
    Map<String, String> s = new TreeMap<>();
    // The JDK sets user.timezone at the first TimeZone.getDefault(): read the zone first.
    s.put("time zone", TimeZone.getDefault().getID());
    System.getProperties().stringPropertyNames()
        .forEach(k -> s.put("property " + k, System.getProperty(k)));
    s.put("locale", Locale.getDefault().toLanguageTag());
    for (Locale.Category c : Locale.Category.values()) {
      s.put("locale " + c, Locale.getDefault(c).toLanguageTag());
    }
    s.put("uncaught exception handler", describe(Thread.getDefaultUncaughtExceptionHandler()));
    s.put("security manager", describe(securityManager()));
    s.put("shutdown hooks", shutdownHooks());
    return s;
  }

  @SuppressWarnings("removal")
  private static Object securityManager() {
    return System.getSecurityManager();
  }

  private static String describe(Object o) {
    return o == null ? "none" : o.getClass().getName();
  }

  /** The application shutdown hooks' thread names and classes, sorted. */
  private static String shutdownHooks() {
    try {
      Field f = Class.forName("java.lang.ApplicationShutdownHooks").getDeclaredField("hooks");
      f.setAccessible(true);
      Map<?, ?> hooks = (Map<?, ?>) f.get(null);
      synchronized (Class.forName("java.lang.ApplicationShutdownHooks")) {
        TreeSet<String> names = new TreeSet<>();
        if (hooks != null) {
          for (Object t : hooks.keySet()) {
            names.add(((Thread) t).getName() + ":" + t.getClass().getName());
          }
        }
        return names.toString();
      }
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new IllegalStateException("cannot read the shutdown hooks (the probe JVM needs"
          + " --add-opens java.base/java.lang=ALL-UNNAMED)", e);
    }
  }

  /**
   * libtorch's process-wide settings (its global context, thread pools, default dtype) and the
   * calling thread's grad and inference modes and CPU autocast. Loads libtorch.
   */
  public static Map<String, String> torch() {
    Map<String, String> s = new TreeMap<>();
    Context c = torch.globalContext();
    s.put("userEnabledCuDNN", "" + c.userEnabledCuDNN());
    s.put("userEnabledMkldnn", "" + c.userEnabledMkldnn());
    s.put("benchmarkCuDNN", "" + c.benchmarkCuDNN());
    s.put("benchmarkLimitCuDNN", "" + c.benchmarkLimitCuDNN());
    s.put("deterministicCuDNN", "" + c.deterministicCuDNN());
    s.put("deterministicMkldnn", "" + c.deterministicMkldnn());
    s.put("deterministicAlgorithms", "" + c.deterministicAlgorithms());
    s.put("deterministicFillUninitializedMemory", "" + c.deterministicFillUninitializedMemory());
    s.put("userEnabledNNPACK", "" + c.userEnabledNNPACK());
    s.put("userEnabledFlashSDP", "" + c.userEnabledFlashSDP());
    s.put("userEnabledMemEfficientSDP", "" + c.userEnabledMemEfficientSDP());
    s.put("userEnabledMathSDP", "" + c.userEnabledMathSDP());
    s.put("userEnabledCuDNNSDP", "" + c.userEnabledCuDNNSDP());
    s.put("allowTF32CuDNN", "" + c.allowTF32CuDNN());
    s.put("allowTF32OneDNN", "" + c.allowTF32OneDNN());
    s.put("allowTF32CuBLAS", "" + c.allowTF32CuBLAS());
    s.put("allowFP16ReductionCPU", "" + c.allowFP16ReductionCPU());
    s.put("float32MatmulPrecision", "" + c.float32MatmulPrecision());
    s.put("qEngine", "" + c.qEngine());
    s.put("releaseWeightsWhenPrepacking", "" + c.releaseWeightsWhenPrepacking());
    s.put("checkSparseTensorInvariants", "" + c.checkSparseTensorInvariants());
    s.put("num_threads", "" + torch.get_num_threads());
    s.put("num_interop_threads", "" + torch.get_num_interop_threads());
    s.put("default dtype", torch.get_default_dtype().name().getString());
    s.put("grad mode (calling thread)", "" + GradMode.is_enabled());
    s.put("inference mode (calling thread)", "" + InferenceMode.is_enabled());
    s.put("cpu autocast (calling thread)", "" + torch.is_autocast_enabled(torch.DeviceType.CPU));
    return s;
  }

  /**
   * The native environment variables of {@link #NATIVE_ENV} (and every one Java saw at start)
   * whose native value, read with libtorch's getenv, differs from the one the JVM started with.
   * Loads libtorch.
   */
  public static List<String> nativeEnvChanges() {
    TreeSet<String> keys = new TreeSet<>(NATIVE_ENV);
    keys.addAll(System.getenv().keySet());
    List<String> changed = new ArrayList<>();
    for (String k : keys) {
      StringOptional v = torch.get_env(k);
      String now = v.has_value() ? v.get().getString() : null;
      if (!Objects.equals(now, System.getenv(k))) {
        changed.add(k + ": " + System.getenv(k) + " -> " + now);
      }
    }
    return changed;
  }

  /** The live non-daemon threads other than the caller, by name. */
  public static List<String> nonDaemonThreads() {
    List<String> names = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (!t.isDaemon() && t != Thread.currentThread() && t.isAlive()) {
        names.add(t.getName());
      }
    }
    return names;
  }

  /** What changed from {@code before} to {@code after}: one line a key. */
  public static List<String> changes(Map<String, String> before, Map<String, String> after) {
    TreeSet<String> keys = new TreeSet<>(before.keySet());
    keys.addAll(after.keySet());
    List<String> out = new ArrayList<>();
    for (String k : keys) {
      if (!Objects.equals(before.get(k), after.get(k))) {
        out.add(k + ": " + before.get(k) + " -> " + after.get(k));
      }
    }
    return out;
  }

  /** Prints {@code map} as lines {@code tag key=value}. */
  public static void print(String tag, Map<String, String> map) {
    map.forEach((k, v) -> System.out.println(tag + " " + k + "=" + v));
  }

  /** Prints {@code lines} as lines {@code tag line}. */
  public static void print(String tag, List<String> lines) {
    lines.forEach(l -> System.out.println(tag + " " + l));
  }

  /**
   * A probe's report, once its work is done and closed: the Java state changed since
   * {@code before} ({@link #java()} taken first), libtorch's global state, the native environment's
   * changes, the non-daemon threads left, then {@link #DONE}.
   */
  public static void report(Map<String, String> before) {
    print("java", changes(before, java()));
    print("torch", torch());
    print("env", nativeEnvChanges());
    print("thread", nonDaemonThreads());
    System.out.println(DONE);
  }

  /** A probe's lines of one tag, the tag cut off. */
  public static List<String> lines(String out, String tag) {
    List<String> found = new ArrayList<>();
    for (String line : out.split("\n")) {
      if (line.startsWith(tag + " ")) {
        found.add(line.substring(tag.length() + 1));
      }
    }
    return found;
  }

  /**
   * The command line of a fresh JVM, this JVM's {@code java} on its class path, that runs
   * {@code probe}'s main: {@code flags}, then the class, then {@code args}.
   */
  public static List<String> javaCommand(List<String> flags, Class<?> probe, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(flags);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(probe.getName());
    cmd.addAll(List.of(args));
    return cmd;
  }

  /**
   * Runs {@code probe}'s main in a fresh JVM on this JVM's class path and returns its standard
   * output; fails unless it prints {@link #DONE}, exits 0, and ends within {@code exitSeconds}
   * of printing it (its main returns: a non-daemon thread left running would keep it alive).
   */
  public static String run(Class<?> probe, double exitSeconds, String... args)
      throws IOException, InterruptedException {
    List<String> cmd = javaCommand(List.of("-Xmx512m",
        "--add-opens=java.base/java.lang=ALL-UNNAMED"), probe, args);
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    StringBuilder out = new StringBuilder();
    long doneAt = 0;
    try (var in = new java.io.BufferedReader(
        new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; ) {
        out.append(line).append('\n');
        if (line.equals(DONE)) {
          doneAt = System.nanoTime();
        }
      }
    }
    boolean ended = p.waitFor(120, TimeUnit.SECONDS);
    long endedAt = System.nanoTime();
    if (!ended) {
      p.destroyForcibly();
    }
    String tail = out.substring(Math.max(0, out.length() - 3000));
    assertTrue(ended, "the probe JVM did not end; its output ends: " + tail);
    assertEquals(0, p.exitValue(), "the probe JVM failed; its output ends: " + tail);
    assertTrue(doneAt != 0, "the probe did not finish; its output ends: " + tail);
    double seconds = (endedAt - doneAt) / 1e9;
    assertTrue(seconds < exitSeconds, String.format(Locale.ROOT, "the probe JVM took %.1f s to"
        + " end after its main returned (a non-daemon thread or a slow shutdown hook?)",
        seconds));
    return out.toString();
  }
}
