package ai.nos;

import ai.nos.internal.files.CacheRoot;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What NOS shares across a process: where its caches live and who makes its threads. Builders take
 * one ({@link ModelManager.Builder#runtime}); everything else uses {@link #defaultRuntime()}.
 *
 * <pre>{@code
 * NosRuntime runtime = NosRuntime.builder()
 *     .cacheRoot(Path.of("/var/cache/myapp/nos"))
 *     .threadFactory(myFactory)
 *     .build();
 * NosRuntime.setDefault(runtime);   // optional: also for Nos.load and the process-wide pools
 * try (ModelManager manager = ModelManager.builder().runtime(runtime).build()) { ... }
 * }</pre>
 *
 * <h2>Folders</h2>
 * One rule for every cache: the builder's {@link Builder#cacheRoot}, else
 * {@code $XDG_CACHE_HOME/nos} when that variable holds an absolute path (as the XDG spec asks),
 * else {@code ~/.cache/nos}. Under it: {@code footprints.json} (measured model sizes),
 * {@code blobs/}, {@code tmp/}, {@code locks/}, {@code meta/} (nos-hub's downloads),
 * {@code optim/} (nos-optim's artifacts) and {@code aoti/} (extracted AOTInductor packages; the
 * documented property {@code nos.aoti.dir} still overrides that one folder).
 *
 * <h2>Threads</h2>
 * With a {@link Builder#threadFactory}, every thread NOS starts for this runtime comes from it:
 * a manager's batch workers and callback threads, its loader thread per GPU, the threads of a
 * text generator booked with the manager (its scheduler, callback pool and delivery fallback),
 * and, for the default runtime, the process-wide copy pool and the cleaner that unpins
 * {@link PinnedBuffer}s. Without one, NOS makes daemon threads named {@code nos-<kind>-N}. The
 * exception is the CUDA-graph recording thread of each GPU, NOS's own daemon for the JVM's life.
 *
 * <h2>libtorch's process-wide settings</h2>
 * libtorch keeps one global context per process; the first NOS call that needs libtorch loads it
 * once and sets there, and never again: TF32 off for cuDNN and cuBLAS (fp32 stays fp32), NNPACK
 * off (it floods stderr on CPUs where it cannot start), and JavaCPP's per-allocation RSS check off
 * ({@code org.bytedeco.javacpp.maxPhysicalBytes=0}) unless the application set that property.
 * These are global by nature: they hold for every user of libtorch in the JVM, whichever runtime
 * loaded it.
 *
 * <p>Immutable and thread-safe.
 */
public final class NosRuntime {
  private static final Object LOCK = new Object();
  private static NosRuntime defaultRuntime;

  private final Path cacheRoot;
  private final ThreadFactory threadFactory;

  private NosRuntime(Path cacheRoot, ThreadFactory threadFactory) {
    this.cacheRoot = cacheRoot;
    this.threadFactory = threadFactory;
  }

  /** A builder: the default cache root and NOS's own daemon threads. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The runtime of {@link Nos#load}, {@link ModelManager#getDefault()}, builders given none, and
   * the process-wide pools: the one passed to {@link #setDefault}, else default settings.
   */
  public static NosRuntime defaultRuntime() {
    synchronized (LOCK) {
      if (defaultRuntime == null) {
        defaultRuntime = builder().build();
      }
      return defaultRuntime;
    }
  }

  /**
   * Makes {@code runtime} the default. Call it once, before NOS's first use.
   *
   * @throws IllegalArgumentException if {@code runtime} is null
   * @throws IllegalStateException if the default was already set or already used
   */
  public static void setDefault(NosRuntime runtime) {
    if (runtime == null) {
      throw new IllegalArgumentException("runtime must not be null");
    }
    synchronized (LOCK) {
      if (defaultRuntime != null) {
        throw new IllegalStateException("the default runtime was already set or in use ("
            + defaultRuntime + "); set it before NOS's first use");
      }
      defaultRuntime = runtime;
    }
  }

  /** The folder every NOS cache lives under (see the class comment). */
  public Path cacheRoot() {
    return cacheRoot;
  }

  /** The application's factory of NOS threads; empty when NOS makes its own daemon threads. */
  public Optional<ThreadFactory> threadFactory() {
    return Optional.ofNullable(threadFactory);
  }

  /**
   * A factory of this runtime's threads of one kind: the application's, or daemon threads named
   * {@code prefix + N}. For NOS's own pools.
   */
  public ThreadFactory threads(String prefix) {
    if (threadFactory != null) {
      return threadFactory;
    }
    AtomicInteger n = new AtomicInteger();
    return task -> {
      Thread t = new Thread(task, prefix + n.getAndIncrement());
      t.setDaemon(true);
      return t;
    };
  }

  @Override
  public String toString() {
    return "NosRuntime(cacheRoot=" + cacheRoot + ", threads="
        + (threadFactory != null ? "application's" : "NOS daemon threads") + ")";
  }

  /**
   * Settings of a {@link NosRuntime}; a setting made twice keeps the last value, a null argument
   * is a {@link NullPointerException} naming it (see docs/api-conventions.md). Not thread-safe;
   * {@link #build()} leaves it reusable.
   */
  public static final class Builder {
    private Path cacheRoot;
    private ThreadFactory threadFactory;

    private Builder() {}

    /**
     * The folder every cache lives under; default {@code $XDG_CACHE_HOME/nos} (absolute only),
     * else {@code ~/.cache/nos}. Created when a cache first writes there.
     *
     * @throws NullPointerException if {@code root} is null
     * @throws IllegalArgumentException if {@code root} is relative
     */
    public Builder cacheRoot(Path root) {
      Objects.requireNonNull(root, "cacheRoot must not be null");
      if (!root.isAbsolute()) {
        throw new IllegalArgumentException("cacheRoot must be an absolute path but was " + root);
      }
      this.cacheRoot = root.normalize();
      return this;
    }

    /**
     * Makes every thread NOS starts for this runtime (see the class comment). NOS names a thread
     * only while it runs a model's batches and gives its name back after.
     *
     * @throws NullPointerException if {@code factory} is null
     */
    public Builder threadFactory(ThreadFactory factory) {
      Objects.requireNonNull(factory, "threadFactory must not be null");
      this.threadFactory = factory;
      return this;
    }

    public NosRuntime build() {
      return new NosRuntime(cacheRoot != null ? cacheRoot
          : CacheRoot.of(System.getenv(), System.getProperty("user.home")), threadFactory);
    }
  }
}
