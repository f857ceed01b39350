package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.internal.files.CacheRoot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

final class NosRuntimeTest {

  @Test
  void cacheRoot_oneRule_xdgWhenAbsolute_elseHome() {
    assertEquals(Path.of("/xdg/nos"), CacheRoot.of(Map.of("XDG_CACHE_HOME", "/xdg"), "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos"),
        CacheRoot.of(Map.of("XDG_CACHE_HOME", "relative"), "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos"),
        CacheRoot.of(Map.of("XDG_CACHE_HOME", " "), "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos"), CacheRoot.of(Map.of(), "/home/u"));
    assertEquals(Path.of("/data/nos"),
        NosRuntime.builder().cacheRoot(Path.of("/data/x/../nos")).build().cacheRoot());
  }

  /**
   * The tests keep NOS's caches out of the user's: the parent pom's surefire settings point
   * {@code XDG_CACHE_HOME} at each module's target/nos-cache (scripts/gpu/gpu-tests.sh at a
   * folder of /tmp). Without that, a test run once left 4,888 measurements of mutated digits files
   * in the user's footprints.json.
   */
  @Test
  void defaultRuntime_inTheTests_isNotTheUsersCache() {
    Path users = Path.of(System.getProperty("user.home"), ".cache", "nos");
    Path root = NosRuntime.defaultRuntime().cacheRoot();
    assertNotEquals(users, root, "the tests' cache root is the user's; XDG_CACHE_HOME="
        + System.getenv("XDG_CACHE_HOME"));
  }

  @Test
  void builder_badOrRepeatedSettings_failNamingTheValue() {
    IllegalArgumentException relative = assertThrows(IllegalArgumentException.class,
        () -> NosRuntime.builder().cacheRoot(Path.of("rel")));
    assertEquals("cacheRoot must be an absolute path but was rel", relative.getMessage());
    // A setting made twice keeps the last value (docs/api-conventions.md).
    assertEquals(Path.of("/b"),
        NosRuntime.builder().cacheRoot(Path.of("/a")).cacheRoot(Path.of("/b")).build().cacheRoot());
    assertEquals("threadFactory must not be null", assertThrows(NullPointerException.class,
        () -> NosRuntime.builder().threadFactory(null)).getMessage());
    assertThrows(IllegalArgumentException.class, () -> NosRuntime.setDefault(null));
    NosRuntime.defaultRuntime();
    IllegalStateException late = assertThrows(IllegalStateException.class,
        () -> NosRuntime.setDefault(NosRuntime.builder().build()));
    assertTrue(late.getMessage().contains("before NOS's first use"), late.getMessage());
  }

  /**
   * A manager built with a runtime keeps its footprints under the runtime's cache root and runs
   * its batches on the runtime's threads, which have all ended when close returns (the bounded
   * wait).
   */
  @Test
  void managerWithRuntime_cachesUnderItsRoot_threadsFromItsFactory_endedByClose(
      @TempDir Path root) throws Exception {
    List<Thread> made = new CopyOnWriteArrayList<>();
    ThreadFactory factory = task -> {
      Thread t = new Thread(task, "app-" + made.size());
      t.setDaemon(true);
      made.add(t);
      return t;
    };
    NosRuntime runtime = NosRuntime.builder().cacheRoot(root).threadFactory(factory).build();
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder().id("runtime_digits")
        .batching(Batching.builder().maxBatchSize(4).maxQueueDelay(Duration.ofMillis(1)).build())
        .build();
    try (ModelManager manager = ModelManager.builder().runtime(runtime).devices(Device.cpu())
        .build(); Model model = manager.load(spec)) {
      model.inferAsync(Map.of("image", Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 1)))
          .join();
      assertFalse(made.isEmpty(), "the batch workers come from the runtime's factory");
    }
    assertTrue(Files.isRegularFile(root.resolve("footprints.json")),
        "footprints under the runtime's cache root");
    for (Thread t : made) {
      t.join(5_000);
      assertFalse(t.isAlive(), t.getName() + " still alive after close");
    }
  }
}
