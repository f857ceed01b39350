package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Many threads and two processes on one cache directory. */
@Timeout(120)
final class ArtifactCacheConcurrencyTest {

  @TempDir Path dir;
  final ExecutorService pool = Executors.newCachedThreadPool();

  @AfterEach
  void stop() {
    pool.shutdownNow();
  }

  @Test
  void getOrBuild_eightThreadsOneKey_buildOnce() throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir).build();
    AtomicInteger builds = new AtomicInteger();
    CyclicBarrier start = new CyclicBarrier(8);
    List<Future<Path>> results = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      results.add(pool.submit(() -> {
        start.await();
        return cache.getOrBuild(ArtifactCacheTest.key("fp16"), target -> {
          builds.incrementAndGet();
          TimeUnit.MILLISECONDS.sleep(200);
          Files.writeString(target, "engine");
        });
      }));
    }
    Set<Path> paths = new HashSet<>();
    for (Future<Path> f : results) {
      paths.add(f.get(60, TimeUnit.SECONDS));
    }
    assertEquals(1, builds.get());
    assertEquals(1, paths.size());
    assertEquals("engine", Files.readString(paths.iterator().next()));
  }

  @Test
  void getOrBuild_twoInstancesOnOneFolder_buildOnce() throws Exception {
    ArtifactCache one = ArtifactCache.builder().directory(dir).build();
    ArtifactCache two = ArtifactCache.builder().directory(dir.resolve(".").resolve("..")
        .resolve(dir.getFileName())).build();
    AtomicInteger builds = new AtomicInteger();
    CyclicBarrier start = new CyclicBarrier(8);
    List<Future<Path>> results = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      ArtifactCache cache = i % 2 == 0 ? one : two;
      results.add(pool.submit(() -> {
        start.await();
        return cache.getOrBuild(ArtifactCacheTest.key("fp16"), target -> {
          builds.incrementAndGet();
          TimeUnit.MILLISECONDS.sleep(200);
          Files.writeString(target, "engine");
        });
      }));
    }
    for (Future<Path> f : results) {
      f.get(60, TimeUnit.SECONDS);
    }
    assertEquals(1, builds.get());
  }

  @Test
  void getOrBuild_differentKeys_buildInParallel() throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir).build();
    String[] precisions = {"fp32", "fp16", "bf16", "int8"};
    CyclicBarrier allBuilding = new CyclicBarrier(precisions.length);
    List<Future<Path>> results = new ArrayList<>();
    for (String p : precisions) {
      results.add(pool.submit(() -> cache.getOrBuild(ArtifactCacheTest.key(p), target -> {
        allBuilding.await(10, TimeUnit.SECONDS);
        Files.writeString(target, p);
      })));
    }
    for (int i = 0; i < precisions.length; i++) {
      assertEquals(precisions[i], Files.readString(results.get(i).get(60, TimeUnit.SECONDS)));
    }
  }

  @Test
  void getOrBuild_waitingPastTheLockTimeout_failsNamingTheKey() throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir).build();
    ArtifactCache impatient = ArtifactCache.builder().directory(dir)
        .lockTimeout(Duration.ofMillis(100)).build();
    CountDownLatch building = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Future<Path> slow = pool.submit(() -> cache.getOrBuild(ArtifactCacheTest.key("fp16"), t -> {
      building.countDown();
      release.await();
      Files.writeString(t, "engine");
    }));
    assertTrue(building.await(10, TimeUnit.SECONDS));
    var e = org.junit.jupiter.api.Assertions.assertThrows(OptimizationException.class,
        () -> impatient.getOrBuild(ArtifactCacheTest.key("fp16"), t -> Files.writeString(t, "x")));
    assertTrue(e.getMessage().startsWith("waited 100 ms for the lock"), e.getMessage());
    assertTrue(e.getMessage().contains(ArtifactCacheTest.key("fp16").toString()), e.getMessage());
    release.countDown();
    assertEquals("engine", Files.readString(slow.get(10, TimeUnit.SECONDS)));
  }

  @Test
  void getOrBuild_twoProcessesOneKey_buildOnce() throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir.resolve("cache")).build();
    Path count = dir.resolve("builds.txt");
    Path go = dir.resolve("go");
    Process other = worker(cache.directory(), count, go, "fp16");
    awaitReady(go, other);
    Files.writeString(go, "go");
    Path mine = cache.getOrBuild(ArtifactCacheTest.key("fp16"),
        CacheWorker.countingBuilder(count, "process " + ProcessHandle.current().pid()));
    String out = finish(other, 0);
    assertTrue(out.contains("artifact=" + mine), out);
    assertEquals(1, Files.readAllLines(count).size(), Files.readString(count));
    assertEquals("engine", Files.readString(mine));
    assertEquals(List.of(), ArtifactCacheTest.list(cache.directory().resolve("tmp")));
  }

  @Test
  void getOrBuild_builderProcessDies_nextCallerBuildsAndCleansUp() throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir.resolve("cache")).build();
    Path count = dir.resolve("builds.txt");
    Path go = dir.resolve("go");
    Process other = worker(cache.directory(), count, go, "fp16", "die");
    awaitReady(go, other);
    Files.writeString(go, "go");
    finish(other, 3);
    assertEquals(1, ArtifactCacheTest.list(cache.directory().resolve("tmp")).size(),
        "the dead build's staging folder");
    Path mine = cache.getOrBuild(ArtifactCacheTest.key("fp16"),
        CacheWorker.countingBuilder(count, "this process"));
    assertEquals(List.of("died", "this process"), Files.readAllLines(count));
    assertEquals("engine", Files.readString(mine));
    assertEquals(List.of(), ArtifactCacheTest.list(cache.directory().resolve("tmp")));
  }

  private static Process worker(Path cacheDir, Path count, Path go, String... rest)
      throws IOException {
    String classpath = System.getProperty("surefire.test.class.path",
        System.getProperty("java.class.path"));
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", classpath, CacheWorker.class.getName(),
        cacheDir.toString(), count.toString(), go.toString()));
    command.addAll(List.of(rest));
    return new ProcessBuilder(command).redirectErrorStream(true).start();
  }

  private static void awaitReady(Path go, Process other) throws InterruptedException {
    Path ready = Path.of(go + ".ready");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!Files.exists(ready)) {
      assertTrue(other.isAlive(), "the worker process exited before it was ready");
      assertTrue(System.nanoTime() < deadline, "the worker process never got ready");
      TimeUnit.MILLISECONDS.sleep(5);
    }
  }

  private static String finish(Process other, int exitCode) throws Exception {
    assertTrue(other.waitFor(60, TimeUnit.SECONDS), "the worker process did not finish");
    String out = new String(other.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(exitCode, other.exitValue(), out);
    return out;
  }
}
