package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Artifact;
import ai.nos.ModelSpec;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Optimizer#adopt}: a model compiled outside NOS is served only if it computes what the
 * spec's own model computes (the guard), and one that does not load or run is refused by name.
 * On the CPU with the digit model; an AOTInductor package on the GPU is in nos-core's
 * AotiModelTest.
 */
@Timeout(120)
final class AdoptTest {
  private final Optimizer optimizer = Optimizer.builder().build();

  @Test
  void sameModelCompiledElsewhere_passes_andTheSpecPointsAtIt(@TempDir Path dir)
      throws IOException {
    ModelSpec spec = TestModels.digits();
    Path copy = Files.copy(spec.artifact().localPath().orElseThrow(), dir.resolve("copy.pt"));
    Optimizer.Result r = optimizer.adopt(spec, copy, "aotinductor");
    assertTrue(r.optimized(), String.valueOf(r.guard()));
    assertEquals(List.of("aotinductor"), r.steps());
    assertEquals(0.0, r.guard().error(), 1e-6);
    assertEquals(Artifact.of(copy).withSha256(CacheKey.sha256Of(copy)), r.spec().artifact(),
        "pinned to the bytes that passed the guard");
    assertEquals(spec.signature(), r.spec().signature());
  }

  @Test
  void compiledModelThatComputesSomethingElse_isNotAdopted(@TempDir Path dir)
      throws IOException {
    ModelSpec spec = TestModels.digits();
    Path copy = Files.copy(spec.artifact().localPath().orElseThrow(), dir.resolve("copy.pt"));
    Optimizer.Result r = optimizer.adopt(spec, copy, "aotinductor",
        m -> TestModels.perturbed(m, v -> {
          float largest = 0;
          for (float x : v) {
            largest = Math.max(largest, Math.abs(x));
          }
          v[1] += 0.02f * largest;
          return v;
        }));
    assertFalse(r.optimized());
    assertSame(spec, r.spec(), "the spec as it was");
    assertFalse(r.guard().passed());
    assertEquals("output 'logits' relative error 0.02 > 0.001", r.guard().toString());
  }

  @Test
  void packageThatDoesNotLoad_isRefusedWithTheReason(@TempDir Path dir) throws IOException {
    Path pkg = dir.resolve("broken.pt2");
    try (OutputStream out = Files.newOutputStream(pkg);
        ZipOutputStream zip = new ZipOutputStream(out)) {
      zip.putNextEntry(new ZipEntry("m/data/aotinductor/model/x.wrapper.so"));
      zip.write(new byte[] {1, 2, 3});
      zip.closeEntry();
    }
    String before = System.getProperty("nos.aoti.dir");
    System.setProperty("nos.aoti.dir", dir.resolve("cache").toString());
    try {
      OptimizationException e = assertThrows(OptimizationException.class,
          () -> optimizer.adopt(TestModels.digits(), pkg, "aotinductor"));
      assertTrue(e.getMessage().startsWith("optimization step 'aotinductor' rejected for model"
          + " 'digits': " + pkg + " does not load: "), e.getMessage());
      assertTrue(e.getMessage().contains("is not a complete shared library"), e.getMessage());
    } finally {
      if (before == null) {
        System.clearProperty("nos.aoti.dir");
      } else {
        System.setProperty("nos.aoti.dir", before);
      }
    }
  }

  @Test
  void compiledModelThatFailsToRun_isRefusedWithTheReason() {
    ModelSpec spec = TestModels.digits();
    Path identity = TestModels.modelsDir().resolve("fixtures/identity.pt");
    OptimizationException e = assertThrows(OptimizationException.class,
        () -> optimizer.adopt(spec, identity, "aotinductor"));
    assertTrue(e.getMessage().contains("it fails on the guard's inputs"), e.getMessage());
  }

  @Test
  void missingArguments_areRefusedByName() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> optimizer.adopt(TestModels.digits(), null, " "));
    assertEquals("spec, compiled and step must be given (step not blank) but were 'digits',"
        + " null, ' '", e.getMessage());
  }

  @Test
  void compiledThatIsNotAFile_isRefusedByName(@TempDir Path dir) {
    // It escaped as an UncheckedIOException from hashing, neither of the documented exceptions.
    for (Path compiled : List.of(dir.resolve("missing.pt2"), dir)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> optimizer.adopt(TestModels.digits(), compiled, "aotinductor"));
      assertEquals("model 'digits': the compiled artifact must be a readable regular file but "
          + compiled + " is " + (Files.exists(compiled) ? "not one" : "missing"), e.getMessage());
    }
  }
}
