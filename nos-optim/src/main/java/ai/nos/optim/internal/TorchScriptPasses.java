package ai.nos.optim.internal;

import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.Precision;
import ai.nos.internal.torch.LibtorchMessages;
import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.global.torch;

/**
 * libtorch's TorchScript passes on a saved module; so far {@code freeze} (parameters become
 * constants, attributes are inlined, so the graph optimizer can fold them). JavaCPP types stay in
 * here.
 */
public final class TorchScriptPasses {
  private TorchScriptPasses() {}

  /**
   * Loads {@code source} on {@code device}, casts it to {@code precision}, applies the passes
   * asked for, and saves the result to {@code target}. The cast comes first, as a load's does: a
   * frozen module's weights are constants, which a cast at load no longer reaches (half inputs
   * then met float weights, and every fp16 or bf16 result failed).
   *
   * @throws ModelLoadException if libtorch cannot read the source
   * @throws RuntimeException with libtorch's message if a pass fails
   */
  public static void run(Path source, Device device, Precision precision, boolean freeze,
      Path target) {
    TorchRuntime.ensureLoaded();
    org.bytedeco.pytorch.Device where = TorchRuntime.toTorch(device);
    JitModule module;
    try (DeviceOptional map = new DeviceOptional(where)) {
      module = torch.load(source.toString(), map, false);
    } catch (RuntimeException e) {
      // nos-core's reading of libtorch's message (module-info exports internal.torch here):
      // its first non-blank line, and a newer torch's operator or format named as such.
      throw new ModelLoadException("cannot load " + source + " for optimization: "
          + LibtorchMessages.loadFailure(e.getMessage()), e);
    } finally {
      where.close();
    }
    JitModule current = module;
    try {
      current.eval();
      if (precision != Precision.FP32) {
        current.to(precision == Precision.FP16 ? torch.ScalarType.Half
            : torch.ScalarType.BFloat16, false);
      }
      if (freeze) {
        current = torch.freeze(current);
      }
      try (BytePointer path = new BytePointer(target.toString())) {
        current.save(path);
      }
    } finally {
      if (current != module) {
        current.close();
      }
      module.close();
    }
  }
}
