package ai.nos.hub;

import java.net.URI;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwards download events, swallowing what the listener throws: the first failure is logged
 * with its stack trace, later ones (progress comes per chunk) only at debug level.
 */
final class SafeListener implements DownloadListener {

  private static final Logger LOG = LoggerFactory.getLogger(SafeListener.class);

  private final DownloadListener delegate;
  private final AtomicBoolean warned = new AtomicBoolean();

  SafeListener(DownloadListener delegate) {
    this.delegate = delegate;
  }

  @Override
  public void started(URI uri, long totalBytes, long resumedFrom) {
    guard(() -> delegate.started(uri, totalBytes, resumedFrom));
  }

  @Override
  public void progress(URI uri, long bytesSoFar, long totalBytes) {
    guard(() -> delegate.progress(uri, bytesSoFar, totalBytes));
  }

  @Override
  public void finished(URI uri, Path path) {
    guard(() -> delegate.finished(uri, path));
  }

  @Override
  public void failed(URI uri, DownloadException error) {
    guard(() -> delegate.failed(uri, error));
  }

  private void guard(Runnable event) {
    try {
      event.run();
    } catch (RuntimeException e) {
      if (warned.compareAndSet(false, true)) {
        LOG.warn("download listener {} threw; ignored (later failures are logged at debug)",
            delegate, e);
      } else {
        LOG.debug("download listener {} threw; ignored", delegate, e);
      }
    }
  }
}
