package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What bounds a download: the expected size, the cap on a download of unknown size, the
 * deadline, the refusal of sources that are not regular files, interrupts, and redirects. Every
 * server loop here is bounded, so a test that fails still ends.
 */
final class DownloaderLimitsTest {

  private static final byte[] BODY = Fixtures.bytes(300_000, 7);
  private static final String SHA = Fixtures.sha256(BODY);
  private static final long MIB = 1024 * 1024;

  @TempDir Path cache;
  private TestServer server;

  @BeforeEach
  void start() throws Exception {
    server = new TestServer();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private Downloader.Builder downloader() {
    return Downloader.builder().cacheDir(cache).retries(0).retryBackoff(Duration.ZERO)
        .readTimeout(Duration.ofSeconds(10));
  }

  private Path part(String sha) {
    return cache.resolve("tmp").resolve(sha + ".part");
  }

  /**
   * A chunked body (no Content-Length) of 64 KiB chunks that goes on until the client hangs up
   * or {@code limit} bytes were sent; {@code sent} counts them.
   */
  private static TestServer.Behaviour endless(long limit, AtomicLong sent) {
    byte[] chunk = Fixtures.bytes(64 * 1024, 3);
    return (exchange, nth) -> {
      exchange.sendResponseHeaders(200, 0);
      OutputStream out = exchange.getResponseBody();
      while (sent.get() < limit) {
        out.write(chunk);
        sent.addAndGet(chunk.length);
      }
    };
  }

  /** Declares {@code body}'s length, then sends one byte every {@code millis}, at most
   * {@code bytes} of them, and drops the connection. */
  private static TestServer.Behaviour trickle(byte[] body, int bytes, long millis) {
    return (exchange, nth) -> {
      exchange.sendResponseHeaders(200, body.length);
      OutputStream out = exchange.getResponseBody();
      for (int i = 0; i < bytes; i++) {
        out.write(body[i]);
        out.flush();
        sleep(millis);
      }
      throw new IOException("trickle ended after " + bytes + " bytes on purpose");
    };
  }

  private static void sleep(long millis) throws IOException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  private static TestServer.Behaviour redirect(String to) {
    return (HttpExchange exchange, int nth) -> {
      exchange.getResponseHeaders().set("Location", to);
      exchange.sendResponseHeaders(302, -1);
    };
  }

  // ---- sizes ----

  @Test
  void fetch_endlessBodyOfKnownSize_refusedOncePastTheSize() throws Exception {
    AtomicLong sent = new AtomicLong();
    server.on("/m.pt", endless(64 * MIB, sent));
    URI uri = server.uri("/m.pt");
    RecordingListener events = new RecordingListener();
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().listener(events).build().fetch(uri, SHA, BODY.length));
    assertEquals(uri + " has more than the expected " + BODY.length
        + " bytes; the download was discarded", e.getMessage());
    assertTrue(maxProgress(events) <= BODY.length, events.events.toString());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
    assertEquals(List.of(), Fixtures.files(cache.resolve("blobs")));
  }

  @Test
  void fetch_endlessBodyOfUnknownSize_refusedAtTheCap() throws Exception {
    AtomicLong sent = new AtomicLong();
    server.on("/m.pt", endless(64 * MIB, sent));
    URI uri = server.uri("/m.pt");
    RecordingListener events = new RecordingListener();
    DownloadException e = assertThrows(DownloadException.class, () -> downloader()
        .maxUnknownSize(MIB).listener(events).build().fetch(uri, SHA, Downloader.UNKNOWN_SIZE));
    assertEquals(uri + " has more than " + MIB + " bytes, the most a download of unknown size "
        + "may have (Downloader.Builder.maxUnknownSize); the download was discarded",
        e.getMessage());
    assertTrue(maxProgress(events) <= MIB, events.events.toString());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_declaredLengthOverTheCap_refusedBeforeTheBody() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class, () -> downloader()
        .maxUnknownSize(1000).build().fetch(uri, SHA, Downloader.UNKNOWN_SIZE));
    assertEquals("GET " + uri + " answered 200 OK with Content-Length " + BODY.length
        + ", more than the 1000 bytes a download of unknown size may have "
        + "(Downloader.Builder.maxUnknownSize)", e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_localFileOverTheCap_refusedBeforeReading(@TempDir Path dir) throws Exception {
    Path source = dir.resolve("big.pt");
    Files.write(source, BODY);
    DownloadException e = assertThrows(DownloadException.class, () -> downloader()
        .maxUnknownSize(1000).build().fetch(source.toUri(), SHA, Downloader.UNKNOWN_SIZE));
    assertEquals("file " + source + " has " + BODY.length + " bytes, more than the 1000 bytes a "
        + "download of unknown size may have (Downloader.Builder.maxUnknownSize)",
        e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_unknownSizeUnderTheCap_stillVerified() throws Exception {
    server.on("/m.pt", TestServer.chunked(BODY));
    Path path = downloader().maxUnknownSize(BODY.length).build()
        .fetch(server.uri("/m.pt"), SHA, Downloader.UNKNOWN_SIZE);
    assertEquals(BODY.length, Files.size(path));
  }

  private static long maxProgress(RecordingListener events) {
    synchronized (events.events) {
      return events.events.stream().filter(s -> s.startsWith("progress "))
          .mapToLong(s -> Long.parseLong(s.split(" ")[1])).max().orElse(0);
    }
  }

  // ---- deadline ----

  @Test
  void fetch_trickleServer_failsAtTheDeadline() throws Exception {
    byte[] body = Fixtures.bytes(1000, 5);
    String sha = Fixtures.sha256(body);
    // 100 bytes over 10 s: each read comes well within the read timeout, and the first long
    // before the deadline.
    server.on("/m.pt", trickle(body, 100, 100));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class, () -> downloader()
        .retries(3).deadline(Duration.ofSeconds(1)).build().fetch(uri, sha, body.length));
    String m = e.getMessage();
    assertTrue(m.startsWith("GET " + uri + " did not finish within the deadline of 1000 ms ("),
        m);
    assertTrue(m.endsWith(" of 1000 bytes received); the partial download is kept for "
        + "resuming"), m);
    long kept = Files.size(part(sha));
    assertTrue(kept > 0 && kept < 100, "kept " + kept);
    assertEquals(1, server.requests().size(), "a deadline is not retried");
  }

  @Test
  void fetchSmall_trickleServer_failsAtTheDeadline() {
    byte[] lock = Fixtures.bytes(1000, 4);
    server.on("/m.pt.lock.json", trickle(lock, 100, 100));
    URI uri = server.uri("/m.pt.lock.json");
    DownloadException e = assertThrows(DownloadException.class, () -> downloader().retries(3)
        .deadline(Duration.ofSeconds(1)).build().fetchSmall(uri, 4096));
    assertEquals("GET " + uri + " did not finish within the deadline of 1000 ms",
        e.getMessage());
    assertEquals(1, server.requests().size(), "a deadline is not retried");
  }

  @Test
  void fetchSmall_stalledBody_readTimeout() {
    byte[] lock = Fixtures.bytes(1000, 4);
    server.on("/m.pt.lock.json", TestServer.stalling(lock, 10, 3000));
    URI uri = server.uri("/m.pt.lock.json");
    DownloadException e = assertThrows(DownloadException.class, () -> downloader()
        .readTimeout(Duration.ofMillis(300)).build().fetchSmall(uri, 4096));
    assertTrue(e.getMessage().contains("no data for 300 ms"), e.getMessage());
  }

  @Test
  void fetch_deadlinePassedDuringBackoff_failsWithoutAnotherAttempt() {
    server.on("/m.pt", TestServer.status(503));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class, () -> downloader().retries(1)
        .retryBackoff(Duration.ofSeconds(20)).deadline(Duration.ofSeconds(3)).build()
        .fetch(uri, SHA, BODY.length));
    assertEquals("GET " + uri + " answered 503 Service Unavailable; the next attempt would "
        + "come after the deadline of 3000 ms", e.getMessage());
    assertEquals(1, server.requests().size());
  }

  // ---- sources that are not regular files ----

  /** A FIFO in {@code dir}, or the test is skipped where mkfifo is missing. */
  private static Path fifo(Path dir) throws Exception {
    Path fifo = dir.resolve("pipe");
    Process mkfifo;
    try {
      mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
    } catch (IOException e) {
      Assumptions.abort("needs mkfifo: " + e);
      return null;
    }
    Assumptions.assumeTrue(mkfifo.waitFor(10, TimeUnit.SECONDS) && mkfifo.exitValue() == 0,
        "mkfifo failed");
    return fifo;
  }

  /**
   * Runs {@code read} of {@code fifo} on a thread of its own and returns what it threw; fails
   * if it blocks, after unblocking it with a writer that closes at once.
   */
  private static Throwable readingFifo(Path fifo, Runnable read) throws Exception {
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        read.run();
      } catch (Throwable e) {
        thrown.set(e);
      }
    }, "read-fifo");
    t.start();
    t.join(5_000);
    if (t.isAlive()) {
      try (var w = Files.newOutputStream(fifo, StandardOpenOption.WRITE)) {
        w.flush();
      }
      t.join(5_000);
      fail("reading a FIFO blocked opening it");
    }
    return thrown.get();
  }

  @Test
  void fetch_fifo_refusedAtOnce(@TempDir Path dir) throws Exception {
    Path fifo = fifo(dir);
    Throwable e = readingFifo(fifo,
        () -> downloader().build().fetch(fifo.toUri(), SHA, Downloader.UNKNOWN_SIZE));
    assertTrue(e instanceof DownloadException, String.valueOf(e));
    assertEquals(fifo + " is not a regular file but a FIFO; only regular files can be fetched ("
        + fifo.toUri() + ")", e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetchSmall_fifo_refusedAtOnce(@TempDir Path dir) throws Exception {
    Path fifo = fifo(dir);
    Throwable e = readingFifo(fifo, () -> downloader().build().fetchSmall(fifo.toUri(), 1000));
    assertTrue(e instanceof DownloadException, String.valueOf(e));
    assertEquals(fifo + " is not a regular file but a FIFO; only regular files can be fetched ("
        + fifo.toUri() + ")", e.getMessage());
  }

  @Test
  void fetch_directory_refused(@TempDir Path dir) {
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(dir.toUri(), SHA, Downloader.UNKNOWN_SIZE));
    assertEquals(dir + " is not a regular file but a directory; only regular files can be "
        + "fetched (" + dir.toUri() + ")", e.getMessage());
  }

  @Test
  void fetch_characterDevice_refused() {
    Path zero = Path.of("/dev/zero");
    Assumptions.assumeTrue(Files.exists(zero), "needs /dev/zero");
    // The known size bounds the copy even where the check is missing.
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(zero.toUri(), SHA, 1000));
    assertEquals(zero + " is not a regular file but a character device; only regular files can "
        + "be fetched (" + zero.toUri() + ")", e.getMessage());
  }

  // ---- interrupts ----

  @Test
  void fetch_interruptedByAnotherThread_stopsAndKeepsThePartForResuming() throws Exception {
    byte[] body = Fixtures.bytes(1000, 6);
    String sha = Fixtures.sha256(body);
    server.on("/m.pt", trickle(body, 100, 100));
    URI uri = server.uri("/m.pt");
    CountDownLatch receiving = new CountDownLatch(1);
    DownloadListener listener = new DownloadListener() {
      @Override
      public void progress(URI u, long bytesSoFar, long totalBytes) {
        receiving.countDown();
      }
    };
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    AtomicBoolean flag = new AtomicBoolean();
    Downloader d = downloader().listener(listener).build();
    Thread t = new Thread(() -> {
      try {
        d.fetch(uri, sha, body.length);
      } catch (Throwable e) {
        thrown.set(e);
      }
      flag.set(Thread.currentThread().isInterrupted());
    }, "fetch-interrupted");
    t.start();
    assertTrue(receiving.await(10, TimeUnit.SECONDS));
    t.interrupt();
    t.join(5_000);
    assertFalse(t.isAlive(), "the fetch did not stop after an interrupt");
    assertTrue(flag.get(), "the interrupt flag was not kept");
    String m = thrown.get().getMessage();
    assertTrue(thrown.get() instanceof DownloadException, String.valueOf(thrown.get()));
    assertTrue(m.startsWith("interrupted while fetching " + uri + " after "), m);
    assertTrue(m.endsWith("; the partial download is kept for resuming"), m);
    assertTrue(Files.size(part(sha)) > 0);
  }

  /** Interrupts the fetching thread itself once {@code after} bytes have arrived. */
  private static DownloadListener interruptAfter(long after) {
    return new DownloadListener() {
      @Override
      public void progress(URI u, long bytesSoFar, long totalBytes) {
        if (bytesSoFar >= after) {
          Thread.currentThread().interrupt();
        }
      }
    };
  }

  @Test
  void fetch_interruptedWhileReceiving_stopsWithTheFlagSetAndThePartKept() throws Exception {
    byte[] body = Fixtures.bytes(4 * 1024 * 1024, 8);
    String sha = Fixtures.sha256(body);
    server.on("/m.pt", TestServer.bytes(body));
    URI uri = server.uri("/m.pt");
    Downloader d = downloader().listener(interruptAfter(1)).build();
    DownloadException e =
        assertThrows(DownloadException.class, () -> d.fetch(uri, sha, body.length));
    assertTrue(Thread.interrupted(), "the interrupt flag was not kept");
    assertTrue(e.getMessage().startsWith("interrupted while fetching " + uri + " after "),
        e.getMessage());
    long kept = Files.size(part(sha));
    assertTrue(kept > 0 && kept < body.length, "kept " + kept);

    Path path = downloader().build().fetch(uri, sha, body.length);
    assertEquals(body.length, Files.size(path));
    assertEquals("bytes=" + kept + "-", server.requests().get(1).range());
  }

  @Test
  void fetch_localFileInterrupted_stopsWithTheFlagSetAndNothingKept(@TempDir Path dir)
      throws Exception {
    byte[] body = Fixtures.bytes(4 * 1024 * 1024, 9);
    Path source = dir.resolve("model.pt");
    Files.write(source, body);
    Downloader d = downloader().listener(interruptAfter(1)).build();
    DownloadException e = assertThrows(DownloadException.class,
        () -> d.fetch(source.toUri(), Fixtures.sha256(body), body.length));
    assertTrue(Thread.interrupted(), "the interrupt flag was not kept");
    assertTrue(e.getMessage().startsWith("interrupted while fetching " + source.toUri()
        + " after "), e.getMessage());
    assertTrue(e.getMessage().endsWith("; nothing was kept"), e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  // ---- redirects ----

  @Test
  void fetch_redirectLoop_saysSo() {
    server.on("/a", redirect("/b")).on("/b", redirect("/a"));
    URI a = server.uri("/a");
    URI b = server.uri("/b");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(a, SHA, BODY.length));
    int followed = server.requests().size() - 1;
    assertEquals("GET " + a + ": redirect loop " + a + " -> " + b + " -> " + a
        + " (the HttpClient gave up after following " + followed + " redirects)",
        e.getMessage());
  }

  @Test
  void fetch_tooManyRedirects_listsThem() {
    for (int i = 0; i < 20; i++) {
      server.on("/r" + i, redirect("/r" + (i + 1)));
    }
    URI first = server.uri("/r0");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(first, SHA, BODY.length));
    int followed = server.requests().size() - 1;
    StringBuilder chain = new StringBuilder(first.toString());
    for (int i = 1; i <= followed + 1; i++) {
      chain.append(" -> ").append(server.uri("/r" + i));
    }
    assertEquals("GET " + first + ": too many redirects " + chain
        + " (the HttpClient gave up after following " + followed + " redirects)",
        e.getMessage());
  }

  @Test
  void fetch_redirectWithClientThatDoesNotFollow_saysSo() {
    server.on("/a", redirect("/b"));
    URI a = server.uri("/a");
    HttpClient never = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().httpClient(never).build().fetch(a, SHA, BODY.length));
    assertEquals("GET " + a + " answered 302 Found (to /b); the HttpClient does not follow "
        + "redirects", e.getMessage());
  }

  // ---- settings ----

  @Test
  void builder_limits_validated() {
    assertEquals("max unknown size must be positive but was 0",
        assertThrows(IllegalArgumentException.class,
            () -> Downloader.builder().maxUnknownSize(0)).getMessage());
    assertEquals("deadline must be positive but was PT-1S",
        assertThrows(IllegalArgumentException.class,
            () -> Downloader.builder().deadline(Duration.ofSeconds(-1))).getMessage());
    assertEquals("deadline must not be null",
        assertThrows(NullPointerException.class,
            () -> Downloader.builder().deadline(null)).getMessage());
  }

  @Test
  void builder_defaults_documented() {
    Downloader d = Downloader.builder().cacheDir(cache).build();
    assertEquals(Downloader.DEFAULT_MAX_UNKNOWN_SIZE, d.maxUnknownSize());
    assertEquals(Downloader.DEFAULT_DEADLINE, d.deadline());
    assertEquals(16L << 30, Downloader.DEFAULT_MAX_UNKNOWN_SIZE);
    assertEquals(Duration.ofHours(2), Downloader.DEFAULT_DEADLINE);
  }
}
