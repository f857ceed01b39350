package ai.nos;

import static ai.nos.Fixtures.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
}
