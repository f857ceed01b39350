package ai.nos.optim.internal;

import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.internal.torch.CompiledFormat;
import ai.nos.internal.torch.CompiledRunner;
import ai.nos.internal.torch.VerifiedArtifact;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * TensorRT engines as NOS artifacts: a spec whose artifact file ends in {@code .engine},
 * {@code .plan} or {@code .trt} (the names {@code trtexec --saveEngine} gives them), or whose
 * bytes start with TensorRT 10's plan tag {@code ftrt} (what the optimizer's cache holds, under the
 * cache's own file name), is served by a {@link TrtRunner} when nos-optim is on the class or
 * module path. Found by nos-core through {@link java.util.ServiceLoader}.
 *
 * <p>Stateless and thread-safe.
 */
public final class TrtEngineFormat implements CompiledFormat {
  /** The file name endings taken as TensorRT engines. */
  static final String[] SUFFIXES = {".engine", ".plan", ".trt"};
  /**
   * The first bytes of a TensorRT 10 plan (a 10.6 plan of the digit model: {@code 66 74 72 74}).
   */
  private static final byte[] TAG = {'f', 't', 'r', 't'};

  /** For {@link java.util.ServiceLoader}. */
  public TrtEngineFormat() {}

  @Override
  public boolean accepts(Path origin, Path verified) {
    Path name = origin.getFileName();
    if (name == null) {
      return false;
    }
    String lower = name.toString().toLowerCase(Locale.ROOT);
    for (String suffix : SUFFIXES) {
      if (lower.endsWith(suffix)) {
        return true;
      }
    }
    return startsWithTag(verified);
  }

  /** Whether the file's first bytes are TensorRT 10's plan tag; false if it cannot be read. */
  static boolean startsWithTag(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      return Arrays.equals(in.readNBytes(TAG.length), TAG);
    } catch (IOException e) {
      return false;
    }
  }

  @Override
  public CompiledRunner open(ModelSpec spec, VerifiedArtifact verified, Device device) {
    return TrtRunner.open(spec, verified, device);
  }
}
