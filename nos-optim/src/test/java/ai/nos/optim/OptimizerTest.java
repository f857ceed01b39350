package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Precision;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** TorchScript passes through the cache and the guard, on the CPU with the digit model. */
@Timeout(120)
final class OptimizerTest {

  @Test
  void freeze_passesTheGuard_matchesTheEagerModel_andIsCached(@TempDir Path dir)
      throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir).build();
    Optimizer optimizer = Optimizer.builder().cache(cache).freeze(true).build();
    ModelSpec spec = TestModels.digits();
    Optimizer.Result r = optimizer.optimize(spec);
    assertTrue(r.optimized(), String.valueOf(r.guard()));
    assertEquals(List.of("freeze"), r.steps());
    assertTrue(r.guard().passed());
    assertTrue(Files.isRegularFile(r.artifact()));
    assertTrue(r.artifact().startsWith(dir));
    assertNotEquals(spec.artifact(), r.spec().artifact());
    assertEquals(spec.signature(), r.spec().signature());

    float[] px = new float[16 * 64];
    for (int i = 0; i < px.length; i++) {
      px[i] = (i * 7 % 17) / 16f;
    }
    Map<String, Tensor> in = Map.of("image", Tensor.of(px, 16, 1, 8, 8));
    try (Model eager = Nos.load(spec.toBuilder().id("digits-eager").build());
        Model fast = Nos.load(r.spec().toBuilder().id("digits-optimized").build())) {
      assertArrayEquals(eager.infer(in).get("logits").toFloatArray(),
          fast.infer(in).get("logits").toFloatArray(), 1e-4f);
    }

    FileTime built = Files.getLastModifiedTime(r.artifact());
    Optimizer.Result again = optimizer.optimize(spec);
    assertEquals(r.artifact(), again.artifact(), "same content and options, same cache entry");
    assertEquals(built, Files.getLastModifiedTime(again.artifact()), "not built twice");
  }

  @Test
  void eachSourceIsItsOwnEntry(@TempDir Path dir) {
    ArtifactCache cache = ArtifactCache.builder().directory(dir).build();
    Optimizer optimizer = Optimizer.builder().cache(cache).freeze(true).build();
    Path digits = optimizer.optimize(TestModels.digits()).artifact();
    ModelSpec other = TestModels.digits().toBuilder().id("two").artifact(
        TestModels.modelsDir().resolve("fixtures/two_in_two_out.pt"))
        .signature(ai.nos.Signature.builder()
            .input("a", ai.nos.DType.FLOAT32, -1, 4).input("b", ai.nos.DType.FLOAT32, -1, 4)
            .output("sum", ai.nos.DType.FLOAT32, -1, 4).output("mix", ai.nos.DType.FLOAT32, -1, 4)
            .build()).build();
    Optimizer.Result r = optimizer.optimize(other);
    assertTrue(r.optimized(), String.valueOf(r.guard()));
    assertNotEquals(digits, r.artifact());
  }

  /**
   * The optimizer builds from the bytes the spec pins, not from whatever the file holds, and the
   * spec it returns pins the bytes that passed the guard: a cached artifact edited afterwards is
   * refused when loaded.
   */
  @Test
  void sourceAndResult_arePinnedBySha256(@TempDir Path dir) throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(dir.resolve("cache")).build();
    Optimizer optimizer = Optimizer.builder().cache(cache).freeze(true).build();
    ModelSpec wrong = TestModels.digits().toBuilder()
        .artifact(TestModels.digits().artifact().withSha256("0".repeat(64))).build();
    var e = org.junit.jupiter.api.Assertions.assertThrows(ai.nos.ModelLoadException.class,
        () -> optimizer.optimize(wrong));
    assertTrue(e.getMessage().contains("but the spec expects " + "0".repeat(64)), e.getMessage());
    Path entries = dir.resolve("cache/entries");
    try (var listed =
        Files.exists(entries) ? Files.list(entries) : java.util.stream.Stream.empty()) {
      assertEquals(0, listed.count(), "nothing was built from bytes the spec does not pin");
    }

    Optimizer.Result r = optimizer.optimize(TestModels.digits());
    assertEquals(java.util.Optional.of(CacheKey.sha256Of(r.artifact())),
        r.spec().artifact().sha256(), "the result pins what passed the guard");
    Path copy = Files.copy(r.artifact(), dir.resolve("optimized.pt"));
    byte[] edited = Files.readAllBytes(copy);
    edited[edited.length / 2] ^= 1;
    Files.write(copy, edited);
    ModelSpec served = r.spec().toBuilder().artifact(ai.nos.Artifact.of(copy)
        .withSha256(r.spec().artifact().sha256().orElseThrow())).build();
    org.junit.jupiter.api.Assertions.assertThrows(ai.nos.ModelLoadException.class,
        () -> Nos.load(served).close());
  }

  /**
   * The guard's calls are the optimizer's own, not the application's: a spec that batches at most
   * 2 rows, or whose maxCallBytes admits one row, is optimized, and the spec returned keeps those
   * settings. Both threw an IllegalArgumentException about 'digits-reference', a model the caller
   * never named, whose guard batch of 4 the spec refused.
   */
  @Test
  void specWithSmallBatchesOrCalls_isOptimized_keepingItsLimits(@TempDir Path dir) {
    Optimizer optimizer = Optimizer.builder().freeze(true)
        .cache(ArtifactCache.builder().directory(dir).build()).build();
    ModelSpec pairs = TestModels.digits().toBuilder().maxBatchSize(2).build();
    // One row of the digit model: 64 float inputs and 10 float logits.
    ModelSpec rows = TestModels.digits().toBuilder().maxCallBytes(74 * 4).build();
    for (ModelSpec spec : List.of(pairs, rows)) {
      Optimizer.Result r = optimizer.optimize(spec);
      assertTrue(r.optimized(), String.valueOf(r.guard()));
      assertEquals(spec.batching(), r.spec().batching());
      assertEquals(spec.maxCallBytes(), r.spec().maxCallBytes());
      try (Model fast = Nos.load(r.spec())) {
        assertEquals(10, fast.infer(Map.of("image", Tensor.of(new float[64], 1, 1, 8, 8)))
            .get("logits").toFloatArray().length);
      }
    }
  }

  /**
   * A half-precision spec is frozen in its precision. Freezing makes the weights constants, which
   * the load's cast to fp16 or bf16 does not reach, so every fp16 and bf16 result ran half inputs
   * against float constants and optimize threw ('optimization step 'freeze' rejected ... Input
   * type (c10::Half) and bias type (float) should be the same'). It passes the guard now, at the
   * half threshold, and serves what the spec's own model serves.
   */
  @ParameterizedTest
  @EnumSource(value = Precision.class, names = {"FP16", "BF16"})
  void freeze_halfPrecisionSpec_isFrozenInItsPrecision(Precision precision, @TempDir Path dir) {
    Optimizer optimizer = Optimizer.builder().freeze(true)
        .cache(ArtifactCache.builder().directory(dir).build()).build();
    ModelSpec spec = TestModels.digits().toBuilder().precision(precision).build();
    Optimizer.Result r = optimizer.optimize(spec);
    assertTrue(r.optimized(), String.valueOf(r.guard()));
    assertEquals(AccuracyGuard.HALF_THRESHOLD, r.guard().threshold());
    Map<String, Tensor> in = Map.of("image", TestModels.digitImages(heldOut(), 0, 8));
    try (Model eager = Nos.load(spec.toBuilder().id("digits-half").build());
        Model fast = Nos.load(r.spec().toBuilder().id("digits-half-frozen").build())) {
      assertArrayEquals(eager.infer(in).get("logits").toFloatArray(),
          fast.infer(in).get("logits").toFloatArray(), 1e-2f);
    }
  }

  private static List<int[]> heldOut() {
    try {
      return TestModels.heldOutDigits();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void noPasses_returnTheSpecUnchanged() {
    ModelSpec spec = TestModels.digits();
    Optimizer.Result r = Optimizer.builder().build().optimize(spec);
    assertFalse(r.optimized());
    assertSame(spec, r.spec());
    assertTrue(r.steps().isEmpty());
  }

  @Test
  void optimize_nullSpec_isRefusedByName(@TempDir Path dir) {
    // Without passes it returned a Result whose spec was null; with one, a bare NPE.
    ArtifactCache cache = ArtifactCache.builder().directory(dir).build();
    for (boolean freeze : new boolean[] {false, true}) {
      Optimizer optimizer = Optimizer.builder().cache(cache).freeze(freeze).build();
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> optimizer.optimize(null), "freeze " + freeze);
      assertEquals("spec must be given but was null", e.getMessage());
    }
  }

  /**
   * A spec whose own model does not compute its signature (here an identity model under the
   * digits' signature) leaves nothing to check an optimization against. The reference's
   * InferenceException escaped optimize and adopt, neither of which documents it, naming
   * 'digits-reference', a model the caller never made; and a good spec still optimizes after.
   */
  @Test
  void specWhoseOwnModelFailsTheGuardsInputs_isAnOptimizationExceptionNamingIt(
      @TempDir Path dir) {
    Optimizer optimizer = Optimizer.builder()
        .cache(ArtifactCache.builder().directory(dir).build()).freeze(true).build();
    Path identity = TestModels.modelsDir().resolve("fixtures/identity.pt");
    ModelSpec broken = TestModels.digits().toBuilder().artifact(identity).build();
    Path pkg = TestModels.modelsDir().resolve("aoti/digits-cpu-portable.pt2");
    String aotiDir = System.getProperty("nos.aoti.dir");
    System.setProperty("nos.aoti.dir", dir.resolve("aoti").toString());
    try {
      for (String step : List.of("freeze", "aotinductor")) {
        OptimizationException e = assertThrows(OptimizationException.class,
            () -> {
              if (step.equals("freeze")) {
                optimizer.optimize(broken);
              } else {
                optimizer.adopt(broken, pkg, step);
              }
            }, step);
        assertTrue(e.getMessage().startsWith("model 'digits': the spec's own model ("
            + identity + ", run in fp32 as the guard's reference) fails on the guard's inputs,"
            + " so step '" + step + "' cannot be checked against it: "), e.getMessage());
        assertTrue(e.getMessage().contains("[-1, 10]"), e.getMessage());
        assertTrue(e.getCause() instanceof ai.nos.InferenceException, step);
      }
      assertTrue(optimizer.optimize(TestModels.digits()).optimized());
      assertTrue(optimizer.adopt(TestModels.digits(), pkg, "aotinductor").optimized());
    } finally {
      if (aotiDir == null) {
        System.clearProperty("nos.aoti.dir");
      } else {
        System.setProperty("nos.aoti.dir", aotiDir);
      }
    }
  }

  /**
   * freeze is a TorchScript pass: asked of an AOTInductor package it threw an
   * OptimizationException from libtorch's TorchScript reader ("constants.pkl: file not found")
   * naming the load's deleted private copy. The package comes back as the spec to serve, saying
   * why, and nothing is built.
   */
  @Test
  void freeze_ofAnAotinductorPackage_returnsTheSpecSayingWhy(@TempDir Path dir)
      throws IOException {
    Optimizer optimizer = Optimizer.builder()
        .cache(ArtifactCache.builder().directory(dir).build()).freeze(true).build();
    Path pkg = TestModels.modelsDir().resolve("aoti/digits-cpu-portable.pt2").toRealPath();
    ModelSpec spec = TestModels.digits().toBuilder().artifact(pkg).build();
    Optimizer.Result r = optimizer.optimize(spec);
    assertSame(spec, r.spec());
    assertFalse(r.optimized());
    assertEquals(null, r.artifact());
    assertEquals("step 'freeze' is a TorchScript pass but " + pkg + " is a compiled artifact"
        + " (an AOTInductor package or an engine), served as it is", r.fallback());
    try (var entries = Files.list(dir.resolve("entries"))) {
      assertEquals(0, entries.count(), "nothing built");
    }
  }
}
