package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * With nos-optim on the class path, {@code Nos.load} knows a TensorRT engine (nos-core finds
 * nos-optim's format through the ServiceLoader) and refuses it clearly where it cannot serve it:
 * on this CPU-only machine TensorRT's libraries are absent, and an engine runs on CUDA devices
 * only. Without the format, libtorch would try the plan as TorchScript and fail with its own
 * archive error.
 */
final class EngineArtifactTest {
  private static final Path PLAN = TestModels.modelsDir().resolve("trt/digits-trt10.6-sm90.plan");

  @Test
  void anEngine_whereTensorRtCannotServeIt_isRefusedNamingTheEngineAndWhy() {
    ModelSpec spec = TestModels.digits().toBuilder().id("digits-engine").artifact(PLAN).build();
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> Nos.load(spec));
    String m = e.getMessage();
    assertTrue(m.contains("model 'digits-engine'"), m);
    assertTrue(m.contains("digits-trt10.6-sm90.plan") && m.contains("TensorRT engine"), m);
    assertTrue(m.contains("TensorRT is not usable here") || m.contains("CUDA devices only"), m);
  }
}
