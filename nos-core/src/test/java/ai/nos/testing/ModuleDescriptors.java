package ai.nos.testing;

import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarFile;

/**
 * Reads a module's descriptor from the classes folder or jar a class was loaded from. Tests run on
 * the class path (as on the GPU machine), so each module's ModuleDescriptorTest reads its
 * descriptor this way; shared with nos-optim's and nos-hub's through nos-core's test jar.
 */
public final class ModuleDescriptors {
  private ModuleDescriptors() {}

  /** The module descriptor in the classes folder or jar that {@code type} was loaded from. */
  public static ModuleDescriptor of(Class<?> type) throws IOException, URISyntaxException {
    Path where = Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    if (Files.isDirectory(where)) {
      try (InputStream in = Files.newInputStream(where.resolve("module-info.class"))) {
        return ModuleDescriptor.read(in);
      }
    }
    try (JarFile jar = new JarFile(where.toFile());
        InputStream in = jar.getInputStream(jar.getEntry("module-info.class"))) {
      return ModuleDescriptor.read(in);
    }
  }
}
