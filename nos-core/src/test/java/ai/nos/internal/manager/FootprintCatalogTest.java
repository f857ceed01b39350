package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The footprint catalog's file: what it writes reads back (and is the JSON object it says), what
 * is not a positive whole number of bytes is skipped, an unreadable file is ignored, the catalog
 * keeps at most its bound of entries, least recent dropped, also under concurrent writers, whose
 * measurements all reach the file (in one JVM and from another), and it needs jackson-core only
 * (databind's first use cost a fresh JVM ~150 ms before the first model: issue 20 item 5).
 */
final class FootprintCatalogTest {

  @Test
  void written_readsBack_asAPrettyJsonObject(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("sub").resolve("footprints.json");
    FootprintCatalog c = new FootprintCatalog(file);
    c.put("b|fp16|cuda", 123_456_789_012L);
    c.put("a|fp32|cpu", 39_720);
    FootprintCatalog again = new FootprintCatalog(file);
    assertEquals(OptionalLong.of(39_720), again.get("a|fp32|cpu"));
    assertEquals(OptionalLong.of(123_456_789_012L), again.get("b|fp16|cuda"));
    assertEquals(OptionalLong.empty(), again.get("c"));
    JsonNode root = new ObjectMapper().readTree(file.toFile());
    assertEquals(2, root.size(), root.toString());
    assertEquals(39_720, root.get("a|fp32|cpu").longValue());
    assertTrue(Files.readString(file).contains("\n"), "pretty-printed");
    assertEquals(List.of("footprints.json"), dataFiles(file.getParent()),
        "no temporary file left");
  }

  @Test
  void entriesThatAreNotBytes_skipped_theOthersKept(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("footprints.json");
    Files.writeString(file, "{\"ok\": 100, \"zero\": 0, \"negative\": -5, \"text\": \"7\","
        + " \"float\": 1.5, \"nested\": {\"x\": 1, \"y\": [1, 2]}, \"list\": [3],"
        + " \"huge\": 123456789012345678901234567890, \"last\": 42}");
    FootprintCatalog c = new FootprintCatalog(file);
    assertEquals(OptionalLong.of(100), c.get("ok"));
    assertEquals(OptionalLong.of(42), c.get("last"), "read past the nested values");
    for (String k : new String[] {"zero", "negative", "text", "float", "nested", "list", "huge",
        "x"}) {
      assertEquals(OptionalLong.empty(), c.get(k), k);
    }
  }

  @Test
  void unreadableFile_ignored_andRewrittenOnThePut(@TempDir Path dir) throws Exception {
    for (String bad : new String[] {"{\"a\": 1, \"b\":", "[1, 2]", "not json", ""}) {
      Path file = dir.resolve("bad.json");
      Files.writeString(file, bad);
      FootprintCatalog c = new FootprintCatalog(file);
      assertEquals(OptionalLong.empty(), c.get("a"), bad);
      c.put("m", 5);
      assertEquals(OptionalLong.of(5), new FootprintCatalog(file).get("m"), bad);
    }
  }

  /**
   * Every mutated or retrained artifact is a new key: a developer's catalog had grown to 4,902
   * entries. Past the bound the least recently measured is dropped, in memory and in the file.
   */
  @Test
  void put_pastMaxEntries_dropsTheLeastRecent_fileStaysBounded(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("footprints.json");
    FootprintCatalog c = new FootprintCatalog(file);
    int puts = FootprintCatalog.MAX_ENTRIES + 5;
    for (int i = 0; i < puts; i++) {
      c.put("model-" + i + "|fp32|cpu", 1_000 + i);
    }
    JsonNode root = new ObjectMapper().readTree(file.toFile());
    assertEquals(FootprintCatalog.MAX_ENTRIES, root.size(), "entries in the file after " + puts
        + " measurements");
    for (int i = 0; i < 5; i++) {
      assertFalse(root.has("model-" + i + "|fp32|cpu"), "the oldest, model-" + i);
      assertEquals(OptionalLong.empty(), c.get("model-" + i + "|fp32|cpu"));
    }
    assertEquals(OptionalLong.of(1_000 + puts - 1), c.get("model-" + (puts - 1) + "|fp32|cpu"));
    assertEquals(OptionalLong.of(1_005), new FootprintCatalog(file).get("model-5|fp32|cpu"));
  }

  @Test
  void get_refreshesAKey_theLeastRecentlyUsedIsDropped_fileInRecencyOrder(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("footprints.json");
    FootprintCatalog c = new FootprintCatalog(file, 3);
    c.put("a", 1);
    c.put("b", 2);
    c.put("c", 3);
    assertEquals(OptionalLong.of(1), c.get("a"));
    c.put("d", 4);
    assertEquals(OptionalLong.empty(), c.get("b"), "b was the least recently used");
    assertEquals(List.of("c", "a", "d"), keys(file), "least recent first");
    // The order survives a restart: the file's first key is the next to go.
    FootprintCatalog again = new FootprintCatalog(file, 3);
    again.put("e", 5);
    assertEquals(List.of("a", "d", "e"), keys(file));
    assertEquals(3, again.size());
  }

  @Test
  void fileOverTheBound_readKeepingItsLastEntries_writtenBackBounded(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("footprints.json");
    Files.writeString(file, "{\"k1\": 1, \"k2\": 2, \"k3\": 3, \"k4\": 4, \"k5\": 5}");
    FootprintCatalog c = new FootprintCatalog(file, 2);
    assertEquals(2, c.size());
    assertEquals(OptionalLong.empty(), c.get("k3"));
    assertEquals(OptionalLong.of(4), c.get("k4"));
    assertEquals(OptionalLong.of(5), c.get("k5"));
    c.put("k6", 6);
    assertEquals(List.of("k5", "k6"), keys(file));
  }

  @Test
  void maxEntries_belowOne_refusedNamingTheValue(@TempDir Path dir) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new FootprintCatalog(dir.resolve("f.json"), 0));
    assertEquals("maxEntries must be at least 1 but was 0", e.getMessage());
  }

  /**
   * Two catalogs on one file (two managers, or two JVMs), two writer threads each: every read of
   * the file meanwhile is a whole JSON object within the bound, and so is the file at the end.
   */
  @Test
  void concurrentWriters_fileAlwaysWholeAndBounded(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("footprints.json");
    int bound = 16;
    FootprintCatalog[] catalogs = {new FootprintCatalog(file, bound),
        new FootprintCatalog(file, bound)};
    CountDownLatch start = new CountDownLatch(1);
    List<Throwable> failures = new CopyOnWriteArrayList<>();
    List<Thread> writers = startWriters(catalogs, 200, start, failures);
    AtomicBoolean writing = new AtomicBoolean(true);
    int reads = 0;
    start.countDown();
    ObjectMapper json = new ObjectMapper();
    while (writing.get()) {
      writing.set(writers.stream().anyMatch(Thread::isAlive));
      if (Files.exists(file)) {
        JsonNode root = json.readTree(file.toFile());
        assertTrue(root.isObject() && root.size() <= bound, root.toString());
        reads++;
      }
    }
    for (Thread t : writers) {
      t.join();
    }
    assertTrue(failures.isEmpty(), failures.toString());
    assertTrue(reads > 0, "the file was read while written");
    assertTrue(json.readTree(file.toFile()).size() <= bound);
    assertEquals(bound, catalogs[0].size());
    assertEquals(List.of("footprints.json"), dataFiles(dir), "no temporary file left");
  }

  /**
   * Two managers (two processes) loaded the same file, then each measured a model: the file keeps
   * both. Each used to replace the file with its own view, so the second write lost the first.
   */
  @Test
  void twoCatalogs_eachMeasuresAfterBothLoaded_bothMeasurementsInTheFile(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("footprints.json");
    new FootprintCatalog(file).put("old", 7);
    FootprintCatalog a = new FootprintCatalog(file);
    FootprintCatalog b = new FootprintCatalog(file);
    a.put("a|fp32|cpu", 100);
    b.put("b|fp16|cuda", 200);
    assertEquals(List.of("old", "a|fp32|cpu", "b|fp16|cuda"), keys(file));
    FootprintCatalog again = new FootprintCatalog(file);
    assertEquals(OptionalLong.of(100), again.get("a|fp32|cpu"));
    assertEquals(OptionalLong.of(200), again.get("b|fp16|cuda"));
    assertEquals(OptionalLong.of(200), b.get("b|fp16|cuda"));
    assertEquals(OptionalLong.of(100), b.get("a|fp32|cpu"), "b learned a's at its write");
    // The newest measurement of a key wins: b measures a's key again, then a writes another.
    b.put("a|fp32|cpu", 150);
    a.put("c", 300);
    assertEquals(OptionalLong.of(150), new FootprintCatalog(file).get("a|fp32|cpu"));
    assertEquals(OptionalLong.of(150), a.get("a|fp32|cpu"));
  }

  /** The merge keeps the bound and the recency: the file's least recent goes first. */
  @Test
  void twoCatalogs_pastTheBound_theLeastRecentAcrossBothDropped(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("footprints.json");
    FootprintCatalog a = new FootprintCatalog(file, 3);
    FootprintCatalog b = new FootprintCatalog(file, 3);
    a.put("a1", 1);
    b.put("b1", 2);
    a.put("a2", 3);
    b.put("b2", 4);
    assertEquals(List.of("b1", "a2", "b2"), keys(file));
    assertEquals(3, a.size());
  }

  /**
   * Two catalogs on one file, two writer threads each, every key distinct and all within the
   * bound: every measurement is in the file at the end.
   */
  @Test
  void concurrentWriters_twoCatalogs_everyMeasurementKept(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("footprints.json");
    FootprintCatalog[] catalogs = {new FootprintCatalog(file), new FootprintCatalog(file)};
    CountDownLatch start = new CountDownLatch(1);
    List<Throwable> failures = new CopyOnWriteArrayList<>();
    List<Thread> writers = startWriters(catalogs, 100, start, failures);
    start.countDown();
    for (Thread t : writers) {
      t.join();
    }
    assertTrue(failures.isEmpty(), failures.toString());
    FootprintCatalog after = new FootprintCatalog(file);
    List<String> missing = new ArrayList<>();
    for (int w = 0; w < 4; w++) {
      for (int i = 0; i < 100; i++) {
        if (after.get("w" + w + "-" + i).isEmpty()) {
          missing.add("w" + w + "-" + i);
        }
      }
    }
    assertEquals(List.of(), missing, "measurements lost of 400");
  }

  /**
   * Another JVM writes the file while this one does (the cross-process lock, not the JVM's own):
   * every measurement of both is in the file at the end.
   */
  @Test
  void concurrentWriters_anotherJvm_everyMeasurementKept(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("footprints.json");
    FootprintCatalog here = new FootprintCatalog(file);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        ChildWriter.class.getName(), file.toString(), "child-", "150")
        .redirectErrorStream(true).start();
    for (int i = 0; i < 150; i++) {
      here.put("parent-" + i, i + 1);
      if (i % 10 == 0) {
        Thread.sleep(2); // let the child (slower to start) overlap with the later writes
      }
    }
    String output = new String(child.getInputStream().readAllBytes());
    assertEquals(0, child.waitFor(), output);
    here.put("parent-last", 1);
    FootprintCatalog after = new FootprintCatalog(file);
    List<String> missing = new ArrayList<>();
    for (int i = 0; i < 150; i++) {
      for (String who : new String[] {"parent-", "child-"}) {
        if (after.get(who + i).isEmpty()) {
          missing.add(who + i);
        }
      }
    }
    assertEquals(List.of(), missing, "measurements lost of 300; child said: " + output);
  }

  /** The other process of {@link #concurrentWriters_anotherJvm_everyMeasurementKept}. */
  static final class ChildWriter {
    public static void main(String[] args) {
      FootprintCatalog c = new FootprintCatalog(Path.of(args[0]));
      for (int i = 0; i < Integer.parseInt(args[2]); i++) {
        c.put(args[1] + i, i + 1);
      }
    }
  }

  /** The files in {@code dir} but the catalog's lock file, by name. */
  private static List<String> dataFiles(Path dir) throws Exception {
    try (var files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".lock"))
          .sorted().toList();
    }
  }

  /** The file's keys in file order. */
  private static List<String> keys(Path file) throws Exception {
    List<String> keys = new ArrayList<>();
    for (Iterator<String> it = new ObjectMapper().readTree(file.toFile()).fieldNames();
        it.hasNext(); ) {
      keys.add(it.next());
    }
    return keys;
  }

  @Test
  void needsNoDatabind() throws Exception {
    // nos-core's classes, jackson-core and slf4j, and nothing else: databind is not there
    URL[] path = {location(FootprintCatalog.class), location(JsonFactory.class),
        location(LoggerFactory.class)};
    assertThrows(ClassNotFoundException.class, () -> Class.forName(
        ObjectMapper.class.getName(), false, new URLClassLoader(path,
            ClassLoader.getPlatformClassLoader())));
    Path dir = Files.createTempDirectory("catalog");
    try (URLClassLoader loader = new URLClassLoader(path, ClassLoader.getPlatformClassLoader())) {
      Class<?> type = Class.forName(FootprintCatalog.class.getName(), true, loader);
      Object c = type.getConstructor(Path.class).newInstance(dir.resolve("f.json"));
      type.getMethod("put", String.class, long.class).invoke(c, "k", 9L);
      Object again = type.getConstructor(Path.class).newInstance(dir.resolve("f.json"));
      assertEquals(OptionalLong.of(9), type.getMethod("get", String.class).invoke(again, "k"));
    } finally {
      try (var files = Files.list(dir)) {
        for (Path p : files.toList()) {
          Files.delete(p);
        }
      }
      Files.delete(dir);
    }
  }

  private static URL location(Class<?> c) {
    return c.getProtectionDomain().getCodeSource().getLocation();
  }

  /**
   * Four started writer threads, two on each catalog, each putting keys "w<thread>-0" to
   * "w<thread>-<keys - 1>" (values 1 to keys) once {@code start} opens; failures collected.
   */
  private static List<Thread> startWriters(FootprintCatalog[] catalogs, int keys,
      CountDownLatch start, List<Throwable> failures) {
    List<Thread> writers = new ArrayList<>();
    for (int w = 0; w < 4; w++) {
      FootprintCatalog c = catalogs[w % 2];
      String prefix = "w" + w + "-";
      Thread t = new Thread(() -> {
        try {
          start.await();
          for (int i = 0; i < keys; i++) {
            c.put(prefix + i, i + 1);
          }
        } catch (Throwable e) {
          failures.add(e);
        }
      });
      t.start();
      writers.add(t);
    }
    return writers;
  }
}
