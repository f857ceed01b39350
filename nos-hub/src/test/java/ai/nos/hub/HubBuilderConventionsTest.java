package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Signature;
import ai.nos.testing.BuilderCases;
import ai.nos.testing.BuilderCases.Null;
import ai.nos.testing.BuilderCases.Twice;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The builder conventions of docs/api-conventions.md on nos-hub's builders: {@code builder()},
 * a setting made twice keeps the last value (a {@code toBuilder()} copy stays settable), a null
 * argument is a {@link NullPointerException} naming the setting.
 */
final class HubBuilderConventionsTest {
  private static final Signature SIG = Signature.builder()
      .input("x", DType.FLOAT32, -1, 4).output("y", DType.FLOAT32, -1, 2).build();

  @TempDir static Path dir;

  private static CatalogEntry.Builder entry() {
    return CatalogEntry.builder().id("acme/model")
        .artifact(CatalogArtifact.of("model", "https://example.org/m.pt")).signature(SIG);
  }

  static Stream<Twice> settingsMadeTwice() {
    return Stream.of(
        new Twice("CatalogEntry.description",
            () -> entry().description("one").description("two").build().description(), "two"),
        new Twice("CatalogEntry.toBuilder().description",
            () -> entry().description("one").build().toBuilder().description("two").build()
                .description(), "two"),
        new Twice("ImagePreprocessing.crop",
            () -> ImagePreprocessing.builder().resize(256).crop(200).crop(224).build().crop(),
            224),
        new Twice("Downloader.cacheDir",
            () -> Downloader.builder().cacheDir(dir.resolve("a")).cacheDir(dir.resolve("b"))
                .build().cacheDir(), dir.resolve("b")),
        new Twice("CatalogEntry.provenance",
            () -> entry().provenance(Provenance.LOOK_ALIKE).provenance(Provenance.ARCHITECTURE)
                .build().provenance(), Optional.of(Provenance.ARCHITECTURE)),
        new Twice("CatalogEntry.toBuilder().provenance(null)",
            () -> entry().provenance(Provenance.TEST_MODEL).build().toBuilder().provenance(null)
                .build().provenance(), Optional.empty()),
        new Twice("Hub.baseDirectory then baseUri",
            () -> Hub.builder().catalog(Catalog.empty()).baseDirectory(dir)
                .baseUri(URI.create("file:/b/")).build().baseUri(),
            Optional.of(URI.create("file:/b/"))),
        new Twice("Hub.baseUri",
            () -> Hub.builder().catalog(Catalog.empty()).baseUri(URI.create("file:/a/"))
                .baseUri(URI.create("file:/b/")).build().baseUri(),
            Optional.of(URI.create("file:/b/"))));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("settingsMadeTwice")
  void settingMadeTwice_keepsTheLastValue(Twice c) {
    c.check();
  }

  static List<Null> nullArguments() {
    return List.of(
        new Null("id must not be null", () -> CatalogEntry.builder().id(null)),
        new Null("description must not be null", () -> entry().description(null)),
        new Null("signature must not be null", () -> entry().signature(null)),
        new Null("labels must not be null", () -> entry().labels(null)),
        new Null("resizeMode must not be null",
            () -> ImagePreprocessing.builder().resizeMode(null)),
        new Null("mean must not be null", () -> ImagePreprocessing.builder().mean(null)),
        new Null("std must not be null", () -> ImagePreprocessing.builder().std(null)),
        new Null("cache directory must not be null", () -> Downloader.builder().cacheDir(null)),
        new Null("read timeout must not be null", () -> Downloader.builder().readTimeout(null)),
        new Null("retry backoff must not be null", () -> Downloader.builder().retryBackoff(null)),
        new Null("catalog must not be null", () -> Hub.builder().catalog(null)),
        new Null("baseUri must not be null", () -> Hub.builder().baseUri(null)),
        new Null("baseDirectory must not be null", () -> Hub.builder().baseDirectory(null)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("nullArguments")
  void nullArgument_isANullPointerExceptionNamingIt(Null c) {
    c.check();
  }

  /**
   * Every public setter of every nos-hub builder refuses a null with a NullPointerException, but
   * CatalogEntry's optional parts, whose null is their "none" (ImagePreprocessing's mean and std
   * threw IllegalArgumentException).
   */
  @Test
  void everySetter_null_isANullPointerException() throws Exception {
    List<String> wrong = new ArrayList<>();
    wrong.addAll(BuilderCases.nullsNotRefused(CatalogEntry::builder,
        Set.of("task", "image", "text", "detection", "provenance")));
    wrong.addAll(BuilderCases.nullsNotRefused(Downloader::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(Hub::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(ImagePreprocessing::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(() -> SpeechRecognizer.builder(dir), Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(TranscribeOptions::builder, Set.of()));
    assertEquals(List.of(), wrong);
  }

  /** The documented exception: an optional part's null is its "none", to clear a copy's. */
  @Test
  void optionalPart_nullClearsIt() {
    Signature images = Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
        .output("embedding", DType.FLOAT32, -1, 8).build();
    CatalogEntry embedder = entry().signature(images).task(Task.IMAGE_EMBEDDING)
        .image(ImagePreprocessing.builder().resize(224).build()).build();
    assertTrue(embedder.image().isPresent());
    CatalogEntry custom = embedder.toBuilder().task(null).image(null).build();
    assertTrue(custom.task().isEmpty());
    assertTrue(custom.image().isEmpty());
  }

  @Test
  void lastWins_stillValidatesEachValue() {
    assertThrows(IllegalArgumentException.class,
        () -> Downloader.builder().readTimeout(Duration.ofSeconds(1)).readTimeout(Duration.ZERO));
  }
}
