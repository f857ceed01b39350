package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Model;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The small files a facade loaded by hub id reads (a tokenizer.json, a labels file) are checked
 * against the catalog's pin on every load: the download cache checks a cached file's size only.
 * TextGeneratorTest and SpeechRecognizerHubTest hold the generators' cases.
 */
final class FacadesPinnedFilesTest {

  /**
   * The same JSON in other bytes of the same size: the first {@code ": "} becomes
   * {@code " :"}, so that a parser reads what it read before and only the digest tells.
   */
  static byte[] respaced(byte[] json) {
    String text = new String(json, StandardCharsets.ISO_8859_1);
    int at = text.indexOf("\": ");
    assertTrue(at > 0, "no \": \" to move");
    byte[] out = json.clone();
    out[at + 1] = ' ';
    out[at + 2] = ':';
    return out;
  }

  static String sha256(byte[] bytes) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
  }

  /** A local artifact pinned to the file's digest and size, which the hub fetches by them. */
  private static CatalogArtifact pinned(String name, Path file) throws Exception {
    return CatalogArtifact.of(name, file.toAbsolutePath().toUri().toString())
        .withSha256(sha256(Files.readAllBytes(file)), Files.size(file));
  }

  private static Path model(Path dir) throws Exception {
    return Files.write(dir.resolve("model.pt"), "not read: the model is a fake".getBytes(
        StandardCharsets.UTF_8));
  }

  /**
   * Loads {@code id} through the hub as its facade's {@code load(hub, id, ...)} does (the model
   * a fake), rewrites the cached {@code name} at its size, and expects the next load refused.
   */
  private static <T extends AutoCloseable> void assertRewrittenRefused(Hub hub, String id,
      String name, Path cache, Task task, java.util.function.Supplier<Model> model,
      TaskModel.Loaded<T> facade) throws Exception {
    Downloader downloader = Downloader.builder().cacheDir(cache).retries(0).build();
    TaskModel.load("test", task, hub, id, downloader, spec -> model.get(), facade).close();
    String sha256 = hub.entry(id).artifact(name).orElseThrow().sha256().orElseThrow();
    Path blob = downloader.cached(sha256).orElseThrow();
    byte[] bytes = respaced(Files.readAllBytes(blob));
    Files.write(blob, bytes);
    Model second = model.get();
    DownloadException e = assertThrows(DownloadException.class,
        () -> TaskModel.load("test", task, hub, id, downloader, spec -> second, facade).close(),
        "the rewritten " + name + " was read");
    assertEquals(id + ": artifact '" + name + "' file " + blob + " has sha256 " + sha256(bytes)
        + " but the catalog pins " + sha256 + ": it changed after it was verified; delete it"
        + " to fetch it again", e.getMessage());
    assertTrue(((FakeModel) second).closed.get(), "the model of the refused load is closed");
  }

  @Test
  void textEmbedder_load_byHubId_cachedTokenizerRewrittenAtItsSize_refused(@TempDir Path dir,
      @TempDir Path cache) throws Exception {
    Signature sig = Signature.builder().input("input_ids", DType.INT64, -1, -1)
        .output("text_embeds", DType.FLOAT32, -1, 2).build();
    Hub hub = Hub.builder().build();
    hub.register(CatalogEntry.builder().id("test/text").task(Task.TEXT_EMBEDDING)
        .artifact(pinned(CatalogArtifact.MODEL, model(dir)))
        .artifact(pinned("tokenizer", FacadesTest.tokenizer(dir))).signature(sig)
        .text(new TextPreprocessing("tokenizer", 8, TextPreprocessing.Pooling.NONE, false))
        .build());
    assertRewrittenRefused(hub, "test/text", "tokenizer", cache, Task.TEXT_EMBEDDING,
        () -> new FakeModel("test/text", sig,
            in -> Map.of("text_embeds", Tensor.of(new float[] {3, 4}, 1, 2))),
        TextEmbedder::owning);
  }

  @Test
  void imageClassifier_load_byHubId_cachedLabelsRewrittenAtItsSize_refused(@TempDir Path dir,
      @TempDir Path cache) throws Exception {
    Path labels = Files.write(dir.resolve("labels.txt"),
        "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n".getBytes(StandardCharsets.UTF_8));
    Hub hub = Hub.builder().build();
    hub.register(CatalogEntry.builder().id("test/classifier").task(Task.IMAGE_CLASSIFICATION)
        .artifact(pinned(CatalogArtifact.MODEL, model(dir)))
        .artifact(pinned(CatalogEntry.LABELS, labels))
        .signature(FacadesTest.classifierSignature())
        .image(ReferenceTest.setting("shorter_bilinear_crop")).build());
    Downloader downloader = Downloader.builder().cacheDir(cache).retries(0).build();
    ImageClassifier classifier = TaskModel.load("test", Task.IMAGE_CLASSIFICATION, hub,
        "test/classifier", downloader, spec -> FacadesTest.classifierModel(),
        ImageClassifier::owning);
    try (classifier) {
      assertEquals("c", classifier.classify(ReferenceTest.image("rgb.png"), 1).get(0).label());
    }
    String sha256 = hub.entry("test/classifier").artifact(CatalogEntry.LABELS).orElseThrow()
        .sha256().orElseThrow();
    Path blob = downloader.cached(sha256).orElseThrow();
    // Two labels swapped: the same size, another meaning.
    byte[] bytes = "b\na\nc\nd\ne\nf\ng\nh\ni\nj\n".getBytes(StandardCharsets.UTF_8);
    Files.write(blob, bytes);
    FakeModel second = FacadesTest.classifierModel();
    DownloadException e = assertThrows(DownloadException.class,
        () -> TaskModel.load("test", Task.IMAGE_CLASSIFICATION, hub, "test/classifier",
            downloader, spec -> second, ImageClassifier::owning).close(),
        "the rewritten labels were read");
    assertEquals("test/classifier: artifact 'labels' file " + blob + " has sha256 "
        + sha256(bytes) + " but the catalog pins " + sha256 + ": it changed after it was"
        + " verified; delete it to fetch it again", e.getMessage());
    assertTrue(second.closed.get(), "the model of the refused load is closed");
  }
}
