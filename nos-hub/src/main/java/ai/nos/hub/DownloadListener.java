package ai.nos.hub;

import java.net.URI;
import java.nio.file.Path;

/**
 * Hears how the downloads of a {@link Downloader} progress, e.g. to draw a progress bar
 * ({@link ConsoleProgress}) or to log.
 *
 * <p>For one call of {@link Downloader#fetch}, the events come on the calling thread in this
 * order: for each attempt that reaches the server, {@link #started} then any number of
 * {@link #progress}; then either {@link #finished} or, if the fetch fails, {@link #failed}. A
 * cache hit reports only {@link #finished}. Concurrent fetches report concurrently, so an
 * implementation shared by threads must be thread-safe.
 *
 * <p>Every method does nothing by default. An exception thrown by a listener is logged and
 * otherwise ignored: it never fails a download.
 */
public interface DownloadListener {

  /** A listener that ignores every event. */
  DownloadListener NONE = new DownloadListener() {};

  /**
   * An attempt began to receive bytes.
   *
   * @param uri what is fetched
   * @param totalBytes the size of the whole file, or {@link Downloader#UNKNOWN_SIZE} if neither
   *     the caller nor the server said
   * @param resumedFrom the number of bytes kept from an earlier, interrupted attempt; 0 when the
   *     transfer starts from the beginning
   */
  default void started(URI uri, long totalBytes, long resumedFrom) {}

  /**
   * Bytes arrived. Called after every chunk written, so often; rate-limit any output.
   *
   * @param uri what is fetched
   * @param bytesSoFar the bytes of the file now on disk, including any resumed from
   * @param totalBytes as in {@link #started}
   */
  default void progress(URI uri, long bytesSoFar, long totalBytes) {}

  /**
   * The file is verified and in the cache.
   *
   * @param uri what was fetched
   * @param path the cached file
   */
  default void finished(URI uri, Path path) {}

  /**
   * The fetch failed; the exception is about to be thrown to the caller.
   *
   * @param uri what was fetched
   * @param error the exception
   */
  default void failed(URI uri, DownloadException error) {}
}
