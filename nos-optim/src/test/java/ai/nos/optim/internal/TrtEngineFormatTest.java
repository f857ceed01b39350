package ai.nos.optim.internal;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which artifacts NOS takes for TensorRT engines: by name ({@code .engine}, {@code .plan},
 * {@code .trt}, any case) or by TensorRT 10's plan tag in the first bytes (the optimizer's cache
 * names its entry {@code artifact}); never a TorchScript file, and never without reading.
 */
final class TrtEngineFormatTest {
  private static final Path MODELS = Path.of(System.getProperty("nos.models.dir", "../models"));
  private static final Path PLAN = MODELS.resolve("trt/digits-trt10.6-sm90.plan");
  private final TrtEngineFormat format = new TrtEngineFormat();

  @Test
  void engineNames_areEngines_whateverTheBytes(@TempDir Path dir) throws Exception {
    Path bytes = Files.write(dir.resolve("x"), new byte[] {1, 2, 3});
    for (String name : new String[] {"m.engine", "m.plan", "m.trt", "M.ENGINE", "r50.Plan"}) {
      assertTrue(format.accepts(dir.resolve(name), bytes), name);
    }
  }

  @Test
  void thePlanTag_makesAnEngine_underAnyName(@TempDir Path dir) throws Exception {
    Path artifact = Files.copy(PLAN, dir.resolve("artifact"));
    assertTrue(format.accepts(artifact, artifact));
  }

  @Test
  void torchScriptAndOtherFiles_areNotEngines(@TempDir Path dir) throws Exception {
    Path digits = MODELS.resolve("digits/digits.pt");
    assertFalse(format.accepts(digits, digits));
    Path shortFile = Files.write(dir.resolve("short"), new byte[] {'f', 't'});
    assertFalse(format.accepts(shortFile, shortFile));
    Path missing = dir.resolve("missing");
    assertFalse(format.accepts(missing, missing));
    Path pt2 = Files.write(dir.resolve("model.pt2"), new byte[] {'P', 'K', 3, 4});
    assertFalse(format.accepts(pt2, pt2));
  }
}
