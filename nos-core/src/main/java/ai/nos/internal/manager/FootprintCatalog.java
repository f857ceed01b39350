package ai.nos.internal.manager;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The measured footprints of models, kept on disk so the next placement knows a model's size
 * before loading it. One JSON object: key (artifact hash, options, device kind) to bytes.
 *
 * <p>Thread-safe. Writes go to a temporary file moved over the old one, so a reader (or a crash)
 * never sees half a file; a file that cannot be read is logged and ignored, never fatal: the
 * catalog is a cache of measurements, and the manager measures again. Read and written with
 * jackson-core's streaming parser and generator, not databind's ObjectMapper: every manager
 * opens the catalog, and databind's first use costs a fresh JVM about 150 ms of class loading
 * (~300 classes) before the first model, for a file of numbers (issue 20 item 5, first result).
 *
 * <h2>Bound</h2>
 * A key holds the artifact's content hash, so every edited, retrained or mutated file is a new
 * key, and a catalog that only grew reached thousands of entries (one developer's: 4,902, of which
 * 4,888 were one model under as many hashes), every one rewritten with each new measurement. The
 * catalog keeps at most {@link #MAX_ENTRIES} (or the count given to the package-private
 * constructor) and drops the least recently measured or used when a put goes past it. The file
 * is written in that order, least recent first, and read back in file order, so the order
 * survives a restart without a second field per key (the format stays key to bytes, readable by
 * older versions). A {@link #get} refreshes a key in memory; the file learns it at the next write.
 * A file over the bound (one written before it) is read keeping its last entries, and written
 * back within the bound at the next measurement.
 *
 * <h2>Concurrent writers</h2>
 * Several managers, in one JVM or several, may share the file. A write is a merge, not a
 * replacement: under an exclusive lock (a {@link FileChannel#tryLock} on the sibling
 * {@code <file>.lock}, and a JVM-wide lock per file, since a JVM may hold only one lock on a
 * file), the writer reads the file as it is now, lays over it what this catalog changed since
 * its last write (its new measurements, and the keys it used, moved to the most recent end),
 * keeps its own entries the file lacks (a file deleted or unreadable meanwhile) as the least
 * recent, trims to the bound, and moves the result over the file atomically. The lock orders
 * the writes, so the newest measurement of a key is the one written last, and a measurement
 * another writer made meanwhile is kept (it was lost before: the last writer's view replaced
 * the file). The lock is waited for at most {@code LOCK_WAIT_MS} (2 s): a writer holds it for one
 * read and one write of a small file, and a stuck one must not stall a load; past the wait, or
 * where the file system cannot lock, the merge runs unlocked and a rare lost measurement costs
 * one estimate. The lock file is never deleted (deleting it would let two writers lock two
 * files).
 */
public final class FootprintCatalog {
  private static final Logger LOG = LoggerFactory.getLogger(FootprintCatalog.class);
  private static final JsonFactory JSON = new JsonFactory();

  /**
   * The most entries a catalog keeps (a few hundred bytes each in memory, ~60 in the file): far
   * more models than one machine serves, few enough that a rewrite stays small.
   */
  public static final int MAX_ENTRIES = 1024;

  /** How long a write waits for the lock before it merges unlocked. */
  static final long LOCK_WAIT_MS = 2_000;

  /** One lock per file in this JVM: a second {@link FileChannel#lock} on a file would throw. */
  private static final Map<Path, ReentrantLock> LOCAL_LOCKS = new ConcurrentHashMap<>();

  private final Path file;
  private final int maxEntries;
  /** In recency order, least recent first: a get or a put moves a key to the end. */
  private Map<String, Long> bytes;
  /** Keys used or measured since the last write, least recent first: the file learns them. */
  private final Set<String> touched = new LinkedHashSet<>();
  /** Measurements made since the last write that reached the file: newer than the file's. */
  private final Map<String, Long> measured = new HashMap<>();

  public FootprintCatalog(Path file) {
    this(file, MAX_ENTRIES);
  }

  /** A catalog keeping at most {@code maxEntries}; the tests use small bounds. */
  FootprintCatalog(Path file, int maxEntries) {
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be at least 1 but was " + maxEntries);
    }
    this.file = file;
    this.maxEntries = maxEntries;
    this.bytes = bounded(maxEntries);
    Map<String, Long> read = read(file, maxEntries);
    if (read != null) {
      bytes.putAll(read);
    }
  }

  /**
   * The file's entries in file order, the last {@code max} of them; empty for no file, null (and
   * a warning) for a file that cannot be read.
   */
  private static Map<String, Long> read(Path file, int max) {
    Map<String, Long> read = bounded(max);
    if (!Files.isRegularFile(file)) {
      return read;
    }
    try (JsonParser p = JSON.createParser(file.toFile())) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("expected a JSON object of key to bytes, got "
            + p.currentToken());
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        JsonToken value = p.nextToken();
        long b = value == JsonToken.VALUE_NUMBER_INT && p.getNumberType()
            != JsonParser.NumberType.BIG_INTEGER ? p.getLongValue() : 0;
        if (b > 0) {
          read.put(key, b);
        }
        p.skipChildren(); // a nested object or array (not ours): skipped whole
      }
      if (p.currentToken() != JsonToken.END_OBJECT) {
        throw new IOException("the object does not end where expected");
      }
      return read;
    } catch (IOException | RuntimeException e) {
      LOG.warn("ignoring unreadable footprint catalog {}: {}", file, e.getMessage());
      return null;
    }
  }

  /** The file's name under the runtime's cache root ({@code ai.nos.NosRuntime#cacheRoot}). */
  public static final String FILE_NAME = "footprints.json";

  /** An access-ordered map that drops its least recent entry past {@code max}. */
  private static Map<String, Long> bounded(int max) {
    return new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
        return size() > max;
      }
    };
  }

  /** How many entries the catalog holds now. */
  synchronized int size() {
    return bytes.size();
  }

  public synchronized OptionalLong get(String key) {
    Long b = bytes.get(key);
    if (b != null) {
      touched.remove(key);
      touched.add(key);
    }
    return b == null ? OptionalLong.empty() : OptionalLong.of(b);
  }

  /**
   * Records a measurement, dropping the least recent entry past the bound, and merges it into the
   * file (when the value is new; see Concurrent writers above); a failed write is logged, not
   * thrown.
   */
  public synchronized void put(String key, long measured) {
    Long old = bytes.put(key, measured);
    touched.remove(key);
    touched.add(key);
    this.measured.put(key, measured);
    if (old != null && old == measured) {
      return;
    }
    try {
      Files.createDirectories(file.getParent());
      ReentrantLock local = LOCAL_LOCKS.computeIfAbsent(file.toAbsolutePath().normalize(),
          p -> new ReentrantLock());
      boolean locked = local.tryLock(LOCK_WAIT_MS, TimeUnit.MILLISECONDS);
      try {
        mergeAndWrite(locked);
      } finally {
        if (locked) {
          local.unlock();
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      LOG.warn("footprint catalog {} not written: interrupted waiting for its lock", file);
    } catch (IOException e) {
      LOG.warn("cannot write footprint catalog {}: {}", file, e.getMessage());
    }
  }

  /** Takes the file lock (when {@code locked} in this JVM), then merges and writes. */
  private void mergeAndWrite(boolean locked) throws IOException, InterruptedException {
    Path lockFile = file.resolveSibling(file.getFileName() + ".lock");
    FileChannel channel = null;
    FileLock lock = null;
    try {
      if (locked) {
        try {
          channel = FileChannel.open(lockFile, StandardOpenOption.CREATE,
              StandardOpenOption.WRITE);
          lock = lockWithin(channel, LOCK_WAIT_MS);
        } catch (IOException | UnsupportedOperationException e) {
          LOG.debug("footprint catalog {} merged unlocked: cannot lock {}: {}", file, lockFile,
              e.toString());
        }
      }
      if (lock == null) {
        LOG.debug("footprint catalog {} merged without the lock on {}", file, lockFile);
      }
      write(merge(read(file, maxEntries)));
    } finally {
      if (channel != null) {
        channel.close(); // releases the lock
      }
    }
  }

  /** The lock on {@code channel}, or null when another holds it past {@code waitMs}. */
  private static FileLock lockWithin(FileChannel channel, long waitMs)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs);
    while (true) {
      try {
        FileLock lock = channel.tryLock();
        if (lock != null) {
          return lock;
        }
      } catch (OverlappingFileLockException e) {
        // this JVM holds it under another name of the same file (a link): wait as for another
      }
      if (System.nanoTime() >= deadline) {
        return null;
      }
      Thread.sleep(5);
    }
  }

  /**
   * The file's entries with this catalog's changes laid over them: its entries the file lacks
   * first (least recent), then the file's in file order, then the keys touched here since the
   * last write in the order they were touched, each with this catalog's new measurement or else
   * the file's value. The file's value is the newer for any key not measured here meanwhile: a
   * value read earlier was in the file once, and only a later write can have changed it there.
   * {@code file} null (unreadable) counts as empty.
   */
  private Map<String, Long> merge(Map<String, Long> file) {
    Map<String, Long> merged = new LinkedHashMap<>();
    Map<String, Long> onDisk = file == null ? Map.of() : file;
    for (Map.Entry<String, Long> e : bytes.entrySet()) {
      if (!onDisk.containsKey(e.getKey()) && !touched.contains(e.getKey())) {
        merged.put(e.getKey(), e.getValue());
      }
    }
    merged.putAll(onDisk);
    for (String key : touched) {
      Long value = measured.get(key);
      if (value == null) {
        value = onDisk.containsKey(key) ? onDisk.get(key) : bytes.get(key);
      }
      if (value != null) {
        merged.remove(key);
        merged.put(key, value);
      }
    }
    Map<String, Long> result = bounded(maxEntries);
    result.putAll(merged);
    return result;
  }

  /** Writes {@code merged} atomically and makes it this catalog's view. */
  private void write(Map<String, Long> merged) throws IOException {
    Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
    try {
      try (JsonGenerator g = JSON.createGenerator(tmp.toFile(),
          com.fasterxml.jackson.core.JsonEncoding.UTF8).useDefaultPrettyPrinter()) {
        g.writeStartObject();
        for (Map.Entry<String, Long> e : merged.entrySet()) {
          g.writeNumberField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
      }
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE,
            StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
    bytes = merged;
    touched.clear();
    measured.clear();
  }
}
