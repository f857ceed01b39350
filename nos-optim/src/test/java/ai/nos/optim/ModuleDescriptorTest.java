package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.module.ModuleDescriptor;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** nos-optim's module exports its API package alone, to every module, and opens nothing. */
final class ModuleDescriptorTest {

  @Test
  void exports_onlyTheApiPackage() throws Exception {
    ModuleDescriptor module = ai.nos.testing.ModuleDescriptors.of(Optimizer.class);
    assertEquals("ai.nos.optim", module.name());
    assertEquals(Set.of("ai.nos.optim"), module.exports().stream()
        .map(e -> e.source() + (e.isQualified() ? " to " + e.targets() : ""))
        .collect(Collectors.toSet()));
    assertEquals(Set.of(), module.opens());
  }
}
