package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.module.ModuleDescriptor;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * nos-hub's module exports its API packages alone (ai.nos.hub and ai.nos.hub.audio), to every
 * module, and opens nothing.
 */
final class ModuleDescriptorTest {

  @Test
  void exports_onlyTheApiPackages() throws Exception {
    ModuleDescriptor module = ai.nos.testing.ModuleDescriptors.of(Hub.class);
    assertEquals("ai.nos.hub", module.name());
    assertEquals(Set.of("ai.nos.hub", "ai.nos.hub.audio"), module.exports().stream()
        .map(e -> e.source() + (e.isQualified() ? " to " + e.targets() : ""))
        .collect(Collectors.toSet()));
    assertEquals(Set.of(), module.opens());
  }
}
