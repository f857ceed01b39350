package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The footprint catalog's file: what it writes reads back (and is the JSON object it says), what
 * is not a positive whole number of bytes is skipped, an unreadable file is ignored, and the
 * catalog needs jackson-core only (databind's first use cost a fresh JVM ~150 ms before the first
 * model: issue 20 item 5).
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
    try (var files = Files.list(file.getParent())) {
      assertEquals(1, files.count(), "no temporary file left");
    }
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
}
