package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Artifact;
import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Signature;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

final class HubTest {

  private static final Signature SIGNATURE = Signature.builder()
      .input("image", DType.FLOAT32, -1, 3, 224, 224).output("logits", DType.FLOAT32, -1, 1000)
      .build();

  @TempDir Path cache;
  @TempDir Path export;

  private Downloader downloader() {
    return Downloader.builder().cacheDir(cache).retries(0).build();
  }

  /** Writes a file and its lock file as the export scripts do; returns the bytes. */
  private static byte[] exportFile(Path base, String path, long seed) throws Exception {
    byte[] bytes = Fixtures.bytes(5000 + (int) seed, seed);
    Path file = base.resolve(path);
    Files.createDirectories(file.getParent());
    Files.write(file, bytes);
    Files.writeString(base.resolve(path + CatalogArtifact.LOCK_SUFFIX),
        "{\"sha256\": \"" + Fixtures.sha256(bytes) + "\", \"size\": " + bytes.length + "}");
    return bytes;
  }

  @Test
  void merge_userEntryOverridesById() {
    CatalogEntry mine = CatalogEntry.builder().id("torchvision/resnet50")
        .artifact(CatalogArtifact.of("model", "https://example.org/r50.pt")
            .withSha256(CatalogJsonTest.SHA, 10))
        .signature(SIGNATURE).build();
    CatalogEntry extra = mine.toBuilder().id("acme/extra").build();
    Catalog merged = Catalog.builtin().merge(Catalog.of(List.of(mine, extra)));
    assertEquals(mine, merged.entry("torchvision/resnet50"));
    assertEquals("torchvision/resnet50", merged.ids().get(0), "replaced in place");
    assertEquals("acme/extra", merged.ids().get(merged.size() - 1));
    assertEquals(Catalog.builtin().size() + 1, merged.size());
    assertEquals(Catalog.builtin().entry("ultralytics/yolov8n"),
        merged.entry("ultralytics/yolov8n"));
    assertTrue(Catalog.builtin().entry("torchvision/resnet50").task().isPresent(),
        "the builtin catalog is unchanged");
  }

  @Test
  void register_customSpecWithoutDigest_usedInPlace(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("mine.pt");
    Files.write(file, new byte[] {1, 2, 3});
    ModelSpec spec = ModelSpec.builder().id("acme/mine").artifact(file).signature(SIGNATURE)
        .precision(Precision.BF16).device("cpu").maxBatchSize(4)
        .optimize(ai.nos.Optimization.FREEZE).build();
    Hub hub = Hub.builder().catalog(Catalog.empty()).build();
    CatalogEntry entry = hub.register(spec);
    assertEquals(java.util.Set.of(ai.nos.Optimization.FREEZE), entry.optimizations());
    assertTrue(entry.task().isEmpty());
    assertEquals(entry, hub.entry("acme/mine"));
    assertEquals(spec, hub.spec("acme/mine", downloader()));
    assertEquals(List.of(), Fixtures.files(cache));
  }

  @Test
  void register_customSpecWithDigest_fetchedIntoCacheAndVerified(@TempDir Path dir)
      throws Exception {
    byte[] bytes = Fixtures.bytes(2000, 3);
    Path file = dir.resolve("mine.pt");
    Files.write(file, bytes);
    String sha = Fixtures.sha256(bytes);
    Hub hub = Hub.builder().catalog(Catalog.empty()).build();
    hub.register(ModelSpec.builder().id("acme/mine").artifact(Artifact.of(file).withSha256(sha))
        .signature(SIGNATURE).build());
    ModelSpec spec = hub.spec("acme/mine", downloader());
    Path cached = cache.resolve("blobs/sha256").resolve(sha);
    assertEquals(Artifact.of(cached).withSha256(sha), spec.artifact());
    assertArrayEquals(bytes, Files.readAllBytes(cached));
  }

  @Test
  void register_specJsonFile_relativeArtifactResolved(@TempDir Path dir) throws Exception {
    Files.write(dir.resolve("m.pt"), new byte[] {1});
    Path json = dir.resolve("m.json");
    Files.writeString(json, ModelSpec.builder().id("acme/json").artifact("m.pt")
        .signature(SIGNATURE).build().toJson());
    Hub hub = Hub.builder().catalog(Catalog.empty()).build();
    hub.register(json);
    assertEquals(dir.resolve("m.pt"),
        hub.spec("acme/json", downloader()).artifact().localPath().orElseThrow());
  }

  @Test
  void register_concurrently_allKept() throws Exception {
    Hub hub = Hub.builder().build();
    int before = hub.catalog().size();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      int thread = t;
      futures.add(pool.submit(() -> {
        for (int i = 0; i < 100; i++) {
          hub.register(ModelSpec.builder().id("t" + thread + "/m" + i).artifact("/x.pt")
              .signature(SIGNATURE).build());
          hub.entry("t" + thread + "/m" + i);
        }
      }));
    }
    for (Future<?> f : futures) {
      f.get(30, TimeUnit.SECONDS);
    }
    pool.shutdown();
    assertEquals(before + 800, hub.catalog().size());
  }

  @Test
  void entry_unknownId_suggestsCloseIds() {
    Hub hub = Hub.builder().build();
    String message = assertThrows(IllegalArgumentException.class,
        () -> hub.entry("torchvision/resnet5")).getMessage();
    assertTrue(message.startsWith("unknown model id 'torchvision/resnet5'; did you mean "
        + "torchvision/resnet50? (known: torchvision/resnet50, google/vit-base-patch16-224, "),
        message);
    String clip = assertThrows(IllegalArgumentException.class,
        () -> hub.entry("openai/clip-vit-base-patch32")).getMessage();
    assertTrue(clip.contains("did you mean openai/clip-vit-base-patch32/text or "
        + "openai/clip-vit-base-patch32/image?"), clip);
    String none = assertThrows(IllegalArgumentException.class,
        () -> hub.entry("zzz")).getMessage();
    assertTrue(none.startsWith("unknown model id 'zzz' (known: "), none);
  }

  @Test
  void spec_builtinEntryFromExportDirectory_pinnedByLockFiles() throws Exception {
    byte[] model = exportFile(export, "torchvision/resnet50/model.pt", 1);
    byte[] labels = exportFile(export, "torchvision/resnet50/labels.txt", 2);
    Hub hub = Hub.builder().baseUri(export.toUri()).build();
    ModelSpec spec = hub.spec("torchvision/resnet50", downloader());
    String sha = Fixtures.sha256(model);
    assertEquals(Artifact.of(cache.resolve("blobs/sha256").resolve(sha)).withSha256(sha),
        spec.artifact());
    assertEquals(hub.entry("torchvision/resnet50").signature(), spec.signature());
    Map<String, Path> files = hub.fetch("torchvision/resnet50", downloader());
    assertEquals(List.of("model", "labels"), List.copyOf(files.keySet()));
    assertArrayEquals(labels, Files.readAllBytes(files.get("labels")));
  }

  @Test
  void spec_overHttpWithLockFiles_thenOffline() throws Exception {
    byte[] model = exportFile(export, "ultralytics/yolov8n/model.pt", 3);
    byte[] labels = exportFile(export, "ultralytics/yolov8n/labels.txt", 4);
    try (TestServer server = new TestServer()) {
      for (String file : List.of("model.pt", "labels.txt")) {
        for (String name : List.of(file, file + CatalogArtifact.LOCK_SUFFIX)) {
          server.on("/nos/ultralytics/yolov8n/" + name, TestServer.bytes(
              Files.readAllBytes(export.resolve("ultralytics/yolov8n/" + name))));
        }
      }
      Hub hub = Hub.builder().baseUri(server.uri("/nos")).build();
      assertEquals(server.uri("/nos/"), hub.baseUri().orElseThrow());
      ModelSpec online = hub.spec("ultralytics/yolov8n", downloader());
      assertArrayEquals(model, Files.readAllBytes(online.artifact().localPath().orElseThrow()));
      assertEquals(4, server.requests().size());

      Downloader offline = Downloader.builder().cacheDir(cache).offline(true).build();
      assertEquals(online, hub.spec("ultralytics/yolov8n", offline));
      assertArrayEquals(labels,
          Files.readAllBytes(hub.fetch("ultralytics/yolov8n", offline).get("labels")));
      assertEquals(4, server.requests().size(), "offline asks nobody");
    }
  }

  @Test
  void spec_lockFileMissing_saysWhichAndWhy() throws Exception {
    try (TestServer server = new TestServer()) {
      Hub hub = Hub.builder().baseUri(server.uri("/nos/")).build();
      URI lock = server.uri("/nos/torchvision/resnet50/model.pt.lock.json");
      DownloadException e = assertThrows(DownloadException.class,
          () -> hub.spec("torchvision/resnet50", downloader()));
      assertEquals("torchvision/resnet50: artifact 'model' has no sha256 in the catalog, so its "
          + "lock file " + lock + " must pin it, but: GET " + lock + " answered 404 Not Found",
          e.getMessage());
    }
  }

  @Test
  void spec_fileDoesNotMatchItsLock_nothingKept() throws Exception {
    exportFile(export, "torchvision/resnet50/model.pt", 5);
    Files.write(export.resolve("torchvision/resnet50/model.pt"), new byte[] {1, 2, 3});
    Hub hub = Hub.builder().baseUri(export.toUri()).build();
    DownloadException e = assertThrows(DownloadException.class,
        () -> hub.spec("torchvision/resnet50", downloader()));
    URI file = export.toUri().resolve("torchvision/resnet50/model.pt");
    assertEquals("torchvision/resnet50: artifact 'model': " + file
        + " has 3 bytes but the artifact has 5005; nothing was kept", e.getMessage());
    assertEquals(List.of(), Fixtures.files(cache.resolve("blobs")));
    assertEquals(List.of(), Fixtures.files(cache.resolve("tmp")));
  }

  @Test
  void spec_invalidLockFile_saysSo() throws Exception {
    exportFile(export, "torchvision/resnet50/model.pt", 6);
    Path lock = export.resolve("torchvision/resnet50/model.pt" + CatalogArtifact.LOCK_SUFFIX);
    Files.writeString(lock, "{\"sha256\": \"abc\", \"size\": 1}");
    Hub hub = Hub.builder().baseUri(export.toUri()).build();
    DownloadException e = assertThrows(DownloadException.class,
        () -> hub.spec("torchvision/resnet50", downloader()));
    assertTrue(e.getMessage().endsWith(" is not valid: $.sha256 must be 64 hex characters but "
        + "was 'abc' (3 characters)"), e.getMessage());
  }

  @Test
  void catalogFromUri_servedThenOffline() throws Exception {
    try (TestServer server = new TestServer()) {
      server.on("/catalog.json",
          TestServer.bytes(CatalogJsonTest.FULL.getBytes(StandardCharsets.UTF_8)));
      Catalog online = Catalog.fromUri(server.uri("/catalog.json"), downloader());
      assertEquals(Catalog.fromJson(CatalogJsonTest.FULL), online);
      Downloader offline = Downloader.builder().cacheDir(cache).offline(true).build();
      assertEquals(online, Catalog.fromUri(server.uri("/catalog.json"), offline));
      assertEquals(1, server.requests().size());
      DownloadException e = assertThrows(DownloadException.class,
          () -> Catalog.fromUri(server.uri("/other.json"), offline));
      assertEquals("offline: " + server.uri("/other.json") + " is not in the cache " + cache,
          e.getMessage());
    }
  }

  @Test
  void list_showsProvenanceAndSaysWhatIsUnknown() {
    Hub hub = Hub.builder().catalog(Catalog.empty()).build();
    assertEquals("", hub.list());
    CatalogEntry fake = CatalogEntry.builder().id("acme/fake").description("a stand-in")
        .provenance(Provenance.LOOK_ALIKE)
        .artifact(CatalogArtifact.of("model", "https://example.org/f.pt")).signature(SIGNATURE)
        .build();
    hub.register(fake);
    hub.register(fake.toBuilder().id("acme/mine").provenance(null).description("").build());
    assertEquals(String.format("acme/fake  -                     look_alike    a stand-in%n"
        + "acme/mine  -                     -             %n"), hub.list());
  }

  @Test
  void list_multiLineDescription_staysOneLinePerEntry() {
    Hub hub = Hub.builder().catalog(Catalog.empty()).build();
    hub.register(CatalogEntry.builder().id("acme/a").description("first\nsecond\r\nthird")
        .artifact(CatalogArtifact.of("model", "https://example.org/f.pt")).signature(SIGNATURE)
        .build());
    // Was three lines: the description's own line breaks went out as they were.
    assertEquals(String.format("acme/a  -                     -             first second third%n"),
        hub.list());
  }

  @Test
  void baseDirectory_servesAnExportDirectory_verifiedIntoTheCache() throws Exception {
    byte[] model = exportFile(export, "torchvision/resnet50/model.pt", 7);
    exportFile(export, "torchvision/resnet50/labels.txt", 8);
    Hub hub = Hub.builder().baseDirectory(export).build();
    assertEquals(export.toAbsolutePath().toUri(), hub.baseUri().orElseThrow());
    Path loaded = hub.spec("torchvision/resnet50", downloader()).artifact().localPath()
        .orElseThrow();
    assertTrue(loaded.startsWith(cache), "loaded from the verified cache copy: " + loaded);
    assertArrayEquals(model, Files.readAllBytes(loaded));

    // A file changed after its export (same size, other bytes) never reaches the cache.
    exportFile(export, "google/vit-base-patch16-224/model.pt", 9);
    exportFile(export, "google/vit-base-patch16-224/labels.txt", 10);
    Files.write(export.resolve("google/vit-base-patch16-224/labels.txt"), new byte[5010]);
    DownloadException e = assertThrows(DownloadException.class,
        () -> hub.fetch("google/vit-base-patch16-224", downloader()));
    assertTrue(e.getMessage().contains("labels.txt") && e.getMessage().contains("sha256"),
        e.getMessage());
  }

  /**
   * An entry whose file is missing from the export names the entry and the artifact, whether the
   * catalog pins the digest or a lock file does, online and offline.
   */
  @Test
  void fetch_artifactFileMissing_namesTheEntryAndArtifact() throws Exception {
    exportFile(export, "torchvision/resnet50/model.pt", 11);
    byte[] model = Fixtures.bytes(123, 13); // never written: acme/model.pt is missing
    Hub hub = Hub.builder().baseDirectory(export).build();
    hub.register(CatalogEntry.builder().id("acme/pinned").signature(SIGNATURE)
        .artifact(CatalogArtifact.of("model", "{baseUri}/acme/model.pt")
            .withSha256(Fixtures.sha256(model), model.length)).build());
    Path labels = export.resolve("torchvision/resnet50/labels.txt");
    exportFile(export, "torchvision/resnet50/labels.txt", 12);
    Files.delete(labels); // its lock file stays
    Downloader offline = Downloader.builder().cacheDir(cache).offline(true).build();
    for (Downloader d : List.of(downloader(), offline)) {
      String pinned = assertThrows(DownloadException.class,
          () -> hub.fetch("acme/pinned", d)).getMessage();
      assertTrue(pinned.startsWith("acme/pinned: artifact 'model': "), pinned);
      assertTrue(pinned.contains("acme/model.pt"), pinned);
      String locked = assertThrows(DownloadException.class,
          () -> hub.spec("torchvision/resnet50", d)).getMessage();
      assertTrue(locked.startsWith("torchvision/resnet50: artifact 'labels': "), locked);
      assertTrue(locked.contains(labels.getFileName().toString()), locked);
    }
  }

  @Test
  void baseDirectory_notADirectory_namesIt() throws Exception {
    Path missing = export.resolve("nowhere");
    assertEquals("baseDirectory must be an existing directory but " + missing
        + " does not exist", assertThrows(IllegalArgumentException.class,
            () -> Hub.builder().baseDirectory(missing)).getMessage());
    Path file = Files.writeString(export.resolve("file"), "x");
    assertEquals("baseDirectory must be an existing directory but " + file
        + " is not a directory", assertThrows(IllegalArgumentException.class,
            () -> Hub.builder().baseDirectory(file)).getMessage());
  }

  @Test
  void baseUriProperty_absoluteDirectoryPath() throws Exception {
    String before = System.getProperty(Hub.BASE_URI_PROPERTY);
    try {
      System.setProperty(Hub.BASE_URI_PROPERTY, export.toString());
      assertEquals(export.toUri(), Hub.builder().build().baseUri().orElseThrow());
      System.setProperty(Hub.BASE_URI_PROPERTY, export.resolve("nowhere").toString());
      assertEquals("system property " + Hub.BASE_URI_PROPERTY + " must be an existing directory "
          + "but " + export.resolve("nowhere") + " does not exist",
          assertThrows(IllegalArgumentException.class, () -> Hub.builder().build())
              .getMessage());
    } finally {
      if (before == null) {
        System.clearProperty(Hub.BASE_URI_PROPERTY);
      } else {
        System.setProperty(Hub.BASE_URI_PROPERTY, before);
      }
    }
  }

  @Test
  void builder_baseUri_checkedAndNormalized() {
    assertEquals(URI.create("file:/srv/models/"), Hub.builder()
        .baseUri(URI.create("file:/srv/models")).build().baseUri().orElseThrow());
    assertEquals("baseUri must be an http(s) URL with a host or a file URI but was 'models/'",
        assertThrows(IllegalArgumentException.class,
            () -> Hub.builder().baseUri(URI.create("models/"))).getMessage());
  }

  @Test
  void baseUriProperty_relativePath_saysWhatItMustBe() {
    String before = System.getProperty(Hub.BASE_URI_PROPERTY);
    try {
      System.setProperty(Hub.BASE_URI_PROPERTY, "models");
      assertEquals("system property " + Hub.BASE_URI_PROPERTY + " must be an absolute path of a"
          + " directory, or an http(s) or file URI, but was 'models'",
          assertThrows(IllegalArgumentException.class, () -> Hub.builder().build())
              .getMessage());
    } finally {
      if (before == null) {
        System.clearProperty(Hub.BASE_URI_PROPERTY);
      } else {
        System.setProperty(Hub.BASE_URI_PROPERTY, before);
      }
    }
  }

  /** Calls Hub.shared() twice and prints what each call threw. */
  public static final class SharedProbe {
    public static void main(String[] args) {
      for (int i = 0; i < 2; i++) {
        try {
          System.out.println("shared=" + Hub.shared().baseUri());
        } catch (Throwable t) {
          System.out.println("threw=" + t.getClass().getName() + ": " + t.getMessage());
        }
      }
    }
  }

  @Test
  void shared_badBaseUriProperty_isTheIllegalArgumentException_onEveryCall() throws Exception {
    // In a fresh JVM: this one's shared hub may exist already. Hub.shared() once threw
    // ExceptionInInitializerError, then NoClassDefFoundError on every later call.
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx128m", "-D" + Hub.BASE_URI_PROPERTY + "=/nowhere/nos-models", "-cp",
        System.getProperty("java.class.path"), SharedProbe.class.getName());
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "probe JVM did not end");
    String expected = "threw=java.lang.IllegalArgumentException: system property "
        + Hub.BASE_URI_PROPERTY + " must be an existing directory but /nowhere/nos-models does"
        + " not exist";
    assertEquals(List.of(expected, expected),
        out.lines().filter(l -> l.startsWith("threw=")).toList(), out);
  }

  @Test
  void shared_isOneHub() {
    assertSame(Hub.shared(), Hub.shared());
    assertTrue(Hub.shared().catalog().size() >= Catalog.builtin().size());
  }
}
