package ai.nos.hub;

import ai.nos.internal.files.BoundedFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * Small documents fetched without a known digest: catalogs read from a URI and the lock files
 * that pin the digests of artifacts. They are trusted as the server (or the file system) gives
 * them; what they pin is then verified byte for byte by Downloader.fetch.
 *
 * Over HTTP each successful read is also kept under <cache>/meta/<sha256 of the URI>, replaced
 * atomically, so that offline mode can answer from it. Online, the server is always asked again,
 * so a republished lock file is seen at once.
 */
final class SmallFiles {

  private static final Logger LOG = LoggerFactory.getLogger(SmallFiles.class);

  private SmallFiles() {}

  /**
   * Reads a local file as it is, or GETs a URL (through the downloader's retries) and keeps a
   * copy for offline mode; offline, reads that copy.
   *
   * @throws DownloadException if it cannot be read, is a local file that is not a regular file,
   *     is not cached while offline, or is larger than {@code maxBytes}
   */
  static byte[] fetch(Downloader downloader, URI uri, int maxBytes) {
    if ("file".equalsIgnoreCase(uri.getScheme())) {
      Path file = Paths.get(uri);
      LocalFiles.regularFileSize(file, uri);
      return read(file, maxBytes, uri);
    }
    String key = HexFormat.of().formatHex(
        Transfer.sha256Digest().digest(uri.toString().getBytes(StandardCharsets.UTF_8)));
    Path meta = downloader.metaDir();
    Path copy = meta.resolve(key);
    if (downloader.isOffline()) {
      if (!Files.isRegularFile(copy)) {
        throw new DownloadException(
            "offline: " + uri + " is not in the cache " + downloader.cacheDir(), uri);
      }
      return read(copy, maxBytes, uri);
    }
    byte[] bytes = get(downloader, uri, maxBytes);
    try {
      Files.createDirectories(meta);
      Path temp = Files.createTempFile(meta, key, ".tmp");
      Files.write(temp, bytes);
      Files.move(temp, copy, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      LOG.warn("cannot keep a copy of {} for offline use in {}: {}", uri, meta, e.toString());
    }
    return bytes;
  }

  /**
   * GETs the document with the downloader's retries, each wait for the server bounded by the
   * read timeout (a BodyReader: the stream of ofInputStream has no timeout) and the whole by
   * the deadline, as for any download.
   */
  private static byte[] get(Downloader downloader, URI uri, int maxBytes) {
    long deadline = downloader.deadlineFromNow();
    for (int attempt = 1; ; attempt++) {
      String failure;
      Exception cause = null;
      try {
        Duration wait = wait(downloader, deadline, uri);
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(wait).GET().build();
        HttpResponse<Flow.Publisher<List<ByteBuffer>>> response;
        try {
          response = downloader.client().send(request, HttpResponse.BodyHandlers.ofPublisher());
        } catch (HttpTimeoutException e) {
          if (wait.compareTo(downloader.readTimeout()) < 0) {
            throw pastDeadline(downloader, uri);
          }
          throw e;
        }
        BodyReader body = new BodyReader();
        response.body().subscribe(body);
        try {
          int status = response.statusCode();
          if (status == 200) {
            return read(downloader, body, deadline, uri, maxBytes);
          }
          failure = "GET " + uri + " answered " + HttpStatus.describe(status);
          if (!HttpStatus.isTransient(status)) {
            throw new DownloadException(failure, uri);
          }
        } finally {
          body.cancel();
        }
      } catch (IOException e) {
        failure = "GET " + uri + " failed: " + Transfer.describe(e);
        cause = e;
      } catch (InterruptedException e) {
        throw interrupted(uri, e);
      }
      if (attempt > downloader.retries()) {
        String tries = attempt == 1 ? "" : " (gave up after " + attempt + " attempts)";
        throw new DownloadException(failure + tries, uri, cause);
      }
      long pause = downloader.backoff(attempt).toNanos();
      if (pause >= deadline - System.nanoTime()) {
        throw new DownloadException(failure + "; the next attempt would come after the deadline "
            + "of " + downloader.deadline().toMillis() + " ms", uri, cause);
      }
      try {
        TimeUnit.NANOSECONDS.sleep(pause);
      } catch (InterruptedException e) {
        throw interrupted(uri, e);
      }
    }
  }

  /** The body, at most {@code maxBytes} of it. */
  private static byte[] read(Downloader downloader, BodyReader body, long deadline, URI uri,
      int maxBytes) throws IOException, InterruptedException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    while (true) {
      Duration wait = wait(downloader, deadline, uri);
      ByteBuffer chunk;
      try {
        chunk = body.next(wait);
      } catch (HttpTimeoutException e) {
        if (wait.compareTo(downloader.readTimeout()) < 0) {
          throw pastDeadline(downloader, uri);
        }
        throw e;
      }
      if (chunk == null) {
        return bytes.toByteArray();
      }
      if (bytes.size() + chunk.remaining() > maxBytes) {
        throw new DownloadException(uri + " is larger than " + maxBytes + " bytes", uri);
      }
      byte[] copy = new byte[chunk.remaining()];
      chunk.get(copy);
      bytes.write(copy, 0, copy.length);
    }
  }

  /** The read timeout, or less where the deadline comes first; throws once it has passed. */
  private static Duration wait(Downloader downloader, long deadline, URI uri) {
    long left = deadline - System.nanoTime();
    if (left <= 0) {
      throw pastDeadline(downloader, uri);
    }
    Duration readTimeout = downloader.readTimeout();
    return left < readTimeout.toNanos() ? Duration.ofNanos(left) : readTimeout;
  }

  private static DownloadException pastDeadline(Downloader downloader, URI uri) {
    return new DownloadException("GET " + uri + " did not finish within the deadline of "
        + downloader.deadline().toMillis() + " ms", uri);
  }

  private static DownloadException interrupted(URI uri, InterruptedException e) {
    Thread.currentThread().interrupt();
    return new DownloadException("interrupted while fetching " + uri, uri, e);
  }

  private static byte[] read(Path file, int maxBytes, URI uri) {
    try {
      byte[] bytes = BoundedFiles.readAtMost(file, maxBytes);
      if (bytes == null) {
        throw new DownloadException(uri + " is larger than " + maxBytes + " bytes", uri);
      }
      return bytes;
    } catch (IOException e) {
      throw new DownloadException("cannot read " + file + ": " + e, uri, e);
    }
  }
}
