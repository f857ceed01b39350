package ai.nos.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reference count that lets a native resource be closed while calls are still using it.
 *
 * <p>Each call {@link #tryAcquire()}s before touching the resource and {@link #release()}s after.
 * {@link #close()} refuses new acquisitions at once; the {@code onFree} action runs exactly once,
 * on the thread that drops the count to zero after close (the closing thread if nothing was in
 * flight, else the last caller to finish). Lock-free: one CAS per acquire and release.
 */
public final class Lease {
  private static final int CLOSED = 1 << 30;
  private static final int FREED = 1 << 29;

  private final AtomicInteger state = new AtomicInteger();
  private final Runnable onFree;

  public Lease(Runnable onFree) {
    this.onFree = onFree;
  }

  /** Takes a reference; false once closed. */
  public boolean tryAcquire() {
    for (;;) {
      int s = state.get();
      if ((s & CLOSED) != 0) {
        return false;
      }
      if (state.compareAndSet(s, s + 1)) {
        return true;
      }
    }
  }

  /** Drops a reference taken by {@link #tryAcquire()}. */
  public void release() {
    int s = state.decrementAndGet();
    if (s == CLOSED) {
      free();
    }
  }

  /** Refuses new references; frees now if none are held. Returns false if already closed. */
  public boolean close() {
    int before = state.getAndUpdate(s -> s | CLOSED);
    if ((before & CLOSED) != 0) {
      return false;
    }
    if (before == 0) {
      free();
    }
    return true;
  }

  /**
   * Closes and frees only if no reference is held: the atomic step that lets a manager evict a
   * model without ever freeing one that a call is using. Returns false if a call holds a reference
   * or the lease was already closed.
   */
  public boolean closeIfIdle() {
    if (state.compareAndSet(0, CLOSED)) {
      free();
      return true;
    }
    return false;
  }

  /** Whether {@link #close()} was called. */
  public boolean isClosed() {
    return (state.get() & CLOSED) != 0;
  }

  /** References held now (calls in flight). */
  public int inFlight() {
    return state.get() & (FREED - 1);
  }

  private void free() {
    if (state.compareAndSet(CLOSED, CLOSED | FREED)) {
      onFree.run();
    }
  }
}
