package ai.nos.optim;

import ai.nos.NosRuntime;
import ai.nos.internal.files.CacheRoot;
import ai.nos.internal.files.CrossProcessLock;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An on-disk cache of optimized artifacts (compiled engines, exported packages, converted models),
 * each stored under the {@link CacheKey} of what it was made from, so it is built once per machine
 * and reused by every later run and every process.
 *
 * <pre>{@code
 * ArtifactCache cache = ArtifactCache.builder().build();  // $XDG_CACHE_HOME/nos/optim
 * Path engine = cache.getOrBuild(key, target -> buildEngine(onnx, target));
 * }</pre>
 *
 * <h2>Layout</h2>
 * <pre>{@code
 * <dir>/entries/<hash>/artifact     the artifact
 * <dir>/entries/<hash>/entry.json   its sidecar: the key, size and SHA-256 of the artifact
 * <dir>/tmp/<hash>.<uuid>/          a build in progress (staging)
 * <dir>/tmp/trash.<uuid>/           an entry being deleted
 * <dir>/locks/<hash>.lock           one lock file per key ever built; never deleted
 * }</pre>
 * {@code <hash>} is {@link CacheKey#hash()}.
 *
 * <h2>Publishing</h2>
 * A builder writes into a fresh staging folder; the cache then forces the artifact to disk, writes
 * the sidecar beside it (also forced), and renames the whole folder to {@code entries/<hash>} with
 * one atomic {@code rename(2)}. An entry folder therefore either does not exist or holds a
 * finished artifact and its sidecar: no reader, in any process, sees half of one. Deleting works
 * the same way in reverse: the entry is first renamed into {@code tmp/trash.*}, then deleted.
 * A build that fails, in any way, deletes its staging folder before the exception leaves.
 *
 * <h2>Validity</h2>
 * Every lookup re-reads the sidecar and the artifact's SHA-256 (about a second per GB), so a
 * flipped byte, a truncated file or a hand-edited sidecar is never served, nor anything reached
 * through a link (the entry folder, the artifact or the sidecar swapped for one). Such an entry is
 * deleted under the key's lock, with one WARN line saying what was wrong, and built again.
 *
 * <h2>Concurrency</h2>
 * Lookups of a valid entry take no lock. A miss takes the key's lock, which excludes every thread
 * of every process using the directory (nos-core's {@link CrossProcessLock}), and checks again
 * before building, so concurrent callers of {@link #getOrBuild} build a key once: the first builds,
 * the others wait for the lock (at most {@link Builder#lockTimeout}) and then find its entry.
 * Different keys build in parallel. Instances are thread-safe, hold no open resources, and any
 * number of instances and processes may share a directory.
 *
 * <h2>Eviction</h2>
 * Nothing is evicted on its own. {@link #evictTo(long)} deletes the least recently used entries
 * until the cache fits a size; an entry's last use is its sidecar's modification time, which every
 * hit sets from the cache's {@link Clock}. A path handed out stays readable while the caller holds
 * the file open (POSIX keeps deleted open files), but an entry may be deleted by another thread or
 * process at any time after it was returned, so callers open the artifact right away.
 */
public final class ArtifactCache {
  private static final Logger LOG = LoggerFactory.getLogger(ArtifactCache.class);

  /** The file name of the artifact inside an entry folder. */
  public static final String ARTIFACT_FILE = "artifact";
  /** The file name of the sidecar inside an entry folder. */
  public static final String SIDECAR_FILE = "entry.json";

  private static final Pattern HASH = Pattern.compile("[0-9a-f]{64}");
  private static final String TRASH = "trash.";

  private final Path directory;
  private final Path entries;
  private final Path tmp;
  private final Path locks;
  private final Clock clock;
  private final Duration lockTimeout;

  private ArtifactCache(Path directory, Clock clock, Duration lockTimeout) {
    this.directory = directory;
    this.entries = directory.resolve("entries");
    this.tmp = directory.resolve("tmp");
    this.locks = directory.resolve("locks");
    this.clock = clock;
    this.lockTimeout = lockTimeout;
  }

  /** Returns a builder: the {@link #defaultDirectory()}, the system clock, a one-hour lock wait. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * {@code optim/} under the default runtime's {@link NosRuntime#cacheRoot()}:
   * {@code $XDG_CACHE_HOME/nos/optim} when that variable holds an absolute path, else
   * {@code ~/.cache/nos/optim}.
   */
  public static Path defaultDirectory() {
    return NosRuntime.defaultRuntime().cacheRoot().resolve(FOLDER);
  }

  /** The cache's folder under the cache root. */
  private static final String FOLDER = "optim";

  /** nos-core's one cache-root rule ({@link CacheRoot}) for this environment, plus the folder. */
  static Path defaultDirectory(String xdgCacheHome, String userHome) {
    return CacheRoot.of(xdgCacheHome == null ? Map.of() : Map.of("XDG_CACHE_HOME", xdgCacheHome),
        userHome).resolve(FOLDER);
  }

  /** The cache's folder, as a real path. */
  public Path directory() {
    return directory;
  }

  /**
   * The artifact of {@code key}, built by {@code builder} if the cache has no valid entry for it.
   * Concurrent calls for one key, in this or other processes, build it once; the others wait.
   *
   * @return the path of the artifact file ({@value #ARTIFACT_FILE}) in the key's entry folder
   * @throws IllegalArgumentException if {@code key} or {@code builder} is null
   * @throws IllegalStateException if called from inside the builder of the same key
   * @throws OptimizationException if the builder fails (its exception is the cause; nothing it
   *     wrote is left behind), writes no regular file, the lock wait times out or is interrupted
   *     (the interrupt flag is restored), or the cache's files cannot be read or written; the
   *     message names the key
   */
  public Path getOrBuild(CacheKey key, ArtifactBuilder builder) {
    return entry(key, builder).artifact();
  }

  /** A valid entry's artifact, and the SHA-256 of the bytes its lookup or build checked. */
  record Entry(Path artifact, String sha256) {}

  /**
   * As {@link #getOrBuild}, with the SHA-256 the cache checked: a caller pins the artifact to it,
   * so that what it loads is what the cache verified (hashing the file again would read whatever
   * it holds by then).
   */
  Entry entry(CacheKey key, ArtifactBuilder builder) {
    requireNonNull(key, "key");
    requireNonNull(builder, "builder");
    Optional<Entry> hit = unlockedLookup(key);
    if (hit.isPresent()) {
      return hit.get();
    }
    try (CrossProcessLock lock = lock(key)) {
      Optional<Entry> found = lockedLookup(key);
      return found.isPresent() ? found.get() : build(key, builder);
    } catch (IOException e) {
      throw new OptimizationException("artifact cache " + directory + " failed on " + key + ": "
          + e, e);
    }
  }

  /**
   * The artifact of {@code key} if the cache holds a valid entry for it. An invalid entry is
   * deleted (with a WARN line) and reported as absent.
   *
   * @throws IllegalArgumentException if {@code key} is null
   * @throws OptimizationException if the cache's files cannot be read, or as for
   *     {@link #getOrBuild} when an invalid entry's lock cannot be taken
   */
  public Optional<Path> get(CacheKey key) {
    requireNonNull(key, "key");
    Optional<Entry> hit = unlockedLookup(key);
    if (hit.isPresent() || !Files.exists(entryDir(key), LinkOption.NOFOLLOW_LINKS)) {
      return hit.map(Entry::artifact);
    }
    try (CrossProcessLock lock = lock(key)) {
      return lockedLookup(key).map(Entry::artifact);
    } catch (IOException e) {
      throw new OptimizationException("artifact cache " + directory + " failed on " + key + ": "
          + e, e);
    }
  }

  /**
   * Deletes the entry of {@code key}, waiting for a build of it in progress to finish first.
   *
   * @return whether there was an entry to delete
   * @throws IllegalArgumentException if {@code key} is null
   * @throws OptimizationException as {@link #getOrBuild} for the lock, or if the entry cannot be
   *     deleted
   */
  public boolean invalidate(CacheKey key) {
    requireNonNull(key, "key");
    try (CrossProcessLock lock = lock(key)) {
      return remove(entryDir(key));
    } catch (IOException e) {
      throw new OptimizationException("cannot invalidate " + key + " in artifact cache "
          + directory + ": " + e, e);
    }
  }

  /**
   * Deletes least recently used entries until the entries take at most {@code maxBytes}, and
   * deletes what failed or crashed builds left in {@code tmp}. Entries being built or locked by
   * another thread or process at that moment are skipped, so the result may exceed
   * {@code maxBytes}.
   *
   * @param maxBytes the size to shrink to, {@code >= 0}; the size of an entry is the sum of its
   *     files' sizes
   * @return the bytes the remaining entries take
   * @throws IllegalArgumentException if {@code maxBytes < 0}
   * @throws OptimizationException if the cache's folders cannot be read or an entry not deleted
   */
  public long evictTo(long maxBytes) {
    if (maxBytes < 0) {
      throw new IllegalArgumentException("maxBytes must not be negative but was " + maxBytes);
    }
    try {
      cleanTmp();
      if (!Files.isDirectory(entries)) {
        return 0;
      }
      record Found(Path dir, String hash, long bytes, Instant lastUse) {}
      List<Found> found = new ArrayList<>();
      try (DirectoryStream<Path> dirs = Files.newDirectoryStream(entries)) {
        for (Path dir : dirs) {
          String hash = dir.getFileName().toString();
          if (HASH.matcher(hash).matches()) {
            try {
              found.add(new Found(dir, hash, CacheFiles.sizeOf(dir),
                  CacheFiles.lastUse(dir, SIDECAR_FILE)));
            } catch (NoSuchFileException gone) {
              LOG.debug("cache entry {} vanished while listed", dir);
            }
          }
        }
      }
      found.sort(Comparator.comparing(Found::lastUse).thenComparing(Found::hash));
      long total = found.stream().mapToLong(Found::bytes).sum();
      for (Found f : found) {
        if (total <= maxBytes) {
          break;
        }
        try (CrossProcessLock lock = CrossProcessLock.tryAcquire(lockFile(f.hash()))) {
          if (lock != null && remove(f.dir())) {
            total -= f.bytes();
            LOG.debug("evicted cache entry {} ({} bytes, last used {})", f.hash(), f.bytes(),
                f.lastUse());
          }
        }
      }
      return total;
    } catch (IOException e) {
      throw new OptimizationException("cannot evict from artifact cache " + directory + ": " + e,
          e);
    }
  }

  @Override
  public String toString() {
    return "ArtifactCache{" + directory + "}";
  }

  /** A valid entry, found without the lock; empty on a miss, however caused. */
  private Optional<Entry> unlockedLookup(CacheKey key) {
    try {
      Sidecar.Verdict verdict = Sidecar.check(entryDir(key), SIDECAR_FILE, ARTIFACT_FILE, key);
      return verdict.valid() && touch(key) ? Optional.of(new Entry(artifact(key),
          verdict.sha256())) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** Under the key's lock: a valid entry, or empty after deleting an invalid one. */
  private Optional<Entry> lockedLookup(CacheKey key) throws IOException {
    Path dir = entryDir(key);
    Sidecar.Verdict verdict;
    try {
      verdict = Sidecar.check(dir, SIDECAR_FILE, ARTIFACT_FILE, key);
    } catch (NoSuchFileException absent) {
      return Optional.empty();
    }
    if (verdict.valid() && touch(key)) {
      return Optional.of(new Entry(artifact(key), verdict.sha256()));
    }
    LOG.warn("cache entry {} for {} is invalid ({}); deleting it", dir, key,
        verdict.valid() ? "it vanished while read" : verdict.problem());
    remove(dir);
    return Optional.empty();
  }

  /**
   * Sets the entry's last use to now; false if the entry is gone. An entry whose last use cannot
   * be written (a cache on a read-only file system, or another user's) is still served, its last
   * use left as it was: refusing it sent every lookup of a read-only cache to a build, whose lock
   * could not be taken there either.
   */
  private boolean touch(CacheKey key) throws IOException {
    Path sidecar = entryDir(key).resolve(SIDECAR_FILE);
    try {
      Files.setLastModifiedTime(sidecar, FileTime.from(clock.instant()));
      return true;
    } catch (NoSuchFileException e) {
      return false;
    } catch (IOException e) {
      if (!Files.isRegularFile(sidecar, LinkOption.NOFOLLOW_LINKS)) {
        return false;
      }
      LOG.debug("cache entry {}: its last use is not recorded ({}); served as it is",
          entryDir(key), e.toString());
      return true;
    }
  }

  /** Builds and publishes; the caller holds the key's lock, so its old staging is stale. */
  private Entry build(CacheKey key, ArtifactBuilder builder) throws IOException {
    CacheFiles.deleteMatching(tmp, key.hash() + ".*");
    Path staging = tmp.resolve(key.hash() + "." + UUID.randomUUID());
    Files.createDirectories(tmp);
    Files.createDirectory(staging);
    boolean published = false;
    try {
      Path target = staging.resolve(ARTIFACT_FILE);
      long t0 = System.nanoTime();
      try {
        builder.build(target);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new OptimizationException("building the artifact of " + key + " was interrupted",
            e);
      } catch (Exception e) {
        throw new OptimizationException("building the artifact of " + key + " failed: " + e, e);
      }
      if (!Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
        throw new OptimizationException("the builder of " + key + " returned without writing a"
            + " regular file at " + target);
      }
      CacheFiles.keepOnly(staging, target);
      Sidecar.force(target);
      Sidecar.Digest digest = Sidecar.digest(target);
      Path sidecar = staging.resolve(SIDECAR_FILE);
      Sidecar.write(sidecar, key, digest, clock.instant());
      Files.setLastModifiedTime(sidecar, FileTime.from(clock.instant()));
      Files.createDirectories(entries);
      Files.move(staging, entryDir(key), StandardCopyOption.ATOMIC_MOVE);
      published = true;
      LOG.info("built the cache entry of {}: {} bytes in {} ms", key, digest.size(),
          (System.nanoTime() - t0) / 1_000_000);
      return new Entry(artifact(key), digest.sha256());
    } finally {
      if (!published) {
        CacheFiles.deleteTree(staging);
      }
    }
  }

  private CrossProcessLock lock(CacheKey key) throws IOException {
    Path file = lockFile(key.hash());
    try {
      return CrossProcessLock.acquire(file, lockTimeout.toNanos());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new OptimizationException("interrupted while waiting for the lock " + file + " of "
          + key, e);
    } catch (TimeoutException e) {
      throw new OptimizationException("waited " + lockTimeout.toMillis() + " ms for the lock "
          + file + " of " + key + " but " + e.getMessage() + " all along; a build of this key"
          + " is still running or hung (raise ArtifactCache.Builder.lockTimeout for slow builds)",
          e);
    }
  }

  private Path lockFile(String hash) throws IOException {
    Files.createDirectories(locks);
    return locks.resolve(hash + ".lock");
  }

  private Path entryDir(CacheKey key) {
    return entries.resolve(key.hash());
  }

  private Path artifact(CacheKey key) {
    return entryDir(key).resolve(ARTIFACT_FILE);
  }

  /** Atomically takes {@code dir} out of the entries, then deletes it; false if it was absent. */
  private boolean remove(Path dir) throws IOException {
    Files.createDirectories(tmp);
    Path trash = tmp.resolve(TRASH + UUID.randomUUID());
    try {
      Files.move(dir, trash, StandardCopyOption.ATOMIC_MOVE);
    } catch (NoSuchFileException absent) {
      return false;
    }
    CacheFiles.deleteTree(trash);
    return true;
  }

  /** Deletes trash and the staging folders of builds no thread or process is running. */
  private void cleanTmp() throws IOException {
    if (!Files.isDirectory(tmp)) {
      return;
    }
    List<Path> children = new ArrayList<>();
    try (DirectoryStream<Path> all = Files.newDirectoryStream(tmp)) {
      all.forEach(children::add);
    }
    for (Path p : children) {
      String name = p.getFileName().toString();
      int dot = name.indexOf('.');
      String hash = dot < 0 ? "" : name.substring(0, dot);
      if (name.startsWith(TRASH)) {
        CacheFiles.deleteTree(p);
      } else if (HASH.matcher(hash).matches()) {
        try (CrossProcessLock lock = CrossProcessLock.tryAcquire(lockFile(hash))) {
          if (lock != null) {
            CacheFiles.deleteTree(p);
          }
        }
      }
    }
  }

  private static void requireNonNull(Object value, String name) {
    if (value == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
  }

  /**
   * Configures an {@link ArtifactCache}. A value is checked when it is set; a setting made twice
   * keeps the last value, a null argument is a {@link NullPointerException} naming it (see
   * docs/api-conventions.md). {@link #build()} leaves the builder usable. Not thread-safe.
   */
  public static final class Builder {
    private Path directory;
    private Clock clock;
    private Duration lockTimeout;

    private Builder() {}

    /**
     * Sets the cache's folder; {@link ArtifactCache#defaultDirectory()} if not set. It is created
     * by {@link #build()} if missing.
     *
     * @throws NullPointerException if {@code directory} is null
     */
    public Builder directory(Path directory) {
      Objects.requireNonNull(directory, "directory must not be null");
      this.directory = directory;
      return this;
    }

    /**
     * Sets the clock that stamps an entry's last use; the system UTC clock if not set. Tests
     * give a fixed or stepped clock to make eviction order deterministic.
     *
     * @throws NullPointerException if {@code clock} is null
     */
    public Builder clock(Clock clock) {
      Objects.requireNonNull(clock, "clock must not be null");
      this.clock = clock;
      return this;
    }

    /**
     * Sets how long a call waits for a key's lock while another thread or process builds that
     * key; one hour if not set.
     *
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if {@code timeout} is zero or negative
     */
    public Builder lockTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "lockTimeout must not be null");
      if (timeout.isZero() || timeout.isNegative()) {
        throw new IllegalArgumentException("lock timeout must be positive but was " + timeout);
      }
      this.lockTimeout = timeout;
      return this;
    }

    /**
     * Creates the folder if needed and returns the cache.
     *
     * @throws UncheckedIOException if the folder cannot be created or resolved; the message
     *     names it
     */
    public ArtifactCache build() {
      Path dir = directory != null ? directory : defaultDirectory();
      Path real;
      try {
        Files.createDirectories(dir);
        real = dir.toRealPath();
        for (String sub : new String[] {"entries", "tmp", "locks"}) {
          Files.createDirectories(real.resolve(sub));
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create the artifact cache folder " + dir + ": "
            + e, e);
      }
      return new ArtifactCache(real, clock != null ? clock : Clock.systemUTC(),
          lockTimeout != null ? lockTimeout : Duration.ofHours(1));
    }
  }
}
