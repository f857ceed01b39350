package ai.nos.internal.manager;

import ai.nos.ModelSpec;
import ai.nos.ScalingPolicy;
import ai.nos.internal.Lease;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scaling loop of a {@link ManagerCore} and its decisions (the core's essay, "Scaling with
 * traffic", says what they are): the default policy, the loop's thread, and each tick, which
 * turns every scaled model's {@link Scaler} signals into a wanted count, retires idle copies
 * above it and loads copies up to it, most pressed model first, one copy per model per round.
 *
 * <h2>Trials and retirements</h2>
 * It tells each scaler how many copies the model has room for ({@link #room}: one per device it
 * is not on, else one on a device it shares and that is not backed off) and which copy is on
 * trial: a copy booked on a device that already held one of the model's copies ({@link
 * Entry#trial}); no other copy is booked for the model until the scaler's verdict. A rejected
 * copy ({@link Copy#rejected}) is the one retired, not another. Retiring marks copies {@link
 * Copy#draining}: calls choose them last, so they fall idle even under steady traffic (the
 * 2026-12-03 GPU run, which only closed copies found idle at a tick, took 15 s to retire the
 * first of three with four clients on four copies), and each is closed by {@link
 * ai.nos.internal.Lease#closeIfIdle()} at the first tick that finds it idle: never with a call
 * queued or running. A drained copy the model wants again is cleared and serves on.
 *
 * <h2>Locking</h2>
 * It has no lock of its own: its state and the books it reads are guarded by the core's one lock
 * ({@link ManagerCore#lock}). {@link #configure}, {@link #startLoopIfNeeded}, {@link
 * #interruptLoop} and {@link #retireIdle} are called with that lock held; {@link #tick} is called
 * without it and takes it itself, once for the decisions and once per copy it books ({@link
 * Books#place}), and loads each copy ({@link ManagerCore#load}) outside it, on the calling thread.
 * Lock order: the core's lock is the outermost; see the core's essay, "Locks and their order".
 */
final class Autoscaler {
  /** The core's logger: the scaling lines keep the category they always had. */
  private static final Logger LOG = LoggerFactory.getLogger(ManagerCore.class);

  private final ManagerCore core;
  /** Scaling for specs without a policy of their own; null for none. Guarded by core.lock. */
  private ScalingPolicy defaultPolicy;
  /** How often the loop ticks; zero: only when {@link ManagerCore#autoscale} is called. */
  private long intervalNanos = TimeUnit.SECONDS.toNanos(1);
  /** The loop's thread; started with the first model with a policy. Guarded by core.lock. */
  private Thread thread;

  Autoscaler(ManagerCore core) {
    this.core = core;
  }

  /** Sets the default policy and the loop's interval; under the core's lock. */
  void configure(ScalingPolicy defaultPolicy, long intervalNanos) {
    this.defaultPolicy = defaultPolicy;
    this.intervalNanos = intervalNanos;
  }

  /** The spec's own policy, else the default; null for none. */
  ScalingPolicy policyFor(ModelSpec spec) {
    return spec.scaling().orElse(defaultPolicy);
  }

  /** Starts the loop unless it runs or has no interval; under the core's lock. */
  void startLoopIfNeeded() {
    if (thread == null && intervalNanos > 0) {
      startLoop();
    }
  }

  /** Stops the loop at close; under the core's lock. */
  void interruptLoop() {
    if (thread != null) {
      thread.interrupt();
    }
  }

  /** One tick; see {@link ManagerCore#autoscale}. Called without the core's lock. */
  void tick() {
    long now = core.clock.getAsLong();
    List<Entry> up = new ArrayList<>();
    Map<Entry, Double> pressure = new HashMap<>();
    Map<Entry, Long> outstandingNow = new HashMap<>();
    core.lock.lock();
    try {
      if (core.closed) {
        return;
      }
      for (Entry e : core.models.values()) {
        if (e.scaler == null || e.removed) {
          continue;
        }
        int live = e.active();
        // Copies being retired do not count: the model does not want them (see Copy#draining).
        int current = live - draining(e);
        long outstanding = e.outstanding();
        Scaler.Decision d = e.scaler.tick(new Scaler.Signals(now, current, outstanding,
            e.latency.quantileMicros(0.99), e.requests.sum()), trialCopy(e.trial),
            room(e, now, outstanding));
        if (d.verdict() != Scaler.Verdict.NONE || !e.scaler.inTrial()) {
          if (d.verdict() == Scaler.Verdict.RETIRE && e.trial != null) {
            // This copy goes, not another: it is the one that did not help.
            e.trial.rejected = true;
          }
          e.trial = null;
        }
        if (live == 0) {
          // Evicted: its next call loads it (see "Scaling with traffic").
          continue;
        }
        if (d.verdict() == Scaler.Verdict.KEEP) {
          e.lastScaling = d.reason();
          LOG.info("model '{}' {}", e.spec.id(), d.reason());
        }
        if (d.wanted() != e.replicas) {
          String what = (d.wanted() > e.replicas ? "up " : "down ") + e.replicas + " -> "
              + d.wanted() + ": " + d.reason();
          e.lastScaling = what;
          e.shortLogged = false;
          LOG.info("model '{}' scaled {}", e.spec.id(), what);
          e.replicas = d.wanted();
        }
        retireIdle(e, Math.max(0, live - e.replicas));
        if (live - draining(e) < e.replicas) {
          up.add(e);
          pressure.put(e, outstanding / (double) live);
          outstandingNow.put(e, outstanding);
        }
      }
    } finally {
      core.lock.unlock();
    }
    up.sort(Comparator.comparingDouble((Entry e) -> -pressure.get(e)));
    for (boolean loaded = true; loaded; ) {
      loaded = false;
      for (Entry e : up) {
        Copy copy;
        core.lock.lock();
        try {
          // A copy on trial is measured alone: none is added until its verdict.
          if (core.closed || e.removed || e.active() == 0
              || e.active() - draining(e) >= e.replicas || e.trial != null) {
            continue;
          }
          long outstanding = outstandingNow.get(e);
          copy = core.books.place(e, true,
              s -> e.scaler.mayShare(s.info.device(), now, outstanding));
          if (copy == null) {
            if (!e.shortLogged) {
              e.shortLogged = true;
              LOG.info("model '{}' wants {} copies but has {}: no room for another without"
                  + " evicting a busy copy or one at its minReplicas: {}", e.spec.id(),
                  e.replicas, e.active(), Devices.describe(core.devices.allowed(e.spec)));
            }
            continue;
          }
          if (sharesSlot(copy)) {
            e.trial = copy;
            e.scaler.trialBooked(copy.slot.info.device(), e.active() - draining(e) - 1);
          }
        } finally {
          core.lock.unlock();
        }
        try {
          core.load(copy, false);
          loaded = true;
        } catch (RuntimeException e2) {
          LOG.warn("model '{}': a scale-up copy on {} failed to load: {}", e.spec.id(),
              copy.slot.info.device(), e2.toString());
        }
      }
    }
  }

  /**
   * How many copies a model may get now (see {@link Scaler}, "Copies that share a device are
   * trials"): one per device it may use and is not on; else one on a device it is on, if it may
   * share devices and one of them is not backed off; else none. Under the core's lock.
   */
  private int room(Entry e, long now, long outstanding) {
    int free = 0;
    boolean share = false;
    for (Slot s : core.devices.allowed(e.spec)) {
      if (!s.hosts(e)) {
        free++;
      } else if (Books.sharesDevices(e) && e.scaler.mayShare(s.info.device(), now, outstanding)) {
        share = true;
      }
    }
    return free > 0 ? free : share ? 1 : 0;
  }

  /** Whether a copy just booked shares its device with another copy of its model. */
  private static boolean sharesSlot(Copy copy) {
    for (Copy c : copy.entry.copies) {
      if (c != copy && c.slot == copy.slot && c.state != Copy.State.GONE) {
        return true;
      }
    }
    return false;
  }

  /** The state of a model's copy on trial, for its scaler; null if none. */
  private static Scaler.TrialCopy trialCopy(Copy c) {
    if (c == null) {
      return null;
    }
    if (c.state == Copy.State.LOADING) {
      return Scaler.TrialCopy.LOADING;
    }
    return c.isServing() ? Scaler.TrialCopy.SERVING : Scaler.TrialCopy.GONE;
  }

  private static int draining(Entry e) {
    int n = 0;
    for (Copy c : e.copies) {
      if (c.draining && c.isServing()) {
        n++;
      }
    }
    return n;
  }

  /**
   * Retires at least {@code n} of a model's serving copies, and every copy whose trial failed,
   * each only when idle: marks them draining (rejected copies first, then those already
   * draining, then the fewest calls in flight, then the least recently used), so that calls go
   * to the others, and closes those idle now; a busy one is closed at a later tick, once its
   * calls end. Clears the mark on the rest, which the model wants again. Under the core's lock.
   */
  void retireIdle(Entry entry, int n) {
    List<Copy> serving = new ArrayList<>();
    for (Copy c : entry.copies) {
      if (c.isServing()) {
        serving.add(c);
      }
    }
    serving.sort(Comparator.comparing((Copy c) -> !c.rejected)
        .thenComparing(c -> !c.draining)
        .thenComparingInt(Copy::inFlight).thenComparingLong(c -> c.lastUsed));
    for (int i = 0; i < serving.size(); i++) {
      Copy c = serving.get(i);
      c.draining = c.rejected || i < n;
      if (!c.draining) {
        continue;
      }
      Lease l = c.lease;
      c.park = false;
      // Atomic from "no calls" to "closed": a call that took the copy first keeps it.
      if (l != null && l.closeIfIdle()) {
        LOG.info("model '{}': retired its idle copy on {}", entry.spec.id(),
            c.slot.info.device());
      }
    }
  }

  private void startLoop() {
    long interval = intervalNanos;
    Runnable loop = () -> {
      // Stops on close's interrupt, or at the first look after close should a load on this
      // thread have swallowed the interrupt: a factory's non-daemon thread must not outlive it.
      while (!Thread.currentThread().isInterrupted() && !core.isClosed()) {
        try {
          TimeUnit.NANOSECONDS.sleep(interval);
        } catch (InterruptedException e) {
          return;
        }
        try {
          tick();
        } catch (RuntimeException e) {
          // The loop outlives a bad tick: the next one sees the books afresh.
          LOG.warn("model manager: a scaling tick failed: {}", e.toString());
        } catch (Error e) {
          LOG.error("model manager: the scaling loop stops; models keep the copies they have", e);
          throw e;
        }
      }
    };
    Thread t = core.threadFactory != null ? core.threadFactory.newThread(loop) : new Thread(loop);
    if (t == null) {
      LOG.warn("model manager: the thread factory gave no thread for the scaling loop; models"
          + " keep the copies they have");
      return;
    }
    if (core.threadFactory == null) {
      t.setName("nos-scaler");
      t.setDaemon(true);
    }
    thread = t;
    t.start();
  }
}
