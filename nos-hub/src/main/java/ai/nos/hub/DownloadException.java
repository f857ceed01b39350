package ai.nos.hub;

import ai.nos.NosException;
import java.net.URI;
import java.util.Optional;

/**
 * A download or cache operation that failed: an HTTP error status, a connection that failed or
 * stalled, a checksum or size mismatch, a full disk, or offline mode without a cached copy.
 *
 * <p>The message is meant for people and names what was involved, e.g.
 * {@code "GET http://127.0.0.1:1234/x.pt answered 404 Not Found"} or
 * {@code "checksum mismatch for http://...: expected sha256 9f86... but got 2c26... (12 bytes);
 * the download was discarded"}.
 */
public final class DownloadException extends NosException {
  private static final long serialVersionUID = 1L;

  /** Not serializable, so kept out of the serial form. */
  private final transient URI uri;

  DownloadException(String message, URI uri) {
    super(message);
    this.uri = uri;
  }

  DownloadException(String message, URI uri, Throwable cause) {
    super(message, cause);
    this.uri = uri;
  }

  /** The URI that was being fetched, if known (empty after deserialization). */
  public Optional<URI> uri() {
    return Optional.ofNullable(uri);
  }
}
