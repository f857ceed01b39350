package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.ModelSpec;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * nos-hub's JSON readers (Whisper's generation_config.json, a catalog's lock file) need
 * jackson-core only: they run here in a class loader that has nos-hub's and nos-core's classes,
 * jackson-core and slf4j, and no databind.
 */
final class HubJsonNoDatabindTest {

  @Test
  void generationConfigAndLockFile_readWithoutDatabind(@TempDir Path dir) throws Exception {
    URL[] path = {location(GenerationConfigFile.class), location(ModelSpec.class),
        location(JsonFactory.class), location(LoggerFactory.class)};
    try (URLClassLoader loader = new URLClassLoader(path, ClassLoader.getPlatformClassLoader())) {
      assertThrows(ClassNotFoundException.class,
          () -> Class.forName(ObjectMapper.class.getName(), false, loader));
      Path file = dir.resolve("generation_config.json");
      Files.writeString(file, "{\"suppress_tokens\": [1, 2], \"begin_suppress_tokens\": null,"
          + " \"max_initial_timestamp_index\": 40, \"lang_to_id\": {\"<|en|>\": 7}}");
      Class<?> config = Class.forName(GenerationConfigFile.class.getName(), true, loader);
      Method read = config.getDeclaredMethod("read", Path.class, int.class);
      read.setAccessible(true);
      Object c = read.invoke(null, file, 100);
      assertArrayEquals(new int[] {1, 2}, (int[]) accessor(config, "tokens").invoke(c));
      assertEquals(40, accessor(config, "maxInitialTimestampIndex").invoke(c));
      assertEquals(Map.of("en", 7), accessor(config, "langToId").invoke(c));
      Files.writeString(file, "{\"suppress_tokens\": [1], \"suppress_tokens\": [2]}");
      InvocationTargetException e = assertThrows(InvocationTargetException.class,
          () -> read.invoke(null, file, 100));
      assertTrue(e.getCause().getMessage().contains("is not valid JSON: Duplicate field"),
          e.getCause().getMessage());

      Class<?> catalog = Class.forName(CatalogJson.class.getName(), true, loader);
      Method lock = catalog.getDeclaredMethod("readLock", byte[].class);
      lock.setAccessible(true);
      String sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
      Object pin = lock.invoke(null, ("{\"sha256\": \"" + sha + "\", \"size\": 12}")
          .getBytes(StandardCharsets.UTF_8));
      assertTrue(pin.toString().contains(sha) && pin.toString().contains("12"), pin.toString());
    }
  }

  private static Method accessor(Class<?> type, String name) throws NoSuchMethodException {
    Method m = type.getDeclaredMethod(name);
    m.setAccessible(true);
    return m;
  }

  private static URL location(Class<?> c) {
    return c.getProtectionDomain().getCodeSource().getLocation();
  }
}
