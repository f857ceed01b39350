package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

final class ConsoleProgressTest {

  private static final URI URI_ = URI.create("https://example.org/models/resnet50.pt");
  private static final long MIB = 1 << 20;

  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final AtomicLong nanos = new AtomicLong();
  private final ConsoleProgress progress = new ConsoleProgress(
      new PrintStream(bytes, true, StandardCharsets.UTF_8), 10 * MIB, Duration.ofMillis(200),
      nanos::get);

  private String out() {
    return bytes.toString(StandardCharsets.UTF_8);
  }

  @Test
  void smallFile_drawsNothing() {
    progress.started(URI_, 5 * MIB, 0);
    progress.progress(URI_, 5 * MIB, 5 * MIB);
    progress.finished(URI_, Path.of("x"));
    assertEquals("", out());
  }

  @Test
  void largeFile_barRateLimitedAndEndedByFinished() {
    progress.started(URI_, 100 * MIB, 0);
    nanos.set(1_000_000_000L);
    progress.progress(URI_, 50 * MIB, 100 * MIB);
    progress.progress(URI_, 51 * MIB, 100 * MIB);
    nanos.addAndGet(100_000_000L);
    progress.progress(URI_, 52 * MIB, 100 * MIB);
    assertEquals(1, out().chars().filter(c -> c == '\r').count(), "redrawn within 200 ms");
    assertTrue(out().startsWith("\rresnet50.pt [===============>              ]  50%  "
        + "50.0/100.0 MiB  50.0 MiB/s"), out());
    nanos.addAndGet(100_000_000L);
    progress.progress(URI_, 60 * MIB, 100 * MIB);
    assertEquals(2, out().chars().filter(c -> c == '\r').count());
    progress.finished(URI_, Path.of("x"));
    assertTrue(out().endsWith("] 100%  100.0/100.0 MiB  83.3 MiB/s" + System.lineSeparator()),
        out());
  }

  @Test
  void failed_endsTheLine() {
    progress.started(URI_, 100 * MIB, 0);
    nanos.set(1_000_000_000L);
    progress.progress(URI_, 20 * MIB, 100 * MIB);
    progress.failed(URI_, new DownloadException("boom", URI_));
    assertTrue(out().endsWith(System.lineSeparator()), out());
  }

  @Test
  void create_invalid_rejected() {
    assertThrows(IllegalArgumentException.class,
        () -> ConsoleProgress.create(System.err, -1, Duration.ZERO));
    assertThrows(IllegalArgumentException.class,
        () -> ConsoleProgress.create(null, 0, Duration.ZERO));
  }
}
