package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The manager on real libtorch (CPU): measured footprints, the catalog, eviction and reload. */
final class ModelManagerCpuTest {
  private static final Tensor IDS = Tensor.of(new long[] {1, 2, 3}, 1, 3);

  @Test
  void tightBudget_evictsAndReloads_withMeasuredFootprintsFromTheCatalog(@TempDir Path dir) {
    Path catalog = dir.resolve("footprints.json");
    ModelSpec digits = Fixtures.digitsOn("cpu");
    ModelSpec tokens = Fixtures.tokens();
    Tensor image = Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 4);
    long digitsBytes;
    long tokensBytes;
    float[] digitsRef;
    float[] tokensRef;
    try (ModelManager roomy = ModelManager.builder().devices(Device.cpu())
        .footprintCatalog(catalog).build();
        Model d = roomy.load(digits); Model t = roomy.load(tokens)) {
      digitsRef = d.infer(image).get("logits").toFloatArray();
      tokensRef = t.infer(IDS).get("embedding").toFloatArray();
      Map<String, ModelInfo> info = byId(roomy.models());
      digitsBytes = info.get("digits").bytes();
      tokensBytes = info.get("tokens").bytes();
      // Parameters of the two models: conv 16+32 channels and a 512x10 linear; a 100x8 table.
      assertEquals(4 * (16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * 10 + 10), digitsBytes);
      assertEquals(4 * 100 * 8, tokensBytes);
    }

    long budget = digitsBytes + tokensBytes / 2;
    try (ModelManager tight = ModelManager.builder().devices(Device.cpu())
        .memoryBudget(Device.cpu(), budget).footprintCatalog(catalog).build();
        Model d = tight.load(digits)) {
      Model t = tight.load(tokens);
      assertTrue(byId(tight.models()).get("tokens").measured(), "known from the catalog");
      assertEquals(ModelState.EVICTED, byId(tight.models()).get("digits").state());
      for (int i = 0; i < 3; i++) {
        assertArrayEquals(digitsRef, d.infer(image).get("logits").toFloatArray());
        assertArrayEquals(tokensRef, t.infer(IDS).get("embedding").toFloatArray());
      }
      DeviceStats cpu = tight.stats().get(0);
      assertTrue(cpu.evictions() >= 6, cpu.toString());
      assertTrue(cpu.usedBytes() <= budget);
      assertEquals(-1, cpu.allocatedBytes(), "the CPU's allocator is not measured");
      assertTrue(byId(tight.models()).get("digits").loads() >= 4);
      assertEquals(6 + 0, byId(tight.models()).get("digits").requests()
          + byId(tight.models()).get("tokens").requests());
      t.close();
    }
  }

  /** What a user reads to learn which load-time steps a model really runs with. */
  @Test
  void models_sayWhichLoadTimeStepsTheCopyRunsWith() {
    try (ModelManager m = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .build()) {
      try (Model steps = m.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-steps")
              .optimize(Optimization.FREEZE, Optimization.CUDA_GRAPHS).build());
          Model plain = m.load(Fixtures.digitsOn("cpu"))) {
        Map<String, List<String>> applied = new java.util.TreeMap<>();
        m.models().forEach(info -> applied.put(info.id(), info.optimizations()));
        // CUDA graphs do not apply on the CPU: the copy runs frozen only.
        assertEquals(Map.of("digits", List.of(), "digits-steps", List.of("freeze")), applied);
      }
    }
  }

  @Test
  void loadAll_nullListOrSpec_isRefusedNamingIt_nothingLoaded() {
    try (ModelManager m = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .build()) {
      var e = assertThrows(IllegalArgumentException.class, () -> m.loadAll(null));
      assertEquals("specs must not be null", e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> m.loadAll(java.util.Arrays.asList(Fixtures.digitsOn("cpu"), null)));
      assertEquals("specs[1] must not be null", e.getMessage());
      assertEquals(List.of(), m.models());
    }
  }

  @Test
  void modelLargerThanEveryBudget_statesItsBytesAndTheBudgets() {
    try (ModelManager m = ModelManager.builder().devices(Device.cpu())
        .memoryBudget(Device.cpu(), 1000).noFootprintCatalog().build()) {
      // An estimate never refuses (issue 24): the load measures, and the measurement refuses.
      var e = assertThrows(NosException.class, () -> m.load(Fixtures.digitsOn("cpu")));
      assertTrue(e.getMessage().contains("'digits' measured 39720 bytes")
          && e.getMessage().contains("budget 1000 B"), e.getMessage());
      assertEquals(List.of(), m.models());
    }
  }

  @Test
  void allowedDirectories_refuseArtifactsElsewhere_linksIncluded(@TempDir Path dir)
      throws java.io.IOException {
    Path allowed = java.nio.file.Files.createDirectory(dir.resolve("allowed"));
    Path original = Fixtures.modelsDir().resolve("digits/digits.pt");
    Path inside = java.nio.file.Files.copy(original, allowed.resolve("digits.pt"));
    Path link = java.nio.file.Files.createSymbolicLink(allowed.resolve("link.pt"),
        original.toAbsolutePath());
    try (ModelManager m = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .allowedDirectories(allowed).build()) {
      var outside = assertThrows(ModelLoadException.class,
          () -> m.load(Fixtures.digitsOn("cpu")));
      assertTrue(outside.getMessage().contains("outside the allowed directories"),
          outside.getMessage());
      var viaLink = assertThrows(ModelLoadException.class, () -> m.load(Fixtures.digitsOn("cpu")
          .toBuilder().id("digits-link").artifact(link).build()));
      assertTrue(viaLink.getMessage().contains(original.toRealPath().toString()),
          viaLink.getMessage());
      try (Model ok = m.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-inside")
          .artifact(inside).build())) {
        assertEquals(1, ok.infer(Tensor.of(new float[64], 1, 1, 8, 8)).get("logits").dim(0));
      }
    }
    assertThrows(IllegalArgumentException.class,
        () -> ModelManager.builder().allowedDirectories(dir.resolve("missing")));
  }

  /**
   * The allowed directories are checked on every load, reloads after eviction included: a link
   * inside them repointed outside after the first load stops the next reload.
   */
  @Test
  void allowedDirectories_checkedAgainOnTheReloadAfterEviction(@TempDir Path dir)
      throws java.io.IOException {
    Path allowed = java.nio.file.Files.createDirectory(dir.resolve("allowed"));
    Path inside = java.nio.file.Files.copy(Fixtures.modelsDir().resolve("digits/digits.pt"),
        allowed.resolve("digits.pt"));
    Path tokensFile = java.nio.file.Files.copy(Fixtures.tokens().artifact().localPath()
        .orElseThrow(), allowed.resolve("tokens.pt"));
    Path outside = java.nio.file.Files.copy(inside, dir.resolve("outside.pt"));
    Path link = java.nio.file.Files.createSymbolicLink(allowed.resolve("link.pt"), inside);
    ModelSpec digits = Fixtures.digitsOn("cpu").toBuilder().artifact(link).build();
    ModelSpec tokens = Fixtures.tokens().toBuilder().artifact(tokensFile).build();
    // Digits' file (49090 B) fits; digits as measured (39720 B) beside tokens' file (10675 B)
    // does not, so loading tokens evicts digits.
    try (ModelManager m = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .memoryBudget(Device.cpu(), 50_000)
        .allowedDirectories(allowed).build();
        Model d = m.load(digits)) {
      Tensor image = Tensor.of(new float[64], 1, 1, 8, 8);
      d.infer(image);
      try (Model t = m.load(tokens)) {
        t.infer(IDS);
        assertEquals(ModelState.EVICTED, byId(m.models()).get("digits").state());
        java.nio.file.Files.delete(link);
        java.nio.file.Files.createSymbolicLink(link, outside);
        var e = assertThrows(ModelLoadException.class, () -> d.infer(image));
        assertTrue(e.getMessage().contains("outside the allowed directories")
            && e.getMessage().contains(outside.toRealPath().toString()), e.getMessage());
      }
    }
  }

  @Test
  void builder_rejectsBadSettings_namingTheValue() {
    var b = ModelManager.builder();
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.memoryFraction(1.5))
        .getMessage().contains("1.5"));
    b.memoryFraction(0.5);
    assertThrows(IllegalArgumentException.class, () -> b.devices(Device.auto()));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> ModelManager.builder().devices(Device.cuda(7)).build()).getMessage()
        .contains("cuda:7"));
  }

  /** Batches run on threads from the application's factory, named for the copy meanwhile. */
  @Test
  void threadFactory_makesTheThreadsThatRunBatches() throws Exception {
    java.util.Set<String> made = java.util.concurrent.ConcurrentHashMap.newKeySet();
    java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.ThreadFactory factory = task -> {
      Thread t = new Thread(task, "app-worker-" + n.getAndIncrement());
      t.setDaemon(true);
      made.add(t.getName());
      return t;
    };
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder().id("digits-factory")
        .batching(Batching.builder().maxBatchSize(4).build()).build();
    java.util.List<Thread> workers;
    try (ModelManager m = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .threadFactory(factory).build(); Model model = m.load(spec)) {
      model.infer(Map.of("image", Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 1)));
      workers = Thread.getAllStackTraces().keySet().stream()
          .filter(t -> t.getName().startsWith("nos-batcher-digits-factory@cpu-")).toList();
      assertEquals(2, workers.size(), workers.toString());
      assertTrue(assertThrows(NullPointerException.class,
          () -> ModelManager.builder().threadFactory(null)).getMessage().contains("null"));
    }
    assertEquals(java.util.Set.of("app-worker-0", "app-worker-1"), made);
    for (Thread t : workers) {
      t.join(10_000);
      assertTrue(!t.isAlive() || t.getName().startsWith("app-worker-"), t.getName());
    }
  }

  private static Map<String, ModelInfo> byId(List<ModelInfo> infos) {
    Map<String, ModelInfo> out = new java.util.HashMap<>();
    infos.forEach(i -> out.put(i.id(), i));
    return out;
  }
}
