package ai.nos;

import static ai.nos.Fixtures.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed AOTInductor package {@code models/aoti/digits-cpu-portable.pt2} (the shipped
 * digit model compiled by torch 2.11 on the GPU machine with {@code scripts/gpu/make_aoti.py
 * /tmp/aoti models/digits/digits.pt digits-cpu-portable}: scalar x86-64-v2 code, glibc 2.36
 * symbols) run by NOS's libtorch 2.10 on the CPU, in CI, against the TorchScript model it was
 * compiled from.
 */
@Timeout(120)
final class AotiCpuPackageTest {
  @TempDir Path cache;
  private String previous;

  @BeforeEach
  void extractInto() {
    previous = System.getProperty("nos.aoti.dir");
    System.setProperty("nos.aoti.dir", cache.toString());
  }

  @AfterEach
  void restore() {
    if (previous == null) {
      System.clearProperty("nos.aoti.dir");
    } else {
      System.setProperty("nos.aoti.dir", previous);
    }
  }

  private static ModelSpec portable() {
    return Fixtures.digitsOn("cpu").toBuilder().id("digits-aoti-cpu")
        .artifact(Fixtures.modelsDir().resolve("aoti/digits-cpu-portable.pt2")).build();
  }

  @Test
  void package_matchesTorchScript_atEveryBatchSize() {
    var rows = Fixtures.heldOutDigits();
    try (Model script = Nos.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-ts").build());
        Model compiled = Nos.load(portable())) {
      for (int n : new int[] {1, 3, 64, 256}) {
        Tensor input = Fixtures.digitBatch(rows, 0, n);
        float[] got = compiled.infer(input).get("logits").toFloatArray();
        assertEquals(n * 10, got.length, n + " rows");
        double err = relativeError(got, script.infer(input).get("logits").toFloatArray());
        assertTrue(err <= 1e-4, n + " rows: relative error " + err);
      }
    }
  }

  /**
   * The package was exported with a batch range of 1 to 256; its generated CPU code sizes every
   * buffer from the input, so a larger batch (300 rows) still computes TorchScript's answers.
   */
  @Test
  void batchAboveTheExportedRange_stillMatchesTorchScript() {
    var rows = Fixtures.heldOutDigits();
    assertTrue(rows.size() >= 300, rows.size() + " held-out rows");
    Tensor big = Fixtures.digitBatch(rows, 0, 300);
    try (Model script = Nos.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-ts").build());
        Model compiled = Nos.load(portable())) {
      double err = relativeError(compiled.infer(big).get("logits").toFloatArray(),
          script.infer(big).get("logits").toFloatArray());
      assertTrue(err <= 1e-4, "300 rows: relative error " + err);
    }
  }

  /** Two model instances per copy: eight threads share them and get one thread's answers. */
  @Test
  void eightThreads_getOneThreadsAnswers() throws Exception {
    var rows = Fixtures.heldOutDigits();
    Tensor input = Fixtures.digitBatch(rows, 0, 16);
    try (Model compiled = Nos.load(portable())) {
      float[] expected = compiled.infer(input).get("logits").toFloatArray();
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        List<Future<Double>> errors = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          errors.add(pool.submit(() -> {
            double worst = 0;
            for (int i = 0; i < 50; i++) {
              worst = Math.max(worst, relativeError(
                  compiled.infer(input).get("logits").toFloatArray(), expected));
            }
            return worst;
          }));
        }
        for (Future<Double> e : errors) {
          assertEquals(0.0, e.get(), 1e-6);
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  /**
   * A spec whose input sizes after the batch are not the package's: [-1, 1, 4, 4] for a library
   * compiled for [-1, 1, 8, 8]. It loaded, passed the signature check, and every call read past
   * its 16 floats a row (logits of 1e7 to 1e32, others on each run). Now the load refuses it by
   * the sizes in the package's source, before the library is mapped, and a right spec still
   * loads in the same JVM.
   */
  @Test
  void inputSizesThePackageWasNotCompiledFor_areRefusedAtLoadByName() {
    Path file = Fixtures.modelsDir().resolve("aoti/digits-cpu-portable.pt2");
    for (long[] shape : new long[][] {{-1, 1, 4, 4}, {-1, 1, 8}}) {
      ModelSpec spec = portable().toBuilder().id("digits-small").signature(Signature.builder()
          .input("image", DType.FLOAT32, shape).output("logits", DType.FLOAT32, -1, 10)
          .build()).build();
      ModelLoadException e = assertThrows(ModelLoadException.class, () -> Nos.load(spec));
      String message = e.getMessage();
      assertTrue(message.startsWith("model 'digits-small': input 'image' has shape "
          + java.util.Arrays.toString(shape) + " but the AOTInductor library "), message);
      assertTrue(message.contains(".wrapper.so of " + file + " was compiled for size 8 at"
          + " dimension 2, not 4; give the sizes the package was exported with")
          || message.contains("was compiled for size 8 at dimension 3, which the spec's input"
          + " lacks"), message);
    }
    try (Model compiled = Nos.load(portable())) {
      assertEquals(20, compiled.infer(Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 2))
          .get("logits").toFloatArray().length);
    }
  }
}
