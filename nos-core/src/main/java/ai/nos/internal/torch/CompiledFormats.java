package ai.nos.internal.torch;

import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;

/**
 * The {@link CompiledFormat}s on the class or module path, found once per JVM (holder idiom;
 * read by any thread afterwards).
 */
final class CompiledFormats {
  private CompiledFormats() {}

  private static final class Holder {
    static final List<CompiledFormat> FORMATS = ServiceLoader
        .load(CompiledFormat.class, CompiledFormat.class.getClassLoader()).stream()
        .map(ServiceLoader.Provider::get).toList();
  }

  /** The format that takes the artifact, or null: it is TorchScript. */
  static CompiledFormat find(Path origin, Path verified) {
    for (CompiledFormat f : Holder.FORMATS) {
      if (f.accepts(origin, verified)) {
        return f;
      }
    }
    return null;
  }
}
