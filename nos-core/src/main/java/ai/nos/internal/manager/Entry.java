package ai.nos.internal.manager;

import ai.nos.ModelSpec;
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
  boolean removed;

  Entry(ModelSpec spec, long estimate, boolean measured) {
    this.spec = spec;
    this.replicas = spec.replicas();
    this.estimate = estimate;
    this.measured = measured;
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
