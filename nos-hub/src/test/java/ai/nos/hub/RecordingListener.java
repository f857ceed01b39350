package ai.nos.hub;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Records download events as text, e.g. {@code "started 0"}, {@code "progress 10 of 20"}. */
final class RecordingListener implements DownloadListener {

  final List<String> events = Collections.synchronizedList(new ArrayList<>());

  @Override
  public void started(URI uri, long totalBytes, long resumedFrom) {
    events.add("started " + resumedFrom);
  }

  @Override
  public void progress(URI uri, long bytesSoFar, long totalBytes) {
    events.add("progress " + bytesSoFar + " of " + totalBytes);
  }

  @Override
  public void finished(URI uri, Path path) {
    events.add("finished " + path);
  }

  @Override
  public void failed(URI uri, DownloadException error) {
    events.add("failed");
  }

  /** The events other than progress, with the path of finished left out. */
  List<String> milestones() {
    synchronized (events) {
      return events.stream().filter(e -> !e.startsWith("progress"))
          .map(e -> e.startsWith("finished") ? "finished" : e).toList();
    }
  }
}
