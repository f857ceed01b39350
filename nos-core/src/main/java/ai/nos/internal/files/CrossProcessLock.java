package ai.nos.internal.files;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Exclusive ownership of one file's key across every thread of every process sharing a folder:
 * the one cross-process lock of NOS, used by the hub's downloads (one per blob) and the optimizer's
 * artifact cache (one per cache key).
 *
 * <h2>Two locks</h2>
 * A {@link FileLock} excludes other processes but not other threads: the JVM holds it for the
 * process, and a second lock on the same file from this process throws
 * {@link java.nio.channels.OverlappingFileLockException}. Worse, POSIX drops all of a process's
 * locks on a file when any descriptor of that file is closed. So threads first take an in-JVM
 * {@link ReentrantLock}, shared through a static map by every cache instance of the JVM and keyed
 * by the lock file's real path, and only the thread holding it opens, locks and closes the file.
 *
 * <h2>Waiting</h2>
 * The file lock is polled with {@link FileChannel#tryLock()} and a growing pause (1 ms to 50 ms),
 * so a wait has a deadline and can be interrupted; the blocking {@code lock()} has neither. A
 * process that dies holding the lock releases it through the operating system.
 *
 * <p>Lock files are never deleted: a process waiting on a deleted file's lock and another locking
 * its replacement would both believe they own the key. They are empty, so they cost an inode each.
 */
public final class CrossProcessLock implements AutoCloseable {

  private static final ConcurrentHashMap<Path, Local> LOCAL = new ConcurrentHashMap<>();
  private static final long MAX_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  /** An in-JVM lock and how many threads hold or wait for it; guarded by {@link #LOCAL}. */
  private static final class Local {
    final ReentrantLock lock = new ReentrantLock();
    int users;
  }

  private final Path file;
  private final Local local;
  private final FileChannel channel;

  private CrossProcessLock(Path file, Local local, FileChannel channel) {
    this.file = file;
    this.local = local;
    this.channel = channel;
  }

  /**
   * Takes the lock of {@code file} (a real, absolute path), waiting at most {@code timeoutNanos}.
   *
   * @throws TimeoutException if another thread or process held it past the deadline
   * @throws InterruptedException if the thread was interrupted while waiting
   * @throws IllegalStateException if this thread already holds it
   * @throws IOException if the lock file cannot be opened or locked
   */
  public static CrossProcessLock acquire(Path file, long timeoutNanos)
      throws IOException, InterruptedException, TimeoutException {
    return take(file, timeoutNanos, true);
  }

  /**
   * Takes the lock of {@code file} if no thread or process holds it now; {@code null} otherwise
   * (also when this thread holds it).
   *
   * @throws IOException if the lock file cannot be opened or locked
   */
  public static CrossProcessLock tryAcquire(Path file) throws IOException {
    try {
      return take(file, 0, false);
    } catch (InterruptedException | TimeoutException e) {
      throw new AssertionError("a lock taken without waiting waited", e);
    }
  }

  /**
   * The in-JVM lock, then the file lock, undoing what was taken if the whole is not. With
   * {@code wait}, waits up to {@code timeoutNanos} for each and fails loudly; without, gives up at
   * once and returns null.
   */
  private static CrossProcessLock take(Path file, long timeoutNanos, boolean wait)
      throws IOException, InterruptedException, TimeoutException {
    long deadline = System.nanoTime() + timeoutNanos;
    Local local = retain(file);
    boolean done = false;
    try {
      if (local.lock.isHeldByCurrentThread()) {
        if (!wait) {
          return null;
        }
        throw new IllegalStateException("this thread already holds the lock " + file
            + " (a nested call for the same key, e.g. getOrBuild from inside its own builder?)");
      }
      boolean locked = wait ? local.lock.tryLock(timeoutNanos, TimeUnit.NANOSECONDS)
          : local.lock.tryLock();
      if (!locked) {
        if (!wait) {
          return null;
        }
        throw new TimeoutException("another thread of this process held " + file);
      }
      try {
        FileChannel channel = open(file);
        try {
          long pause = TimeUnit.MILLISECONDS.toNanos(1);
          while (channel.tryLock() == null) {
            if (!wait) {
              return null;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
              throw new TimeoutException("another process held " + file);
            }
            TimeUnit.NANOSECONDS.sleep(Math.min(pause, left));
            pause = Math.min(pause * 2, MAX_PAUSE_NANOS);
          }
          done = true;
          return new CrossProcessLock(file, local, channel);
        } finally {
          if (!done) {
            channel.close();
          }
        }
      } finally {
        if (!done) {
          local.lock.unlock();
        }
      }
    } finally {
      if (!done) {
        release(file);
      }
    }
  }

  private static FileChannel open(Path file) throws IOException {
    return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
  }

  private static Local retain(Path file) {
    return LOCAL.compute(file, (k, v) -> {
      Local l = v == null ? new Local() : v;
      l.users++;
      return l;
    });
  }

  private static void release(Path file) {
    LOCAL.computeIfPresent(file, (k, v) -> --v.users == 0 ? null : v);
  }

  /** Releases the file lock (by closing its channel), then the in-JVM lock. */
  @Override
  public void close() throws IOException {
    try {
      channel.close();
    } finally {
      local.lock.unlock();
      release(file);
    }
  }
}
