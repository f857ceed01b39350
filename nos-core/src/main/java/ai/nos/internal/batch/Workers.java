package ai.nos.internal.batch;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The worker threads of a batcher: made by its thread factory, counted out as they exit, and
 * awaited by its closers. The count is guarded by the batcher's lock.
 */
final class Workers {
  private final List<Thread> threads;
  private final ReentrantLock lock;
  /** Closers wait on it for the last worker to exit. */
  private final Condition exited;
  /** Workers not counted out yet. */
  private int live;
  private boolean terminated;

  /**
   * Makes {@code n} threads running {@code work}; with more than one, each name gets its index.
   *
   * @throws IllegalStateException if the factory returns no thread
   */
  Workers(ThreadFactory factory, int n, Runnable work, ReentrantLock lock, String modelId) {
    List<Thread> made = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      Thread t = factory.newThread(work);
      if (t == null) {
        throw new IllegalStateException("the thread factory of the batcher of model '" + modelId
            + "' returned no thread");
      }
      if (n > 1) {
        t.setName(t.getName() + "-" + i);
      }
      made.add(t);
    }
    this.threads = List.copyOf(made);
    this.lock = lock;
    this.exited = lock.newCondition();
    this.live = n;
  }

  void start() {
    threads.forEach(Thread::start);
  }

  /** Whether there are none: a batcher that the caller drives. */
  boolean isEmpty() {
    return threads.isEmpty();
  }

  /** Whether the calling thread is one of the workers. */
  boolean isCurrent() {
    return threads.contains(Thread.currentThread());
  }

  /** Counts the calling worker out; returns whether it was the last. Call holding the lock. */
  boolean leave() {
    return --live == 0;
  }

  /** Lets the closers go, once the last worker is done. */
  void terminate() {
    lock.lock();
    try {
      terminated = true;
      exited.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until the last worker is done, at most {@code budget} nanoseconds after {@code start}
   * on {@link System#nanoTime}; returns whether the wait was interrupted.
   */
  boolean await(long start, long budget) {
    lock.lock();
    try {
      while (!terminated) {
        long left = budget - (System.nanoTime() - start);
        if (left <= 0) {
          return false;
        }
        exited.awaitNanos(left);
      }
      return false;
    } catch (InterruptedException e) {
      return true;
    } finally {
      lock.unlock();
    }
  }
}
