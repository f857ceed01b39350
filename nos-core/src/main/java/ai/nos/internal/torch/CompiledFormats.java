package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.ModelSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Stream;

/**
 * The {@link CompiledFormat}s NOS serves: AOTInductor packages (nos-core's own, asked first), then
 * those found on the class or module path, once per JVM (holder idiom; read by any thread
 * afterwards).
 */
final class CompiledFormats {
  private CompiledFormats() {}

  private static final class Holder {
    static final List<CompiledFormat> FORMATS = Stream.concat(Stream.of(new AotiFormat()),
        ServiceLoader.load(CompiledFormat.class, CompiledFormat.class.getClassLoader()).stream()
            .map(ServiceLoader.Provider::get)).toList();
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

  /** AOTInductor packages: a zip holding AOTInductor's marker entry. */
  static final class AotiFormat implements CompiledFormat {
    @Override
    public boolean accepts(Path origin, Path verified) {
      return AotiPackage.isPackage(verified);
    }

    @Override
    public CompiledRunner open(ModelSpec spec, VerifiedArtifact verified, Device device) {
      return AotiRunner.open(spec, verified, device);
    }
  }
}
