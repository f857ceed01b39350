package ai.nos.internal;

import java.nio.ByteBuffer;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * Large host copies split over a few threads: assembling a batch of 256 images (154 MB in fp32)
 * takes one thread about 15 ms, long enough to leave a GPU idle between batches. One thread does
 * not fill a server's memory bandwidth: on the H200 machine's 16 cores torch's own copy of those
 * 154 MB took 28.7 ms on 1 thread, 5.96 ms on 8 and 2.73 ms on 16 (scripts/gpu/copy_probe.py),
 * hence up to 16 parts.
 *
 * <p>Runs on a pool of its own (daemon threads named {@code nos-copy-N}, at most 16 or the number
 * of processors, ending after 10 s idle; process-wide, not owned by a manager, so made by the
 * default runtime's thread factory when it has one), never on the
 * common pool, so that an application's parallel streams and NOS's
 * copies do not wait on each other. The calling thread takes a share of the work and waits for
 * the rest. Copies below {@link #MIN_PART_BYTES} per part run on the caller alone.
 *
 * <p>Thread-safe. Callers give disjoint destinations to concurrent parts; buffers are read and
 * written with absolute operations on duplicates, so no buffer's position moves.
 */
public final class Copies {
  /** Parts smaller than this are not worth a hand-off to another thread. */
  public static final long MIN_PART_BYTES = 4L << 20;

  private static final int PARALLELISM = Math.max(1,
      Math.min(16, Runtime.getRuntime().availableProcessors()));

  /** Whether the current thread is running a part for {@link #run}. */
  private static final ThreadLocal<Boolean> IN_PART = ThreadLocal.withInitial(() -> false);

  private Copies() {}

  /**
   * The pool, made on first use: a JVM that never copies much starts no thread. A plain
   * fixed-size pool, so every part has a thread of its own (a fork-join pool may run parts one
   * after another on one worker); idle threads end after 10 s.
   */
  private static final class Pool {
    static final ThreadPoolExecutor POOL = pool();

    private static ThreadPoolExecutor pool() {
      ThreadPoolExecutor pool = new ThreadPoolExecutor(PARALLELISM, PARALLELISM, 10,
          TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
          ai.nos.NosRuntime.defaultRuntime().threads("nos-copy-"));
      pool.allowCoreThreadTimeOut(true);
      return pool;
    }
  }

  /** How many parts a copy of {@code bytes} is worth splitting into: 1 to the pool's size. */
  public static int parts(long bytes) {
    return (int) Math.max(1, Math.min(PARALLELISM, bytes / MIN_PART_BYTES));
  }

  /**
   * Runs {@code part.accept(i)} for each {@code i} in {@code [0, parts)}, in parallel when
   * {@code parts > 1}, and returns when all are done. The first failure is rethrown after every
   * part has finished.
   */
  public static void run(int parts, IntConsumer part) {
    if (parts <= 1 || IN_PART.get()) {
      // A part that splits again runs its parts itself: waiting on the pool from inside it
      // could leave every pool thread waiting.
      for (int i = 0; i < parts; i++) {
        part.accept(i);
      }
      return;
    }
    // Each part keeps its own failure, and the caller rethrows it as it was thrown.
    Throwable[] failures = new Throwable[parts];
    Future<?>[] tasks = new Future<?>[parts - 1];
    for (int i = 1; i < parts; i++) {
      int index = i;
      tasks[i - 1] = Pool.POOL.submit(() -> {
        IN_PART.set(true);
        try {
          part.accept(index);
        } catch (Throwable e) {
          failures[index] = e;
        } finally {
          IN_PART.set(false);
        }
      });
    }
    try {
      part.accept(0);
    } catch (Throwable e) {
      failures[0] = e;
    }
    boolean interrupted = false;
    for (Future<?> t : tasks) {
      for (;;) {
        try {
          t.get();
          break;
        } catch (InterruptedException e) {
          // The parts write into the caller's buffers: never return before they are done.
          interrupted = true;
        } catch (ExecutionException e) {
          throw new AssertionError("a part caught its own failure", e);
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    Throwable failure = null;
    for (Throwable e : failures) {
      if (e != null && failure == null) {
        failure = e;
      } else if (e != null) {
        failure.addSuppressed(e);
      }
    }
    if (failure instanceof RuntimeException) {
      throw (RuntimeException) failure;
    }
    if (failure instanceof Error) {
      throw (Error) failure;
    }
  }

  /**
   * Copies {@code bytes} bytes from {@code src} at {@code srcPos} to {@code dst} at
   * {@code dstPos}, in parallel parts when large.
   */
  public static void copy(ByteBuffer src, int srcPos, ByteBuffer dst, int dstPos, int bytes) {
    int parts = parts(bytes);
    long per = (bytes + (long) parts - 1) / parts;
    run(parts, i -> {
      int from = (int) Math.min(bytes, i * per);
      int to = (int) Math.min(bytes, from + per);
      if (to > from) {
        dst.duplicate().put(dstPos + from, src.duplicate(), srcPos + from, to - from);
      }
    });
  }
}
