package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** nos-optim's module exports its API package alone, to every module, and opens nothing. */
final class ModuleDescriptorTest {

  @Test
  void exports_onlyTheApiPackage() throws Exception {
    Path where = Path.of(Optimizer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    ModuleDescriptor module;
    if (Files.isDirectory(where)) {
      try (InputStream in = Files.newInputStream(where.resolve("module-info.class"))) {
        module = ModuleDescriptor.read(in);
      }
    } else {
      try (JarFile jar = new JarFile(where.toFile());
          InputStream in = jar.getInputStream(jar.getEntry("module-info.class"))) {
        module = ModuleDescriptor.read(in);
      }
    }
    assertEquals("ai.nos.optim", module.name());
    assertEquals(Set.of("ai.nos.optim"), module.exports().stream()
        .map(e -> e.source() + (e.isQualified() ? " to " + e.targets() : ""))
        .collect(Collectors.toSet()));
    assertEquals(Set.of(), module.opens());
  }
}
