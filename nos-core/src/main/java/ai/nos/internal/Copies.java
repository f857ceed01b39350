package ai.nos.internal;

import java.nio.ByteBuffer;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.function.IntConsumer;

/**
 * Large host copies split over a few threads: assembling a batch of 256 images (154 MB in fp32)
 * takes one thread about 15 ms, long enough to leave a GPU idle between batches.
 *
 * <p>Runs on a pool of its own (daemon threads named {@code nos-copy-N}, at most 8 or the number
 * of processors), never on the common pool, so that an application's parallel streams and NOS's
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
      Math.min(8, Runtime.getRuntime().availableProcessors()));

  private Copies() {}

  /** The pool, made on first use: a JVM that never copies much starts no thread. */
  private static final class Pool {
    static final ForkJoinPool POOL = new ForkJoinPool(PARALLELISM, pool -> {
      var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
      t.setName("nos-copy-" + t.getPoolIndex());
      t.setDaemon(true);
      return t;
    }, null, false);
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
    if (parts <= 1) {
      if (parts == 1) {
        part.accept(0);
      }
      return;
    }
    // Each part keeps its own failure, so the caller rethrows the part's exception itself (a
    // ForkJoinTask's join would rethrow a reflective copy of it).
    RuntimeException[] failures = new RuntimeException[parts];
    ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[parts - 1];
    for (int i = 1; i < parts; i++) {
      int index = i;
      tasks[i - 1] = Pool.POOL.submit(() -> {
        try {
          part.accept(index);
        } catch (RuntimeException e) {
          failures[index] = e;
        }
      });
    }
    try {
      part.accept(0);
    } catch (RuntimeException e) {
      failures[0] = e;
    }
    for (ForkJoinTask<?> t : tasks) {
      t.join();
    }
    RuntimeException failure = null;
    for (RuntimeException e : failures) {
      if (e != null && failure == null) {
        failure = e;
      } else if (e != null) {
        failure.addSuppressed(e);
      }
    }
    if (failure != null) {
      throw failure;
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
