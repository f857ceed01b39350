package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fetches of one blob from many threads, and from two processes, download it once. */
final class DownloaderConcurrencyTest {

  private static final byte[] BODY = Fixtures.bytes(1 << 20, 7);
  private static final String SHA = Fixtures.sha256(BODY);

  @TempDir Path cache;

  @Test
  void fetch_sameBlobFrom8Threads_oneDownload() throws Exception {
    int threads = 8;
    try (TestServer server = new TestServer()) {
      server.on("/m.pt", TestServer.slow(TestServer.bytes(BODY), 300));
      Downloader downloader = Downloader.builder().cacheDir(cache).retries(0).build();
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      CountDownLatch go = new CountDownLatch(1);
      List<Future<Path>> results = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        results.add(pool.submit(() -> {
          go.await();
          return downloader.fetch(server.uri("/m.pt"), SHA, BODY.length);
        }));
      }
      go.countDown();
      for (Future<Path> result : results) {
        Path path = result.get(30, TimeUnit.SECONDS);
        assertEquals(cache.resolve("blobs/sha256").resolve(SHA), path);
      }
      pool.shutdown();
      assertEquals(1, server.requests().size(), server.requests().toString());
      assertArrayEquals(BODY, Files.readAllBytes(cache.resolve("blobs/sha256").resolve(SHA)));
      assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
    }
  }

  @Test
  void fetch_sameBlobFromTwoProcesses_oneDownload() throws Exception {
    try (TestServer server = new TestServer()) {
      CountDownLatch childAsked = new CountDownLatch(1);
      TestServer.Behaviour serve = TestServer.bytes(BODY);
      server.on("/m.pt", (exchange, nth) -> {
        childAsked.countDown();
        sleep(1500);
        serve.answer(exchange, nth);
      });
      URI uri = server.uri("/m.pt");
      Process child = new ProcessBuilder(javaExecutable(), "-cp",
          System.getProperty("java.class.path"), FetchMain.class.getName(), cache.toString(),
          uri.toString(), SHA, Integer.toString(BODY.length))
          .redirectErrorStream(true).start();
      try {
        assertTrue(childAsked.await(30, TimeUnit.SECONDS), "the child never asked the server");
        Downloader downloader = Downloader.builder().cacheDir(cache).retries(0)
            .readTimeout(Duration.ofSeconds(30)).build();
        Path path = downloader.fetch(uri, SHA, BODY.length);
        assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child did not finish");
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, child.exitValue(), output);
        assertEquals(path.toString(), output.strip().lines().reduce((a, b) -> b).orElse(""));
        assertArrayEquals(BODY, Files.readAllBytes(path));
        assertEquals(1, server.requests().size(), server.requests().toString());
      } finally {
        child.destroy();
      }
    }
  }

  private static String javaExecutable() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  private static void sleep(long millis) throws IOException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
  }
}
