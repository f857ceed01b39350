package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

final class DownloaderTest {

  private static final byte[] BODY = Fixtures.bytes(300_000, 1);
  private static final String SHA = Fixtures.sha256(BODY);
  private static final String WRONG = "0".repeat(64);

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

  private Path blob(String sha) {
    return cache.resolve("blobs/sha256").resolve(sha);
  }

  @Test
  void fetch_servedFile_verifiedInBlobs() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    Path path = downloader().build().fetch(server.uri("/m.pt"), SHA, BODY.length);
    assertEquals(blob(SHA), path);
    assertArrayEquals(BODY, Files.readAllBytes(path));
    assertEquals(List.of(new TestServer.Request("/m.pt", null)), server.requests());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_upperCaseDigestAndUnknownSize_accepted() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    Path path = downloader().build()
        .fetch(server.uri("/m.pt"), SHA.toUpperCase(), Downloader.UNKNOWN_SIZE);
    assertEquals(blob(SHA), path);
  }

  @Test
  void fetch_cached_noSecondRequest() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    Downloader d = downloader().build();
    Path first = d.fetch(server.uri("/m.pt"), SHA, BODY.length);
    Path second = d.fetch(server.uri("/other-name.pt"), SHA, BODY.length);
    assertEquals(first, second);
    assertEquals(1, server.requests().size());
    assertEquals(first, d.cached(SHA).orElseThrow());
  }

  @Test
  void fetch_cachedFileOfWrongSize_deletedAndFetchedAgain() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    Files.createDirectories(blob(SHA).getParent());
    Files.write(blob(SHA), new byte[] {1, 2, 3});
    Path path = downloader().build().fetch(server.uri("/m.pt"), SHA, BODY.length);
    assertArrayEquals(BODY, Files.readAllBytes(path));
    assertEquals(1, server.requests().size());
  }

  @Test
  void fetch_interruptedTransfer_resumesWithRange() throws Exception {
    int cut = 100_000;
    server.on("/m.pt", TestServer.cutOnce(BODY, cut));
    RecordingListener events = new RecordingListener();
    Path path = downloader().retries(1).listener(events).build()
        .fetch(server.uri("/m.pt"), SHA, BODY.length);
    assertArrayEquals(BODY, Files.readAllBytes(path));
    List<TestServer.Request> requests = server.requests();
    assertEquals(2, requests.size(), requests.toString());
    assertNull(requests.get(0).range());
    assertEquals("bytes=" + cut + "-", requests.get(1).range());
    assertEquals(List.of("started 0", "started " + cut, "finished"), events.milestones());
  }

  @Test
  void fetch_interruptedWithoutRetries_keepsPartAndNextFetchResumes() throws Exception {
    int cut = 120_000;
    server.on("/m.pt", TestServer.cutOnce(BODY, cut));
    Downloader d = downloader().build();
    URI uri = server.uri("/m.pt");
    DownloadException e =
        assertThrows(DownloadException.class, () -> d.fetch(uri, SHA, BODY.length));
    assertTrue(e.getMessage().startsWith("GET " + uri + " failed"), e.getMessage());
    assertEquals(uri, e.uri().orElseThrow());
    Path part = cache.resolve("tmp").resolve(SHA + ".part");
    assertEquals(cut, Files.size(part));
    assertFalse(Files.exists(blob(SHA)));

    assertArrayEquals(BODY, Files.readAllBytes(d.fetch(uri, SHA, BODY.length)));
    assertEquals("bytes=" + cut + "-", server.requests().get(1).range());
    assertFalse(Files.exists(part));
  }

  @Test
  void fetch_serverIgnoresRange_restartsFromZero() throws Exception {
    server.on("/m.pt", TestServer.ignoringRange(BODY));
    Path part = cache.resolve("tmp").resolve(SHA + ".part");
    Files.createDirectories(part.getParent());
    Files.write(part, new byte[] {9, 9, 9, 9});
    Path path = downloader().build().fetch(server.uri("/m.pt"), SHA, BODY.length);
    assertArrayEquals(BODY, Files.readAllBytes(path));
    assertEquals(List.of(new TestServer.Request("/m.pt", "bytes=4-")), server.requests());
  }

  @Test
  void fetch_keptPartIsCorrupt_startsAgainFromZero() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    Path part = cache.resolve("tmp").resolve(SHA + ".part");
    Files.createDirectories(part.getParent());
    Files.write(part, new byte[1000]);
    Path path = downloader().build().fetch(server.uri("/m.pt"), SHA, BODY.length);
    assertArrayEquals(BODY, Files.readAllBytes(path));
    assertEquals(List.of(new TestServer.Request("/m.pt", "bytes=1000-"),
        new TestServer.Request("/m.pt", null)), server.requests());
  }

  @Test
  void fetch_keptPartAsLargeAsFile_rangeNotSatisfiable_startsAgain() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    Path part = cache.resolve("tmp").resolve(SHA + ".part");
    Files.createDirectories(part.getParent());
    Files.write(part, new byte[BODY.length]);
    Path path = downloader().build().fetch(server.uri("/m.pt"), SHA, Downloader.UNKNOWN_SIZE);
    assertArrayEquals(BODY, Files.readAllBytes(path));
    assertEquals(2, server.requests().size());
  }

  @Test
  void fetch_checksumMismatch_nothingKept() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(uri, WRONG, BODY.length));
    assertEquals("checksum mismatch for " + uri + ": expected sha256 " + WRONG + " but got "
        + SHA + " (" + BODY.length + " bytes); the download was discarded", e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("blobs")));
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_contentLengthNotExpectedSize_failsBeforeTheBody() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(uri, SHA, 1000));
    assertEquals("GET " + uri + " answered 200 OK with Content-Length " + BODY.length
        + " but the artifact has 1000 bytes", e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_chunkedBodyLongerThanExpected_discarded() throws Exception {
    server.on("/m.pt", TestServer.chunked(BODY));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(uri, SHA, 1000));
    assertEquals(uri + " has more than the expected 1000 bytes; the download was discarded",
        e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_chunkedBodyOfUnknownSize_verifiedByDigest() throws Exception {
    server.on("/m.pt", TestServer.chunked(BODY));
    RecordingListener events = new RecordingListener();
    Path path = downloader().listener(events).build()
        .fetch(server.uri("/m.pt"), SHA, Downloader.UNKNOWN_SIZE);
    assertArrayEquals(BODY, Files.readAllBytes(path));
    assertTrue(events.events.contains("progress " + BODY.length + " of -1"), events.events
        .toString());
  }

  @Test
  void fetch_404_messageNamesRequestAndStatus() {
    URI uri = server.uri("/missing.pt");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().retries(3).build().fetch(uri, SHA, BODY.length));
    assertEquals("GET " + uri + " answered 404 Not Found", e.getMessage());
    assertEquals(1, server.requests().size(), "a 404 is not retried");
  }

  @Test
  void fetch_500_retriedThenReported() {
    server.on("/m.pt", TestServer.status(500));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().retries(2).build().fetch(uri, SHA, BODY.length));
    assertEquals("GET " + uri + " answered 500 Internal Server Error (gave up after 3 attempts)",
        e.getMessage());
    assertEquals(3, server.requests().size());
  }

  @Test
  void fetch_503ThenOk_succeedsOnRetry() throws Exception {
    TestServer.Behaviour ok = TestServer.bytes(BODY);
    server.on("/m.pt", (exchange, nth) -> {
      if (nth == 1) {
        exchange.sendResponseHeaders(503, -1);
      } else {
        ok.answer(exchange, nth);
      }
    });
    Path path = downloader().retries(1).build().fetch(server.uri("/m.pt"), SHA, BODY.length);
    assertArrayEquals(BODY, Files.readAllBytes(path));
  }

  @Test
  void fetch_connectionRefused_messageSaysSo() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    URI uri = URI.create("http://127.0.0.1:" + port + "/m.pt");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(uri, SHA, BODY.length));
    assertTrue(e.getMessage().startsWith("GET " + uri + " failed: cannot connect"),
        e.getMessage());
  }

  @Test
  void fetch_stalledBody_readTimeout() {
    server.on("/m.pt", TestServer.stalling(BODY, 1000, 3000));
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class, () -> downloader()
        .readTimeout(Duration.ofMillis(300)).build().fetch(uri, SHA, BODY.length));
    assertTrue(e.getMessage().contains("no data for 300 ms"), e.getMessage());
  }

  @Test
  void fetch_offlineWithoutCachedCopy_saysSo() {
    URI uri = server.uri("/m.pt");
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().offline(true).build().fetch(uri, SHA, BODY.length));
    assertEquals("offline: " + uri + " (sha256 " + SHA + ") is not in the cache " + cache,
        e.getMessage());
    assertEquals(List.of(), server.requests());
  }

  @Test
  void fetch_offlineWithCachedCopy_returnsIt() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    Path online = downloader().build().fetch(server.uri("/m.pt"), SHA, BODY.length);
    Path offline = downloader().offline(true).build()
        .fetch(server.uri("/m.pt"), SHA, BODY.length);
    assertEquals(online, offline);
    assertEquals(1, server.requests().size());
  }

  @Test
  void fetch_fileUri_copiedThroughVerification(@TempDir Path dir) throws Exception {
    Path source = dir.resolve("model.pt");
    Files.write(source, BODY);
    Downloader d = downloader().build();
    Path path = d.fetch(source.toUri(), SHA, BODY.length);
    assertEquals(blob(SHA), path);
    assertArrayEquals(BODY, Files.readAllBytes(path));

    Path other = dir.resolve("other.pt");
    Files.write(other, new byte[] {1, 2, 3});
    DownloadException e =
        assertThrows(DownloadException.class, () -> d.fetch(other.toUri(), WRONG, 3));
    assertTrue(e.getMessage().startsWith("checksum mismatch for " + other.toUri()),
        e.getMessage());
    assertEquals(List.of(SHA), Fixtures.files(cache.resolve("blobs/sha256")));
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void fetch_missingFile_saysSo(@TempDir Path dir) {
    URI uri = dir.resolve("absent.pt").toUri();
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().build().fetch(uri, SHA, BODY.length));
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
  }

  @Test
  void fetch_diskFull_messageNamesPathBytesAndSpace() throws Exception {
    Path devFull = Path.of("/dev/full");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(devFull), "needs /dev/full");
    server.on("/m.pt", TestServer.bytes(BODY));
    Path part = cache.resolve("tmp").resolve(SHA + ".part");
    Files.createDirectories(part.getParent());
    Files.createSymbolicLink(part, devFull);
    DownloadException e = assertThrows(DownloadException.class,
        () -> downloader().retries(2).build().fetch(server.uri("/m.pt"), SHA, BODY.length));
    String m = e.getMessage();
    assertTrue(m.startsWith("cannot write " + part + " after 0 bytes of " + server.uri("/m.pt")
        + " (usable space left: "), m);
    assertTrue(m.contains("No space left on device"), m);
    assertEquals(1, server.requests().size(), "a full disk is not retried");
  }

  @Test
  void listener_events_inOrder() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    RecordingListener events = new RecordingListener();
    Downloader d = downloader().listener(events).build();
    URI uri = server.uri("/m.pt");
    Path path = d.fetch(uri, SHA, BODY.length);
    assertEquals("started 0", events.events.get(0));
    assertEquals("finished " + path, events.events.get(events.events.size() - 1));
    long last = 0;
    for (String event : events.events.subList(1, events.events.size() - 1)) {
      long bytes = Long.parseLong(event.split(" ")[1]);
      assertTrue(event.startsWith("progress ") && bytes > last, events.events.toString());
      assertTrue(event.endsWith(" of " + BODY.length), event);
      last = bytes;
    }
    assertEquals(BODY.length, last);

    events.events.clear();
    d.fetch(uri, SHA, BODY.length);
    assertEquals(List.of("finished " + path), events.events, "a cache hit");

    events.events.clear();
    assertThrows(DownloadException.class, () -> d.fetch(server.uri("/x"), WRONG, 1));
    assertEquals(List.of("failed"), events.events);
  }

  @Test
  void listener_throwing_doesNotFailTheDownload() throws Exception {
    server.on("/m.pt", TestServer.bytes(BODY));
    DownloadListener broken = new DownloadListener() {
      @Override
      public void progress(URI uri, long bytesSoFar, long totalBytes) {
        throw new IllegalStateException("broken listener");
      }
    };
    Path path = downloader().listener(broken).build().fetch(server.uri("/m.pt"), SHA, -1);
    assertArrayEquals(BODY, Files.readAllBytes(path));
  }

  @Test
  void fetch_invalidArguments_rejected() {
    Downloader d = downloader().build();
    URI uri = server.uri("/m.pt");
    assertEquals("sha256 must be 64 hex characters but was 'abc' (3 characters)",
        assertThrows(IllegalArgumentException.class, () -> d.fetch(uri, "abc", 1)).getMessage());
    assertEquals("expectedSize must be >= 0 or UNKNOWN_SIZE (-1) but was -2",
        assertThrows(IllegalArgumentException.class, () -> d.fetch(uri, SHA, -2)).getMessage());
    assertEquals("uri must be an http(s) URL with a host or a file URI but was 'ftp://x/y'",
        assertThrows(IllegalArgumentException.class,
            () -> d.fetch(URI.create("ftp://x/y"), SHA, 1)).getMessage());
  }

  /**
   * A file: URI with a query, a fragment or a NUL names no file: refused at once, by a message
   * that names the URI, before any folder is made or lock taken (Paths.get's own message,
   * "URI has a query component", named nothing).
   */
  @Test
  void fetch_fileUriThatNamesNoFile_rejectedNamingIt(@TempDir Path dir) {
    Path cacheDir = dir.resolve("cache");
    Downloader d = downloader().cacheDir(cacheDir).build();
    for (String uri : List.of("file:/tmp/m.pt?x=1", "file:/tmp/m.pt#f", "file:/tmp/m%00.pt")) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> d.fetch(URI.create(uri), SHA, 1), uri);
      assertTrue(e.getMessage().contains("'" + uri + "'"), e.getMessage());
    }
    assertFalse(Files.exists(cacheDir), "nothing was created");
  }

  @Test
  void builder_invalidSettings_rejected() {
    assertEquals("retries must be between 0 and 100 but was -1",
        assertThrows(IllegalArgumentException.class, () -> Downloader.builder().retries(-1))
            .getMessage());
    assertEquals("read timeout must be positive but was PT0S",
        assertThrows(IllegalArgumentException.class,
            () -> Downloader.builder().readTimeout(Duration.ZERO)).getMessage());
    assertEquals("connect timeout cannot be combined with httpClient: set it on the "
        + "HttpClient's builder", assertThrows(IllegalStateException.class,
            () -> Downloader.builder().httpClient(java.net.http.HttpClient.newHttpClient())
                .connectTimeout(Duration.ofSeconds(1)).build()).getMessage());
  }

  @Test
  void defaultCacheDir_followsXdg() {
    assertEquals(Path.of("/xdg/nos"),
        Downloader.defaultCacheDir(Map.of("XDG_CACHE_HOME", "/xdg"), "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos"),
        Downloader.defaultCacheDir(Map.of("XDG_CACHE_HOME", "relative"), "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos"), Downloader.defaultCacheDir(Map.of(), "/home/u"));
  }
}
