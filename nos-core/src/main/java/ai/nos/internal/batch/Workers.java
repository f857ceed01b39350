package ai.nos.internal.batch;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The workers of a batcher: threads made by its thread factory, or tasks on an executor's threads
 * (named for the batcher while they run it, given back when it closes); counted out as they
 * exit, and awaited by its closers. The count is guarded by the batcher's lock.
 */
final class Workers {
  /** Factory mode: the threads made up front; empty in executor mode. */
  private final List<Thread> threads;
  /** Executor mode: where the worker tasks run; null in factory mode. */
  private final Executor executor;
  private final String name;
  private final int count;
  private final Runnable work;
  private final String modelId;
  /** Executor mode: the threads running a worker task now. */
  private final Set<Thread> running = ConcurrentHashMap.newKeySet();
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
    this(threads(factory, n, work, modelId), null, null, n, work, lock, modelId);
  }

  private static List<Thread> threads(ThreadFactory factory, int n, Runnable work,
      String modelId) {
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
    return List.copyOf(made);
  }

  /**
   * {@code n} workers to run as tasks on {@code executor} once started, each named {@code name}
   * (with its index when more than one) while it runs.
   */
  Workers(Executor executor, String name, int n, Runnable work, ReentrantLock lock,
      String modelId) {
    this(List.of(), executor, name, n, work, lock, modelId);
  }

  private Workers(List<Thread> threads, Executor executor, String name, int n, Runnable work,
      ReentrantLock lock, String modelId) {
    this.threads = threads;
    this.executor = executor;
    this.name = name;
    this.count = n;
    this.work = work;
    this.modelId = modelId;
    this.lock = lock;
    this.exited = lock.newCondition();
    this.live = n;
  }

  /**
   * Starts the workers.
   *
   * @throws IllegalStateException if the executor refuses one; those it took are running, and
   *     the ones it refused are counted out
   */
  void start() {
    if (executor == null) {
      threads.forEach(Thread::start);
      return;
    }
    for (int i = 0; i < count; i++) {
      String own = count > 1 ? name + "-" + i : name;
      try {
        executor.execute(() -> {
          Thread t = Thread.currentThread();
          String old = t.getName();
          t.setName(own);
          running.add(t);
          try {
            work.run();
          } finally {
            running.remove(t);
            t.setName(old);
          }
        });
      } catch (RuntimeException e) {
        boolean last;
        lock.lock();
        try {
          live -= count - i;
          last = live == 0;
        } finally {
          lock.unlock();
        }
        if (last) {
          terminate();
        }
        throw new IllegalStateException("the executor of the batcher of model '" + modelId
            + "' refused worker " + i + " of " + count + ": " + e, e);
      }
    }
  }

  /** Whether there are none: a batcher that the caller drives. */
  boolean isEmpty() {
    return count == 0;
  }

  /** Whether the calling thread is one of the workers. */
  boolean isCurrent() {
    Thread me = Thread.currentThread();
    return executor == null ? threads.contains(me) : running.contains(me);
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
