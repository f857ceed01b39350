package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.module.ModuleDescriptor;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * nos-core's module exports its API packages alone; each internal package other NOS modules use is
 * exported to those modules by name, and the rest to no one. Tests run on the class path (as on
 * the GPU machine), so the descriptor is read from the classes folder or jar Nos came from.
 */
final class ModuleDescriptorTest {

  @Test
  void exports_apiToAll_internalsOnlyToNamedNosModules() throws Exception {
    ModuleDescriptor module = ai.nos.testing.ModuleDescriptors.of(Nos.class);
    assertEquals("ai.nos", module.name());
    Set<String> open = new TreeSet<>();
    Map<String, Set<String>> qualified = new TreeMap<>();
    for (ModuleDescriptor.Exports e : module.exports()) {
      if (e.isQualified()) {
        qualified.put(e.source(), new TreeSet<>(e.targets()));
      } else {
        open.add(e.source());
      }
    }
    assertEquals(Set.of("ai.nos", "ai.nos.generate"), open, "packages exported to every module");
    assertEquals(Map.of(
        "ai.nos.internal", Set.of("ai.nos.optim", "ai.nos.hub"),
        "ai.nos.internal.torch", Set.of("ai.nos.optim"),
        "ai.nos.internal.files", Set.of("ai.nos.hub", "ai.nos.optim"),
        "ai.nos.internal.json", Set.of("ai.nos.hub", "ai.nos.optim"),
        "ai.nos.internal.image", Set.of("ai.nos.hub"),
        "ai.nos.internal.audio", Set.of("ai.nos.hub")), qualified);
    assertEquals(Set.of(), module.opens(), "no package is open to reflection");
  }
}
