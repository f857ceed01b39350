package ai.nos.hub;

import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Draws a one-line progress bar for large downloads, redrawn in place with a carriage return:
 *
 * <pre>
 * model.pt [=============&gt;                ]  45%  45.2/97.8 MiB  12.3 MiB/s
 * </pre>
 *
 * <p>Only files of at least a threshold size get a bar (10 MiB by default; of unknown size, once
 * that much arrived), and the line is redrawn at most once per interval (200 ms by default), so
 * small files and fast loops print nothing. A finished download ends its line; a failed one ends
 * it too and leaves the message to the exception.
 *
 * <p>Thread-safe; concurrent downloads share the line, each redraw showing the latest.
 */
public final class ConsoleProgress implements DownloadListener {

  /** The default threshold: files smaller than this get no bar. */
  public static final long DEFAULT_MIN_BYTES = 10L << 20;

  /** The default shortest time between two redraws. */
  public static final Duration DEFAULT_INTERVAL = Duration.ofMillis(200);

  private static final int BAR = 30;
  private static final int NAME = 24;

  private final PrintStream out;
  private final long minBytes;
  private final long intervalNanos;
  private final LongSupplier nanoTime;
  private final Map<URI, Bar> bars = new ConcurrentHashMap<>();
  private int lastWidth;

  ConsoleProgress(PrintStream out, long minBytes, Duration interval, LongSupplier nanoTime) {
    this.out = out;
    this.minBytes = minBytes;
    this.intervalNanos = interval.toNanos();
    this.nanoTime = nanoTime;
  }

  /** A listener drawing on {@code System.err} with the default threshold and interval. */
  public static ConsoleProgress create() {
    return create(System.err, DEFAULT_MIN_BYTES, DEFAULT_INTERVAL);
  }

  /**
   * A listener drawing on the given stream.
   *
   * @param out where to draw, usually {@code System.err}
   * @param minBytes files smaller than this get no bar; {@code >= 0}
   * @param interval the shortest time between two redraws; {@code >= 0}
   * @throws IllegalArgumentException if {@code out} or {@code interval} is null or a value is
   *     negative
   */
  public static ConsoleProgress create(PrintStream out, long minBytes, Duration interval) {
    if (out == null) {
      throw new IllegalArgumentException("out must not be null");
    }
    if (minBytes < 0) {
      throw new IllegalArgumentException("minBytes must be >= 0 but was " + minBytes);
    }
    if (interval == null || interval.isNegative()) {
      throw new IllegalArgumentException("interval must be >= 0 but was " + interval);
    }
    return new ConsoleProgress(out, minBytes, interval, System::nanoTime);
  }

  @Override
  public void started(URI uri, long totalBytes, long resumedFrom) {
    if (totalBytes == Downloader.UNKNOWN_SIZE || totalBytes >= minBytes) {
      bars.put(uri, new Bar(name(uri), totalBytes, resumedFrom, nanoTime.getAsLong()));
    } else {
      bars.remove(uri);
    }
  }

  @Override
  public void progress(URI uri, long bytesSoFar, long totalBytes) {
    Bar bar = bars.get(uri);
    if (bar == null || bytesSoFar < minBytes && totalBytes == Downloader.UNKNOWN_SIZE) {
      return;
    }
    long now = nanoTime.getAsLong();
    if (bar.drawnAt == Long.MIN_VALUE || now - bar.drawnAt >= intervalNanos) {
      bar.drawnAt = now;
      draw(bar, bytesSoFar, now, false);
    }
  }

  @Override
  public void finished(URI uri, Path path) {
    Bar bar = bars.remove(uri);
    if (bar != null && bar.drawnAt != Long.MIN_VALUE) {
      long size = bar.total != Downloader.UNKNOWN_SIZE ? bar.total : path.toFile().length();
      draw(bar, size, nanoTime.getAsLong(), true);
    }
  }

  @Override
  public void failed(URI uri, DownloadException error) {
    Bar bar = bars.remove(uri);
    if (bar != null && bar.drawnAt != Long.MIN_VALUE) {
      synchronized (this) {
        out.println();
        lastWidth = 0;
        out.flush();
      }
    }
  }

  private synchronized void draw(Bar bar, long bytes, long now, boolean last) {
    StringBuilder line = new StringBuilder(bar.name);
    if (bar.total > 0) {
      int filled = (int) Math.min(BAR, bytes * BAR / bar.total);
      line.append(" [").append("=".repeat(filled));
      if (filled < BAR) {
        line.append('>').append(" ".repeat(BAR - filled - 1));
      }
      line.append("] ").append(String.format(Locale.ROOT, "%3d%%", bytes * 100 / bar.total))
          .append("  ").append(mib(bytes)).append('/').append(mib(bar.total)).append(" MiB");
    } else {
      line.append("  ").append(mib(bytes)).append(" MiB");
    }
    double seconds = (now - bar.startedAt) / 1e9;
    if (seconds > 0) {
      line.append("  ").append(mib((long) ((bytes - bar.resumedFrom) / seconds))).append(" MiB/s");
    }
    int width = line.length();
    while (line.length() < lastWidth) {
      line.append(' ');
    }
    out.print('\r');
    out.print(line);
    if (last) {
      out.println();
      lastWidth = 0;
    } else {
      lastWidth = width;
    }
    out.flush();
  }

  private static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.1f", bytes / (double) (1 << 20));
  }

  private static String name(URI uri) {
    String path = uri.getPath() == null ? uri.toString() : uri.getPath();
    String name = path.substring(path.lastIndexOf('/') + 1);
    if (name.isEmpty()) {
      name = uri.toString();
    }
    return name.length() <= NAME ? name : "..." + name.substring(name.length() - NAME + 3);
  }

  /** One download being drawn; drawnAt is touched by the downloading thread only. */
  private static final class Bar {
    final String name;
    final long total;
    final long resumedFrom;
    final long startedAt;
    volatile long drawnAt = Long.MIN_VALUE;

    Bar(String name, long total, long resumedFrom, long startedAt) {
      this.name = name;
      this.total = total;
      this.resumedFrom = resumedFrom;
      this.startedAt = startedAt;
    }
  }
}
