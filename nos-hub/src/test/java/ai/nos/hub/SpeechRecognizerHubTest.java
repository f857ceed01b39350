package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link SpeechRecognizer#load(Hub, String, Downloader)}: the catalog's "nos/whisper-micro"
 * served from the repository's models directory (as "nos/llm-tiny" is), its files verified into
 * the downloader's cache and loaded from there, on the CPU.
 */
final class SpeechRecognizerHubTest {
  static final String ID = "nos/whisper-micro";
  static final Path WAV = SpeechRecognizerTest.CLIPS.resolve("speechlike.wav");
  /** The model's generation_config.json suppression applies (no list replaced). */
  static final TranscribeOptions OPTIONS = TranscribeOptions.builder().maxNewTokens(24).build();

  private static Downloader cacheIn(Path cache) {
    return Downloader.builder().cacheDir(cache).retries(0).build();
  }

  @Test
  void load_byHubId_transcribesAsTheModelDirectory_fromTheCache(@TempDir Path cache) {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    int[] fromHub;
    try (SpeechRecognizer asr = SpeechRecognizer.load(hub, ID, cacheIn(cache),
        b -> b.device(Device.cpu()).maxSequences(2))) {
      assertEquals(2, asr.generator().maxSequences());
      fromHub = asr.transcribe(WAV, OPTIONS).tokenIds();
    }
    int[] fromDirectory;
    try (SpeechRecognizer asr = SpeechRecognizer.builder(SpeechRecognizerTest.MODEL)
        .device(Device.cpu()).maxSequences(2).build()) {
      fromDirectory = asr.transcribe(WAV, OPTIONS).tokenIds();
    }
    assertEquals(24, fromHub.length);
    assertArrayEquals(fromDirectory, fromHub);
    // The files are in the cache now, verified: the same load needs neither base nor network.
    Hub nowhere = Hub.builder().baseUri(cache.resolve("gone").toUri()).build();
    Downloader offline = Downloader.builder().cacheDir(cache).offline(true).build();
    try (SpeechRecognizer asr = SpeechRecognizer.load(nowhere, ID, offline,
        b -> b.device(Device.cpu()))) {
      assertArrayEquals(fromDirectory, asr.transcribe(WAV, OPTIONS).tokenIds());
    }
  }

  /**
   * The optional artifacts reach the recognizer: a generation_config.json that suppresses the
   * id the model writes most, and a tokenizer.json (llm-tiny's, for its presence only: the
   * transcript then has text), in an entry registered over a copy of the files.
   */
  @Test
  void load_byHubId_optionalArtifacts_usedAsInADirectory(@TempDir Path base, @TempDir Path cache)
      throws Exception {
    int[] free;
    try (SpeechRecognizer plain = SpeechRecognizer.builder(SpeechRecognizerTest.MODEL)
        .device(Device.cpu()).maxSequences(1).build()) {
      free = plain.transcribe(WAV, OPTIONS).tokenIds();
    }
    int most = free[free.length - 1];
    Path copy = SpeechRecognizerSuppressionTest.copy(base.resolve("whisper-gc"));
    Path config = Files.writeString(copy.resolve("generation_config.json"),
        "{\"suppress_tokens\": [" + most + "]}");
    Path tokenizer = Files.copy(TextGeneratorTest.DIR.resolve("tokenizer.json"),
        copy.resolve("tokenizer.json"));
    CatalogEntry micro = Catalog.builtin().entry(ID);
    Hub hub = Hub.builder().baseUri(base.toUri()).build();
    hub.register(CatalogEntry.builder().id("test/whisper-gc").task(Task.SPEECH_RECOGNITION)
        .signature(micro.signature())
        .artifact(pinned(CatalogArtifact.MODEL, copy.resolve("decoder.pt")))
        .artifact(pinned(CatalogEntry.ENCODER, copy.resolve("encoder.pt")))
        .artifact(pinned(CatalogEntry.TOKENIZER, tokenizer))
        .artifact(pinned(CatalogEntry.GENERATION_CONFIG, config)).build());
    Transcript fromHub;
    try (SpeechRecognizer asr = SpeechRecognizer.load(hub, "test/whisper-gc", cacheIn(cache),
        b -> b.device(Device.cpu()).maxSequences(1))) {
      fromHub = asr.transcribe(WAV, OPTIONS);
    }
    assertFalse(Arrays.stream(fromHub.tokenIds()).anyMatch(id -> id == most),
        Arrays.toString(fromHub.tokenIds()));
    assertTrue(fromHub.segments().get(0).text().isPresent(), "a tokenizer, so text");
    try (SpeechRecognizer asr = SpeechRecognizer.builder(copy).device(Device.cpu())
        .maxSequences(1).build()) {
      assertArrayEquals(asr.transcribe(WAV, OPTIONS).tokenIds(), fromHub.tokenIds());
    }
  }

  private static CatalogArtifact pinned(String name, Path file) throws Exception {
    return CatalogArtifact.of(name, "{baseUri}/whisper-gc/" + file.getFileName())
        .withSha256(BuiltinCatalogTest.sha256(file), Files.size(file));
  }

  @ParameterizedTest
  @ValueSource(strings = {"torchvision/resnet50", "nos/llm-tiny"})
  void load_byHubId_otherTask_refusedBeforeDownloading(String id, @TempDir Path cache) {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    RecordingListener listener = new RecordingListener();
    Downloader downloader = Downloader.builder().cacheDir(cache).offline(true)
        .listener(listener).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SpeechRecognizer.load(hub, id, downloader));
    assertEquals("SpeechRecognizer needs an entry of task speech_recognition but '" + id
        + "' has task " + hub.entry(id).task().orElseThrow(), e.getMessage());
    assertEquals(java.util.List.of(), listener.events);
    assertFalse(Files.exists(cache.resolve("blobs")), "nothing fetched");
  }

  @Test
  void load_byHubId_unknownId_refusedBeforeDownloading(@TempDir Path cache) {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    RecordingListener listener = new RecordingListener();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SpeechRecognizer.load(hub, "nos/whisper-mikro", Downloader.builder()
            .cacheDir(cache).offline(true).listener(listener).build()));
    assertTrue(e.getMessage().startsWith("unknown model id 'nos/whisper-mikro'; did you mean"
        + " nos/whisper-micro?"), e.getMessage());
    assertEquals(java.util.List.of(), listener.events);
  }

  @Test
  void load_byHubId_tamperedFile_refusedByVerification(@TempDir Path base, @TempDir Path cache)
      throws Exception {
    Path copy = Files.createDirectories(base.resolve("whisper-micro"));
    for (String f : new String[] {"decoder.pt", "encoder.pt", "generation_config.json"}) {
      Files.copy(SpeechRecognizerTest.MODEL.resolve(f), copy.resolve(f));
    }
    byte[] encoder = Files.readAllBytes(copy.resolve("encoder.pt"));
    encoder[encoder.length / 2] ^= 1;   // same size: only the digest tells
    Files.write(copy.resolve("encoder.pt"), encoder);
    Hub hub = Hub.builder().baseUri(base.toUri()).build();
    DownloadException e = assertThrows(DownloadException.class,
        () -> SpeechRecognizer.load(hub, ID, cacheIn(cache), b -> b.device(Device.cpu())));
    assertTrue(e.getMessage().contains("encoder.pt"), e.getMessage());
    assertTrue(e.getMessage().contains("ae3518069ab23801"), e.getMessage());
  }

  /**
   * The encoder already in the download cache, rewritten at its size (a fetch checks a cached
   * file's size only), is refused when the recognizer loads again: the catalog's digest is
   * checked on the bytes every load opens. It was loaded.
   */
  @Test
  void load_byHubId_cachedEncoderRewrittenAtItsSize_refused(@TempDir Path cache)
      throws Exception {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    java.util.function.UnaryOperator<SpeechRecognizer.Builder> cpu =
        b -> b.device(Device.cpu()).maxSequences(1);
    SpeechRecognizer.load(hub, ID, cacheIn(cache), cpu).close();
    String sha256 = hub.entry(ID).artifact(CatalogEntry.ENCODER).orElseThrow().sha256()
        .orElseThrow();
    Path blob = cacheIn(cache).cached(sha256).orElseThrow();
    byte[] encoder = Files.readAllBytes(blob);
    encoder[encoder.length / 2] ^= 1;   // a weight: libtorch checks no CRC
    Files.write(blob, encoder);
    ai.nos.ModelLoadException e = assertThrows(ai.nos.ModelLoadException.class,
        () -> SpeechRecognizer.load(hub, ID, cacheIn(cache), cpu).close(),
        "the rewritten encoder was loaded");
    assertTrue(e.getMessage().contains(blob.toRealPath() + " has sha256 ")
        && e.getMessage().contains("but the spec expects " + sha256), e.getMessage());
  }

  @Test
  void load_byHubId_cachedGenerationConfigRewrittenAtItsSize_refused(@TempDir Path cache)
      throws Exception {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    assertRewrittenRefused(hub, ID, CatalogEntry.GENERATION_CONFIG, cache);
  }

  @Test
  void load_byHubId_cachedTokenizerRewrittenAtItsSize_refused(@TempDir Path cache)
      throws Exception {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    // The micro checkpoint has no tokenizer.json: the tiny LLM's stands in (it is only decoded).
    Path tokenizer = BuiltinCatalogTest.modelsDir().resolve("llm-tiny/tokenizer.json");
    hub.register(hub.entry(ID).toBuilder().id("test/whisper-tokenizer").artifact(
        CatalogArtifact.of(CatalogEntry.TOKENIZER, tokenizer.toAbsolutePath().toUri().toString())
            .withSha256(BuiltinCatalogTest.sha256(tokenizer), Files.size(tokenizer))).build());
    assertRewrittenRefused(hub, "test/whisper-tokenizer", CatalogEntry.TOKENIZER, cache);
  }

  /** Loads {@code id}, rewrites its cached {@code name} at its size, and expects a refusal. */
  private static void assertRewrittenRefused(Hub hub, String id, String name, Path cache)
      throws Exception {
    java.util.function.UnaryOperator<SpeechRecognizer.Builder> cpu =
        b -> b.device(Device.cpu()).maxSequences(1);
    SpeechRecognizer.load(hub, id, cacheIn(cache), cpu).close();
    String sha256 = hub.entry(id).artifact(name).orElseThrow().sha256().orElseThrow();
    Path blob = cacheIn(cache).cached(sha256).orElseThrow();
    byte[] bytes = FacadesPinnedFilesTest.respaced(Files.readAllBytes(blob));
    Files.write(blob, bytes);
    DownloadException e = assertThrows(DownloadException.class,
        () -> SpeechRecognizer.load(hub, id, cacheIn(cache), cpu).close(),
        "the rewritten " + name + " was loaded");
    assertTrue(e.getMessage().contains(id + ": artifact '" + name + "' file " + blob
        + " has sha256 " + FacadesPinnedFilesTest.sha256(bytes) + " but the catalog pins "
        + sha256), e.getMessage());
  }

  @Test
  void load_byHubId_entrySaysAnotherVocabulary_refused(@TempDir Path cache) {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    CatalogEntry micro = hub.entry(ID);
    ai.nos.Signature.Builder wrong = ai.nos.Signature.builder();
    micro.signature().inputs().forEach(wrong::input);
    hub.register(micro.toBuilder().id("test/whisper-wrong").signature(
        wrong.output("logits", ai.nos.DType.FLOAT32, -1, 51864).build()).build());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SpeechRecognizer.load(hub, "test/whisper-wrong", cacheIn(cache),
            b -> b.device(Device.cpu())));
    assertTrue(e.getMessage().contains("the model's vocabulary holds 51865 tokens"),
        e.getMessage());
  }

  @Test
  void load_byHubId_nullArguments_refused(@TempDir Path cache) {
    Hub hub = Hub.builder().baseUri(BuiltinCatalogTest.modelsDir().toUri()).build();
    assertThrows(IllegalArgumentException.class,
        () -> SpeechRecognizer.load(null, ID, cacheIn(cache)));
    assertThrows(IllegalArgumentException.class,
        () -> SpeechRecognizer.load(hub, ID, cacheIn(cache), null));
    assertEquals("settings returned null for '" + ID + "'", assertThrows(
        IllegalArgumentException.class, () -> SpeechRecognizer.load(hub, ID, cacheIn(cache),
            b -> null)).getMessage());
  }
}
