package ai.nos.internal.manager;

import ai.nos.internal.Lease;
import ai.nos.internal.batch.DynamicBatcher;

/**
 * One copy of a model on one device: loading, ready, or gone. Its {@link Lease} counts the calls
 * running on it; eviction is {@link Lease#closeIfIdle()}, so a copy in use is never freed.
 */
final class Copy {
  enum State { LOADING, READY, GONE }

  final Entry entry;
  final Slot slot;
  /** Bytes booked on the slot: the estimate while loading, the measurement once ready. */
  long bytes;
  volatile State state = State.LOADING;
  volatile Replica replica;
  volatile Lease lease;
  volatile long lastUsed;
  /**
   * Set under the core's lock by an eviction just before it closes the lease: the copy is to be
   * parked in the host tier rather than freed (an unload, a scale-down or a retirement frees it).
   */
  volatile boolean park;
  /** The model's copy from the host tier that this booking brings back; null to load anew. */
  Parked parked;
  /** Gathers calls into batches when the spec asks for batching; null otherwise. */
  volatile DynamicBatcher batcher;
  /**
   * Set by the scaling loop under the core's lock on a copy it retires: calls go to the model's
   * other copies, so that this one falls idle and is closed at a later tick (a copy is retired
   * only when idle, and under steady traffic every copy has a call in flight at nearly every
   * tick). Cleared if the model wants the copy again first.
   */
  volatile boolean draining;
  /** The copy's trial failed (see {@link Scaler}): it drains until retired. Under the lock. */
  boolean rejected;

  Copy(Entry entry, Slot slot, long bytes) {
    this.entry = entry;
    this.slot = slot;
    this.bytes = bytes;
  }

  int inFlight() {
    Lease l = lease;
    return l == null ? 0 : l.inFlight();
  }

  /** What a call choosing a copy compares: calls in flight, a draining copy last of all. */
  int routingLoad() {
    return draining ? Integer.MAX_VALUE / 2 + inFlight() : inFlight();
  }

  boolean isIdle() {
    return isServing() && inFlight() == 0;
  }

  /** Ready and not closing (a closed lease frees the copy once its calls end). */
  boolean isServing() {
    Lease l = lease;
    return state == State.READY && l != null && !l.isClosed();
  }
}
