package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.ModelSpec;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * Something a {@link ManagerCore} books like a model without serving tensor calls: a token
 * generator, whose replica is its engine (weights plus key/value cache). The core places its
 * copy, counts its bytes on the device, evicts it when idle (least recently used, as any copy) and
 * frees it when unloaded; the owner loads each copy ({@code loader}) and runs its own requests on
 * it.
 *
 * <h2>Holding a copy</h2>
 * A request holds one reference on the copy's {@link ai.nos.internal.Lease} from {@link #acquire}
 * until {@link Held#release}, as a model's call does (the core's {@link Router} picks and loads
 * the copy): an eviction is {@link ai.nos.internal.Lease#closeIfIdle()}, so a copy with any
 * request held is never evicted, and one closed while held (an unload, the manager's close) is
 * freed by its last release. {@link #acquire} loads a copy when none is serving (on the calling
 * thread, waiting for room up to the load timeout), so a request after an eviction reloads.
 *
 * <p>Thread-safe; no lock of its own. {@code acquire} and {@code release} take the core's lock only
 * through the router (to book or wait for a copy, to wake threads waiting for room).
 */
public final class ManagedResource<R extends Replica> implements AutoCloseable {
  private final ManagerCore core;
  private final Entry entry;
  private final Class<R> type;
  private final AtomicBoolean closed = new AtomicBoolean();

  private ManagedResource(ManagerCore core, Entry entry, Class<R> type) {
    this.core = core;
    this.entry = entry;
    this.type = type;
  }

  /**
   * Registers {@code spec} (its id, device preference, artifact and precision) and loads its first
   * copy with {@code loader}; see {@link ManagerCore#openLoaded}.
   */
  public static <R extends Replica> ManagedResource<R> open(ManagerCore core, ModelSpec spec,
      Class<R> type, Function<Device, R> loader, Runnable onRemoved) {
    return new ManagedResource<>(core, core.openLoaded(spec, loader, onRemoved), type);
  }

  /**
   * A serving copy with a reference held for the caller, loading one first if none serves.
   *
   * @throws IllegalStateException if the resource was unloaded or the manager is closed
   * @throws RuntimeException what the loader threw, or a {@link ai.nos.NosException} if no room
   *     was made within the load timeout
   */
  public Held<R> acquire() {
    return acquire(Long.MAX_VALUE);
  }

  /**
   * As {@link #acquire()}, waiting for room at most {@code maxWaitNanos} (a request's deadline)
   * when that is shorter than the load timeout.
   */
  public Held<R> acquire(long maxWaitNanos) {
    long deadline = core.clock.getAsLong() + Math.min(core.loadTimeoutNanos, maxWaitNanos);
    Copy copy = core.router.acquire(entry);
    while (copy == null) {
      copy = core.router.ensureCopy(entry, deadline);
      if (copy == null) {
        copy = core.router.acquire(entry);
      }
    }
    return new Held<>(this, copy);
  }

  /** Drops the handle: the resource is unloaded (its copies freed once released). Idempotent. */
  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      core.release(entry);
    }
  }

  /**
   * One request on a serving copy: a reference on the copy, given back by {@link #release}, and
   * the request's count, taken by {@link #count}. The two are apart so that a request whose work
   * on the copy is over (a generation's sequence has left the engine) frees the copy for eviction
   * while its result is still being handed to a slow consumer, and is counted only once settled.
   * Each runs once; later calls do nothing.
   */
  public static final class Held<R extends Replica> {
    private final ManagedResource<R> owner;
    private final Copy copy;
    private final AtomicBoolean released = new AtomicBoolean();
    private final AtomicBoolean counted = new AtomicBoolean();

    private Held(ManagedResource<R> owner, Copy copy) {
      this.owner = owner;
      this.copy = copy;
    }

    public R replica() {
      return owner.type.cast(copy.replica);
    }

    /** Counts one request: a failure unless {@code failure} is null or a cancellation. */
    public void count(Throwable failure) {
      if (counted.compareAndSet(false, true)) {
        owner.entry.requests.increment();
        if (failure != null && !(failure instanceof CancellationException)) {
          owner.entry.failures.increment();
        }
      }
    }

    /**
     * Gives the reference back: the copy may be evicted from then on, and one closed while held
     * is freed here (on this thread).
     */
    public void release() {
      if (released.compareAndSet(false, true)) {
        owner.core.router.done(copy);
      }
    }
  }
}
