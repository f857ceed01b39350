package ai.nos.hub;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.HexFormat;
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

  private static byte[] get(Downloader downloader, URI uri, int maxBytes) {
    HttpRequest request =
        HttpRequest.newBuilder(uri).timeout(downloader.readTimeout()).GET().build();
    for (int attempt = 1; ; attempt++) {
      String failure;
      Exception cause = null;
      try {
        HttpResponse<InputStream> response =
            downloader.client().send(request, HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = response.body()) {
          int status = response.statusCode();
          if (status == 200) {
            return limited(in.readNBytes(maxBytes + 1), maxBytes, uri);
          }
          failure = "GET " + uri + " answered " + HttpStatus.describe(status);
          if (!HttpStatus.isTransient(status)) {
            throw new DownloadException(failure, uri);
          }
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
      try {
        Thread.sleep(downloader.backoff(attempt).toMillis());
      } catch (InterruptedException e) {
        throw interrupted(uri, e);
      }
    }
  }

  private static DownloadException interrupted(URI uri, InterruptedException e) {
    Thread.currentThread().interrupt();
    return new DownloadException("interrupted while fetching " + uri, uri, e);
  }

  private static byte[] read(Path file, int maxBytes, URI uri) {
    try (InputStream in = Files.newInputStream(file)) {
      return limited(in.readNBytes(maxBytes + 1), maxBytes, uri);
    } catch (IOException e) {
      throw new DownloadException("cannot read " + file + ": " + e, uri, e);
    }
  }

  private static byte[] limited(byte[] bytes, int maxBytes, URI uri) {
    if (bytes.length > maxBytes) {
      throw new DownloadException(uri + " is larger than " + maxBytes + " bytes", uri);
    }
    return bytes;
  }
}
