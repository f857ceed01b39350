package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A spec read from JSON and written back needs jackson-core only: a fresh JVM that loads a model
 * from a spec file loads no class of databind (issue 20 item 5: about 400 classes and 90 ms of
 * the first result on the 2-core VM).
 */
final class SpecJsonNoDatabindTest {

  @Test
  void fromJsonAndToJson_runWithoutDatabind() throws Exception {
    // nos-core's classes, jackson-core and slf4j, and nothing else: databind is not there
    URL[] path = {location(ModelSpec.class), location(JsonFactory.class),
        location(LoggerFactory.class)};
    try (URLClassLoader loader = new URLClassLoader(path, ClassLoader.getPlatformClassLoader())) {
      assertThrows(ClassNotFoundException.class,
          () -> Class.forName(ObjectMapper.class.getName(), false, loader));
      Class<?> type = Class.forName(ModelSpec.class.getName(), true, loader);
      String json = SpecJsonTest.DIGITS.replace("digits.pt", "/models/digits.pt");
      Object spec = type.getMethod("fromJson", String.class).invoke(null, json);
      String written = (String) type.getMethod("toJson").invoke(spec);
      Object again = type.getMethod("fromJson", String.class).invoke(null, written);
      assertEquals(written, type.getMethod("toJson").invoke(again));
      assertTrue(written.contains("\"id\": \"digits\""), written);
      InvocationTargetException bad = assertThrows(InvocationTargetException.class,
          () -> type.getMethod("fromJson", String.class).invoke(null, "{\"id\": 1}"));
      assertTrue(bad.getCause() instanceof IllegalArgumentException, bad.getCause().toString());
      assertEquals("$.id must be a string but was 1", bad.getCause().getMessage());
    }
  }

  private static URL location(Class<?> c) {
    return c.getProtectionDomain().getCodeSource().getLocation();
  }
}
