package ai.nos.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import com.fasterxml.jackson.core.JsonFactory;
import java.lang.reflect.Array;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A call small enough to be under any machine's default limit never asks the machine's memory
 * (the JVM's management classes: ~30 ms of a fresh JVM's first call, issue 20 item 5); a larger
 * one does. Run in a class loader of its own, so that what other tests asked does not count.
 */
final class InputsMemoryAskTest {
  private static final String DIGITS = "{\"id\": \"digits\", \"artifact\": {\"uri\":"
      + " \"/models/digits.pt\"}, \"signature\": {\"inputs\": [{\"name\": \"image\", \"dtype\":"
      + " \"float32\", \"shape\": [-1, 1, 8, 8]}], \"outputs\": [{\"name\": \"logits\","
      + " \"dtype\": \"float32\", \"shape\": [-1, 10]}]}}";

  /**
   * A class loader of nos-core, jackson-core, slf4j and JavaCPP that says which classes it loaded.
   */
  private static final class Isolated extends URLClassLoader {
    Isolated() {
      super(new URL[] {location(ModelSpec.class), location(JsonFactory.class),
          location(LoggerFactory.class), location(org.bytedeco.javacpp.Pointer.class)},
          ClassLoader.getPlatformClassLoader());
    }

    boolean loaded(String name) {
      return findLoadedClass(name) != null;
    }
  }

  @Test
  void ordered_smallCall_doesNotAskTheMachinesMemory_aCallOverTheFloorDoes() throws Exception {
    String limit = Inputs.class.getName() + "$DefaultLimit";
    try (Isolated loader = new Isolated()) {
      Object spec = Class.forName(ModelSpec.class.getName(), true, loader)
          .getMethod("fromJson", String.class).invoke(null, DIGITS);
      assertEquals(1, ordered(loader, spec, 32).size()); // 32 rows: 9,472 bytes in and out
      assertFalse(loader.loaded(limit), "a 32-row call asked the machine's memory");
      // (4 MiB / 296 bytes a row) + 1 rows: just over the floor
      int rows = (int) (Inputs.UNDER_ANY_DEFAULT_BYTES / 296) + 1;
      assertEquals(1, ordered(loader, spec, rows).size());
      assertTrue(loader.loaded(limit), "a call over the floor did not ask");
    }
  }

  /** Inputs.ordered on {@code rows} digit rows, all through {@code loader}'s classes. */
  private static List<?> ordered(ClassLoader loader, Object spec, int rows) throws Exception {
    Class<?> dtype = Class.forName(DType.class.getName(), true, loader);
    Class<?> tensor = Class.forName(Tensor.class.getName(), true, loader);
    Object shape = Array.newInstance(long.class, 4);
    long[] dims = {rows, 1, 8, 8};
    for (int i = 0; i < dims.length; i++) {
      Array.setLong(shape, i, dims[i]);
    }
    @SuppressWarnings({"unchecked", "rawtypes"})
    Object floats = Enum.valueOf((Class) dtype, "FLOAT32");
    Object zeros = tensor.getMethod("zeros", dtype, long[].class).invoke(null, floats, shape);
    return (List<?>) Class.forName(Inputs.class.getName(), true, loader)
        .getMethod("ordered", spec.getClass(), Map.class)
        .invoke(null, spec, Map.of("image", zeros));
  }

  private static URL location(Class<?> c) {
    return c.getProtectionDomain().getCodeSource().getLocation();
  }
}
