package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.ModelInfo;
import ai.nos.ModelSpec;
import ai.nos.ModelState;
import ai.nos.internal.batch.DynamicBatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;

/** One model in a {@link ManagerCore}: its spec, copies and figures. */
final class Entry {
  final ModelSpec spec;
  /** Read lock-free by calls choosing a copy; written under the core's lock. */
  final List<Copy> copies = new CopyOnWriteArrayList<>();
  final LongAdder requests = new LongAdder();
  final LongAdder failures = new LongAdder();
  /** Batches run by the batchers of copies already freed. */
  final LongAdder pastBatches = new LongAdder();
  final LatencyWindow latency = new LatencyWindow(1024);
  // Guarded by the core's lock:
  int handles;
  int replicas;
  long estimate;
  boolean measured;
  long loads;
  /** The steps the most recently loaded copy runs with; guarded by the core's lock. */
  List<String> optimizations = List.of();
  /** The most recently loaded copy's warm-up time and batch buckets; guarded by the lock. */
  long warmUpNanos;
  int[] buckets = new int[0];
  boolean removed;
  /** Scales the copies with traffic; null when the model has no policy. Guarded by the lock. */
  Scaler scaler;
  /** The last scaling decision that changed {@link #replicas}, with its reason; or null. */
  String lastScaling;
  /**
   * The copy the scaler is trying on a device the model already shared (see {@link Scaler}),
   * until its verdict; null if none. Guarded by the lock.
   */
  Copy trial;
  /** Whether the scaling loop has logged that no room was left for the wanted copies. */
  boolean shortLogged;
  /**
   * Loads a copy on the device placed for it instead of the backend, for what is booked like a
   * model without being one ({@link ManagedResource}); null for a model. Set before the entry is
   * published.
   */
  java.util.function.Function<ai.nos.Device, ? extends Replica> loader;
  /** Runs under the core's lock once the entry is removed; null for a model. */
  Runnable onRemoved;

  Entry(ModelSpec spec, long estimate, boolean measured) {
    this.spec = spec;
    this.replicas = spec.replicas();
    this.estimate = estimate;
    this.measured = measured;
  }

  /** A snapshot for {@link ai.nos.ModelManager#models()}; called under the core's lock. */
  ModelInfo snapshot() {
    List<Device> devices = new ArrayList<>();
    boolean loading = false;
    int inFlight = 0;
    long batches = pastBatches.sum();
    int queued = 0;
    for (Copy c : copies) {
      DynamicBatcher b = c.batcher;
      if (b != null && c.state != Copy.State.GONE) {
        var stats = b.stats();
        batches += stats.batches();
        queued += stats.queued();
      }
      if (c.state == Copy.State.READY) {
        devices.add(c.slot.info.device());
      }
      loading |= c.state == Copy.State.LOADING;
      inFlight += c.inFlight();
    }
    ModelState state = !devices.isEmpty() ? ModelState.READY
        : loading ? ModelState.LOADING : ModelState.EVICTED;
    return new ModelInfo(spec.id(), state, devices, estimate, measured, replicas, inFlight,
        requests.sum(), failures.sum(), loads, batches, queued, latency.quantileMicros(0.5),
        latency.quantileMicros(0.99), optimizations, java.time.Duration.ofNanos(warmUpNanos),
        java.util.Arrays.stream(buckets).boxed().toList(), active(),
        scaler == null ? replicas : scaler.policy().maxReplicas(),
        lastScaling == null ? "" : lastScaling);
  }

  /** Copies loading or serving: those a scaling decision counts (not those closing). */
  int active() {
    int n = 0;
    for (Copy c : copies) {
      if (c.state == Copy.State.LOADING || c.isServing()) {
        n++;
      }
    }
    return n;
  }

  /** Calls queued or running on every copy. */
  long outstanding() {
    long n = 0;
    for (Copy c : copies) {
      n += c.inFlight();
    }
    return n;
  }

  int live() {
    int n = 0;
    for (Copy c : copies) {
      if (c.state != Copy.State.GONE) {
        n++;
      }
    }
    return n;
  }
}
