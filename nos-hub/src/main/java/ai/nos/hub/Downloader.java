package ai.nos.hub;

import ai.nos.NosRuntime;
import ai.nos.internal.files.CacheRoot;
import ai.nos.internal.files.CrossProcessLock;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches files by URI into a local cache keyed by their SHA-256 digest, verifying every byte
 * before a file is used.
 *
 * <pre>{@code
 * Downloader downloader = Downloader.builder()
 *     .listener(ConsoleProgress.create())
 *     .build();
 * Path model = downloader.fetch(URI.create("https://example.org/resnet50.pt"), sha256, size);
 * }</pre>
 *
 * <h2>Cache layout</h2>
 *
 * <ul>
 *   <li>{@code <cache>/blobs/sha256/<hex>}: verified files, one per digest, so content that two
 *       URIs share is stored once;
 *   <li>{@code <cache>/tmp/<hex>.part}: a download in progress, kept when a transfer is cut off so
 *       that the next attempt resumes it with an HTTP {@code Range} request;
 *   <li>{@code <cache>/locks/<hex>.lock}: lock files (never deleted, a few bytes each);
 *   <li>{@code <cache>/meta/}: small documents fetched without a known digest (catalogs, lock
 *       files), kept for offline mode.
 * </ul>
 *
 * <p><b>Trust</b>: a file enters {@code blobs/} only by an atomic rename of a part whose size and
 * SHA-256 were just verified, so a file under its digest has been verified once, when it was
 * stored; it is not hashed again on every fetch (a model is hundreds of megabytes). A cached file
 * whose size differs from the expected size is treated as damaged, deleted and fetched again. Specs
 * built by {@link Hub#spec} also carry the digest, and the generators ({@link TextGenerator},
 * {@link SpeechRecognizer}) pin theirs, so nos-core hashes the file again on every load of the
 * model.
 *
 * <p><b>Concurrency</b>: instances are immutable and thread-safe. Fetches of the same digest are
 * serialized across threads and across processes sharing the cache (a {@link CrossProcessLock}
 * on the blob's lock file); whoever comes second finds the verified
 * file in the cache and downloads nothing. Fetches of different digests run in parallel.
 *
 * <p><b>Failures</b> are {@link DownloadException}s whose message names the URI. Connection
 * failures, stalls longer than the read timeout, early ends and the statuses 408, 429, 500, 502,
 * 503 and 504 are retried ({@link Builder#retries}) after a pause that doubles each time, resuming
 * where the transfer stopped; other statuses, checksum mismatches and write errors fail at once.
 *
 * <p><b>Bounds</b>: no download takes more bytes than its expected size, or, where the size is
 * unknown, than {@link Builder#maxUnknownSize} (16 GiB by default); none runs longer than
 * {@link Builder#deadline} (2 hours by default). A {@code file:} URI must name a regular file: a
 * FIFO, a device or a directory is refused before it is opened. An interrupt ends a fetch within
 * a chunk, or at once while it waits for the server, with the thread's interrupt flag set again.
 * What is kept after a failure: over HTTP, the bytes received, in {@code tmp/}, for the next
 * fetch to resume (unless they can never verify); from a {@code file:} URI, nothing.
 */
public final class Downloader {

  /** The size to pass to {@link #fetch} when it is not known; the digest alone is checked. */
  public static final long UNKNOWN_SIZE = -1;

  /** The default of {@link Builder#maxUnknownSize}: 16 GiB. */
  public static final long DEFAULT_MAX_UNKNOWN_SIZE = 16L << 30;

  /** The default of {@link Builder#deadline}: 2 hours. */
  public static final Duration DEFAULT_DEADLINE = Duration.ofHours(2);

  private static final Logger LOG = LoggerFactory.getLogger(Downloader.class);

  private static final Duration MAX_PAUSE = Duration.ofMinutes(1);

  /** Longer deadlines count as this long, which System.nanoTime() arithmetic can hold. */
  private static final Duration DEADLINE_NANOS_CAP = Duration.ofDays(365L * 100);

  private final Path cacheDir;
  private final Path blobs;
  private final Path tmp;
  private final Path locks;
  private final Path meta;
  private final HttpClient client;
  private final Duration readTimeout;
  private final boolean offline;
  private final DownloadListener listener;
  private final int retries;
  private final Duration retryBackoff;
  private final long maxUnknownSize;
  private final Duration deadline;

  private Downloader(Builder b, Path cacheDir, HttpClient client) {
    this.cacheDir = cacheDir;
    this.blobs = cacheDir.resolve("blobs").resolve("sha256");
    this.tmp = cacheDir.resolve("tmp");
    this.locks = cacheDir.resolve("locks");
    this.meta = cacheDir.resolve("meta");
    this.client = client;
    this.readTimeout = b.readTimeout;
    this.offline = b.offline;
    this.listener = new SafeListener(b.listener);
    this.retries = b.retries;
    this.retryBackoff = b.retryBackoff;
    this.maxUnknownSize = b.maxUnknownSize;
    this.deadline = b.deadline;
  }

  /** Returns a builder with the defaults listed on its setters. */
  public static Builder builder() {
    return new Builder();
  }

  /** The cache directory (absolute). */
  public Path cacheDir() {
    return cacheDir;
  }

  HttpClient client() {
    return client;
  }

  Duration readTimeout() {
    return readTimeout;
  }

  int retries() {
    return retries;
  }

  /** The most bytes a download of unknown size may have. */
  long maxUnknownSize() {
    return maxUnknownSize;
  }

  /** How long one fetch may take overall. */
  Duration deadline() {
    return deadline;
  }

  /** The {@link System#nanoTime()} by which a fetch that starts now must end. */
  long deadlineFromNow() {
    Duration bound = deadline.compareTo(DEADLINE_NANOS_CAP) < 0 ? deadline : DEADLINE_NANOS_CAP;
    return System.nanoTime() + bound.toNanos();
  }

  /** Where copies of documents fetched without a digest are kept for offline mode. */
  Path metaDir() {
    return meta;
  }

  /** Whether this downloader only reads the cache. */
  public boolean isOffline() {
    return offline;
  }

  /**
   * The cached, verified file with this digest, if there is one. Never downloads.
   *
   * @param sha256 64 hexadecimal characters, any case
   * @throws IllegalArgumentException if {@code sha256} is not 64 hexadecimal characters
   */
  public Optional<Path> cached(String sha256) {
    Path blob = blobs.resolve(Checks.sha256(sha256));
    return Files.isRegularFile(blob) ? Optional.of(blob) : Optional.empty();
  }

  /**
   * Returns the cached file with the given digest, downloading it from {@code uri} first if it
   * is not cached yet.
   *
   * @param uri an {@code http:}, {@code https:} or {@code file:} URI; a file is copied into the
   *     cache through the same verification
   * @param sha256 the SHA-256 digest the bytes must have: 64 hexadecimal characters, any case
   * @param expectedSize the size in bytes, or {@link #UNKNOWN_SIZE}
   * @return the verified file in the cache; do not modify it
   * @throws IllegalArgumentException if {@code uri} is null, has another scheme or is a
   *     {@code file:} URI with a query, a fragment or a NUL, {@code sha256}
   *     is malformed, or {@code expectedSize} is negative and not {@link #UNKNOWN_SIZE}
   * @throws DownloadException if the file is not cached and cannot be fetched and verified: an
   *     HTTP error status, a connection that failed after all retries, a checksum or size
   *     mismatch (nothing is kept), more bytes than {@code expectedSize} or, when it is
   *     unknown, than {@link Builder#maxUnknownSize} (nothing is kept), the
   *     {@link Builder#deadline} passed, a {@code file:} URI that is not a regular file, a write
   *     error such as a full disk (the message gives the path, the bytes written and the usable
   *     space), offline mode, or an interrupt (the thread's interrupt flag is set again)
   */
  public Path fetch(URI uri, String sha256, long expectedSize) {
    URI source = Checks.uri(uri);
    String hex = Checks.sha256(sha256);
    if (expectedSize < 0 && expectedSize != UNKNOWN_SIZE) {
      throw new IllegalArgumentException("expectedSize must be >= 0 or UNKNOWN_SIZE (-1) but was "
          + expectedSize);
    }
    Path blob = blobs.resolve(hex);
    try {
      if (isIntact(blob, expectedSize)) {
        listener.finished(source, blob);
        return blob;
      }
      if (offline && !Files.exists(blob)) {
        throw notCached(source, hex);
      }
      createDirectories(source);
      Path path = locked(hex, source, () -> fetchLocked(source, hex, expectedSize, blob));
      listener.finished(source, path);
      return path;
    } catch (DownloadException e) {
      listener.failed(source, e);
      throw e;
    }
  }

  private Path fetchLocked(URI uri, String hex, long expectedSize, Path blob)
      throws InterruptedException {
    if (isIntact(blob, expectedSize)) {
      return blob;
    }
    if (Files.exists(blob)) {
      LOG.warn("cached {} has {} bytes instead of {}; deleting it", blob, size(blob),
          expectedSize);
      delete(blob, uri);
    }
    if (offline) {
      throw notCached(uri, hex);
    }
    Path part = tmp.resolve(hex + ".part");
    // The deadline counts from here, not from the wait for the lock: the fetch that holds the
    // lock is bounded by its own deadline.
    Transfer transfer = new Transfer(uri, hex, expectedSize, part, listener, maxUnknownSize,
        deadline, deadlineFromNow());
    long limit = expectedSize != UNKNOWN_SIZE ? expectedSize : maxUnknownSize;
    for (int attempt = 1; ; ) {
      try {
        if ("file".equalsIgnoreCase(uri.getScheme())) {
          transfer.fromFile();
        } else {
          long have = Files.exists(part) ? size(part) : 0;
          if (have > limit) {
            transfer.deletePart();
            have = 0;
          }
          transfer.fromHttp(client, readTimeout, have);
        }
        return moveIntoPlace(part, blob, uri);
      } catch (Transfer.Restart e) {
        LOG.info("{}; starting again from byte 0", e.getMessage());
        transfer.deletePart();
      } catch (Transfer.Transient e) {
        if (attempt > retries) {
          String tries = attempt == 1 ? "" : " (gave up after " + attempt + " attempts)";
          throw new DownloadException(e.getMessage() + tries, uri, e.getCause());
        }
        Duration pause = backoff(attempt);
        if (pause.toNanos() >= transfer.nanosLeft()) {
          throw new DownloadException(e.getMessage() + "; the next attempt would come after the "
              + "deadline of " + deadline.toMillis() + " ms", uri, e.getCause());
        }
        LOG.info("{}; attempt {} of {} in {} ms", e.getMessage(), attempt + 1, retries + 1,
            pause.toMillis());
        Thread.sleep(pause.toMillis());
        attempt++;
      }
    }
  }

  /** The pause before attempt {@code attempt + 1}: doubling, capped at a minute or the base. */
  Duration backoff(int attempt) {
    Duration cap = retryBackoff.compareTo(MAX_PAUSE) > 0 ? retryBackoff : MAX_PAUSE;
    Duration pause = retryBackoff.multipliedBy(1L << Math.min(attempt - 1, 16));
    return pause.compareTo(cap) > 0 ? cap : pause;
  }

  private Path moveIntoPlace(Path part, Path blob, URI uri) {
    try {
      Files.move(part, blob, StandardCopyOption.ATOMIC_MOVE);
      return blob;
    } catch (IOException e) {
      throw new DownloadException("cannot move " + part + " to " + blob + " atomically (the "
          + "cache must be on one file system): " + e, uri, e);
    }
  }

  private interface LockedAction<T> {
    T run() throws InterruptedException;
  }

  /**
   * Runs an action holding the blob's lock across threads and processes: nos-core's one
   * {@link CrossProcessLock} (in-process lock first, then the file lock; see its essay).
   */
  private <T> T locked(String hex, URI uri, LockedAction<T> action) {
    Path lockFile = locks.resolve(hex + ".lock");
    Path key;
    try {
      key = locks.toRealPath().resolve(lockFile.getFileName());
    } catch (IOException e) {
      throw new DownloadException("cannot resolve the lock directory " + locks + ": " + e, uri, e);
    }
    try (CrossProcessLock lock = CrossProcessLock.acquire(key, Long.MAX_VALUE)) {
      return action.run();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DownloadException("interrupted while fetching " + uri, uri, e);
    } catch (TimeoutException e) {
      // No deadline is given: only a clock running past Long.MAX_VALUE ns would get here.
      throw new DownloadException("cannot lock " + lockFile + ": " + e.getMessage(), uri, e);
    } catch (IOException e) {
      if (Thread.currentThread().isInterrupted()) {
        throw new DownloadException("interrupted while fetching " + uri, uri, e);
      }
      throw new DownloadException("cannot lock " + lockFile + ": " + e, uri, e);
    }
  }

  /**
   * Reads a small document for which no digest is known (a catalog, a lock file); see
   * {@link SmallFiles#fetch}.
   */
  byte[] fetchSmall(URI uri, int maxBytes) {
    return SmallFiles.fetch(this, Checks.uri(uri), maxBytes);
  }

  private DownloadException notCached(URI uri, String hex) {
    return new DownloadException(
        "offline: " + uri + " (sha256 " + hex + ") is not in the cache " + cacheDir, uri);
  }

  private static boolean isIntact(Path blob, long expectedSize) {
    if (!Files.isRegularFile(blob)) {
      return false;
    }
    try {
      return expectedSize == UNKNOWN_SIZE || Files.size(blob) == expectedSize;
    } catch (IOException e) {
      return false;
    }
  }

  private void createDirectories(URI uri) {
    for (Path dir : new Path[] {blobs, tmp, locks}) {
      try {
        Files.createDirectories(dir);
      } catch (IOException e) {
        throw new DownloadException("cannot create the cache directory " + dir + ": " + e, uri, e);
      }
    }
  }

  private static long size(Path file) {
    try {
      return Files.size(file);
    } catch (IOException e) {
      return 0;
    }
  }

  private static void delete(Path file, URI uri) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException e) {
      throw new DownloadException("cannot delete " + file + ": " + e, uri, e);
    }
  }

  /**
   * Collects the settings of a {@link Downloader}. Each setter checks its value at once; a
   * setting made twice keeps the last value; {@link #build()} leaves the builder usable. Not
   * thread-safe.
   */
  public static final class Builder {
    private Path cacheDir;
    private HttpClient httpClient;
    private Duration connectTimeout;
    private Duration readTimeout = Duration.ofSeconds(30);
    private boolean offline;
    private DownloadListener listener = DownloadListener.NONE;
    private int retries = 3;
    private Duration retryBackoff = Duration.ofSeconds(1);
    private long maxUnknownSize = DEFAULT_MAX_UNKNOWN_SIZE;
    private Duration deadline = DEFAULT_DEADLINE;

    private Builder() {}

    /**
     * Sets the cache directory; by default the default runtime's {@link NosRuntime#cacheRoot()}
     * ({@code $XDG_CACHE_HOME/nos} when that variable holds an absolute path, else
     * {@code ~/.cache/nos}). It is created on the first download.
     *
     * @throws NullPointerException if {@code dir} is null
     */
    public Builder cacheDir(Path dir) {
      this.cacheDir = nonNull(dir, "cache directory");
      return this;
    }

    /**
     * Sets the client that sends the requests; by default one that follows redirects (except
     * from https to http) and uses the {@link #connectTimeout connect timeout}. A client that
     * does not follow redirects makes a redirect fail the download; one that gives up on a
     * chain of them (a loop, or more than the JDK's {@code jdk.httpclient.redirects.retrylimit})
     * fails it with the chain in the message.
     *
     * @throws NullPointerException if {@code client} is null
     */
    public Builder httpClient(HttpClient client) {
      this.httpClient = nonNull(client, "httpClient");
      return this;
    }

    /**
     * Sets how long to wait for a connection; 10 seconds by default. Applies to the default
     * client only: with {@link #httpClient} set, set it on that client instead.
     *
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code timeout} is zero or negative
     */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = positive(timeout, "connect timeout");
      return this;
    }

    /**
     * Sets how long to wait for the response headers, and then for each chunk of the body; 30
     * seconds by default. A transfer that stalls longer fails (and is retried, resuming).
     *
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code timeout} is zero or negative
     */
    public Builder readTimeout(Duration timeout) {
      this.readTimeout = positive(timeout, "read timeout");
      return this;
    }

    /**
     * Sets offline mode, off by default: when on, only the cache is read and a file not in it is
     * a {@link DownloadException} saying so.
     */
    public Builder offline(boolean offline) {
      this.offline = offline;
      return this;
    }

    /**
     * Sets the listener told of the progress of downloads; {@link DownloadListener#NONE} by
     * default (a library prints nothing unless asked: use {@link ConsoleProgress#create()} for a
     * progress bar).
     *
     * @throws NullPointerException if {@code listener} is null
     */
    public Builder listener(DownloadListener listener) {
      this.listener = nonNull(listener, "listener");
      return this;
    }

    /**
     * Sets how many times a transient failure is retried after the first attempt; 3 by default.
     *
     * @param retries 0 to 100
     * @throws IllegalArgumentException if {@code retries} is out of range
     */
    public Builder retries(int retries) {
      if (retries < 0 || retries > 100) {
        throw new IllegalArgumentException(
            "retries must be between 0 and 100 but was " + retries);
      }
      this.retries = retries;
      return this;
    }

    /**
     * Sets the pause before the first retry, doubled before each later one up to a minute; 1
     * second by default.
     *
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code pause} is negative or over an hour
     */
    public Builder retryBackoff(Duration pause) {
      Objects.requireNonNull(pause, "retry backoff must not be null");
      if (pause.isNegative() || pause.compareTo(Duration.ofHours(1)) > 0) {
        throw new IllegalArgumentException(
            "retry backoff must be between 0 and 1 hour but was " + pause);
      }
      this.retryBackoff = pause;
      return this;
    }

    /**
     * Sets the most bytes a download of unknown size may have;
     * {@link Downloader#DEFAULT_MAX_UNKNOWN_SIZE} (16 GiB) by default. A size is unknown when
     * {@link Downloader#fetch} is given {@link Downloader#UNKNOWN_SIZE} (a catalog artifact with
     * a digest but no size); a known size (a lock file's, a catalog's) is the bound itself, and
     * the cap does not apply. A download whose server declares more, or sends more, fails as
     * soon as it does, and what it wrote is deleted, so an endless source cannot fill the disk.
     *
     * @throws IllegalArgumentException if {@code bytes} is zero or negative
     */
    public Builder maxUnknownSize(long bytes) {
      if (bytes <= 0) {
        throw new IllegalArgumentException("max unknown size must be positive but was " + bytes);
      }
      this.maxUnknownSize = bytes;
      return this;
    }

    /**
     * Sets how long one {@link Downloader#fetch} may take overall, retries and their pauses
     * included, counted once it holds the file's lock; {@link Downloader#DEFAULT_DEADLINE}
     * (2 hours) by default. The {@link #readTimeout read timeout} bounds each wait for the
     * server; this bounds the whole, so a server that sends a byte now and then cannot keep a
     * download alive forever. A download over HTTP cut off by the deadline keeps its part, so
     * the next fetch resumes it; a pause before a retry that would end past the deadline is not
     * taken. Lock files and catalogs read over HTTP have the same deadline.
     *
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code deadline} is zero or negative
     */
    public Builder deadline(Duration deadline) {
      this.deadline = positive(deadline, "deadline");
      return this;
    }

    /**
     * Returns the downloader. Creates no directory and opens no connection.
     *
     * @throws IllegalStateException if both {@link #httpClient} and {@link #connectTimeout} were
     *     set
     */
    public Downloader build() {
      if (httpClient != null && connectTimeout != null) {
        throw new IllegalStateException("connect timeout cannot be combined with httpClient: "
            + "set it on the HttpClient's builder");
      }
      HttpClient client = httpClient != null ? httpClient : HttpClient.newBuilder()
          .connectTimeout(connectTimeout != null ? connectTimeout : Duration.ofSeconds(10))
          .followRedirects(HttpClient.Redirect.NORMAL)
          .build();
      Path dir = cacheDir != null ? cacheDir : NosRuntime.defaultRuntime().cacheRoot();
      return new Downloader(this, dir.toAbsolutePath().normalize(), client);
    }

    private static <T> T nonNull(T value, String what) {
      return Objects.requireNonNull(value, () -> what + " must not be null");
    }

    private static Duration positive(Duration value, String what) {
      Objects.requireNonNull(value, () -> what + " must not be null");
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException(what + " must be positive but was " + value);
      }
      return value;
    }
  }

  /** nos-core's one cache-root rule ({@link CacheRoot}) for this environment. */
  static Path defaultCacheDir(Map<String, String> env, String userHome) {
    return CacheRoot.of(env, userHome);
  }
}
