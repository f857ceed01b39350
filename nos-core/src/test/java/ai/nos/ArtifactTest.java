package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

final class ArtifactTest {

  private static final String SHA =
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

  @Test
  void ofPath_absoluteNormalizedFileUri() {
    Artifact a = Artifact.of(Paths.get("/models/./x/../digits.pt"));
    assertEquals(URI.create("file:///models/digits.pt"), a.uri());
    assertEquals(Optional.of(Paths.get("/models/digits.pt")), a.localPath());
    assertEquals("file:///models/digits.pt", a.toString());
  }

  @Test
  void ofPath_relativeMadeAbsolute() {
    Artifact a = Artifact.of(Paths.get("digits.pt"));
    assertEquals(Paths.get("digits.pt").toAbsolutePath(), a.localPath().orElseThrow());
    assertEquals("file", a.uri().getScheme());
  }

  @Test
  void ofString_relativeKeptAsGiven() {
    Artifact a = Artifact.of("sub/digits.pt");
    assertEquals(URI.create("sub/digits.pt"), a.uri());
    assertEquals(Optional.of(Paths.get("sub/digits.pt")), a.localPath());
    assertEquals("sub/digits.pt", a.toString());
    assertEquals(a, Artifact.of(URI.create("sub/digits.pt")));
  }

  @Test
  void ofString_absolutePathBecomesFileUri() {
    assertEquals(Artifact.of(Paths.get("/m/digits.pt")), Artifact.of("/m/digits.pt"));
    assertEquals(Artifact.of(Paths.get("/m/digits.pt")), Artifact.of("file:///m/digits.pt"));
    assertEquals(Artifact.of(Paths.get("/m/digits.pt")), Artifact.of("FILE:/m/digits.pt"));
    assertEquals(Artifact.of(Paths.get("/m/digits.pt")), Artifact.of(URI.create("/m/digits.pt")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"my model.pt", "100%.pt", "a%20b.pt", "x?y#z.pt", "ü/ñ.pt", "./a:b.pt"})
  void ofString_oddCharactersKept(String path) {
    Artifact a = Artifact.of(path);
    assertEquals(Paths.get(path), a.localPath().orElseThrow());
    assertEquals(Paths.get(path).toString(), a.location());
    assertEquals(a, Artifact.of(a.location()));
    Path absolute = Paths.get("/base").resolve(path).normalize();
    assertEquals(absolute, a.resolveAgainst(Paths.get("/base")).localPath().orElseThrow());
    assertEquals(Artifact.of(absolute), Artifact.of(Artifact.of(absolute).location()));
  }

  @Test
  void ofString_remote() {
    Artifact a = Artifact.of("https://example.com/models/digits.pt?sig=abc");
    assertEquals(URI.create("https://example.com/models/digits.pt?sig=abc"), a.uri());
    assertEquals(Optional.empty(), a.localPath());
    assertSame(a, a.resolveAgainst(Paths.get("/base")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"ftp://example.com/x.pt", "s3://bucket/x.pt", "jar://x"})
  void ofString_unsupportedScheme(String uri) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of(uri));
    String scheme = uri.substring(0, uri.indexOf(':'));
    assertEquals("artifact.uri scheme must be file, http or https but was '" + scheme + "' in '"
        + uri + "'", e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"file:digits.pt", "file://host/x.pt", "file:///x.pt?q=1", "file:///x#f"})
  void ofString_badFileUri(String uri) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of(uri));
    assertEquals("artifact.uri must be a file URI with an absolute path and no authority, query "
        + "or fragment but was '" + uri + "'", e.getMessage());
  }

  @Test
  void ofString_httpWithoutHost() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of("https:///x.pt"));
    assertEquals("artifact.uri must be an https URL with a host but was 'https:///x.pt'",
        e.getMessage());
  }

  @Test
  void ofString_invalidUri() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of("http://a b/x"));
    assertTrue(e.getMessage().startsWith("artifact.uri must be a valid URI but was 'http://a b/x'"),
        e.getMessage());
  }

  @Test
  void ofString_colonInFirstSegment() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of("c:x.pt"));
    assertEquals("artifact.uri must not have ':' in the first segment of a relative path, where "
        + "it reads as a URI scheme, but was 'c:x.pt'; write './c:x.pt' or a full URI",
        e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "  "})
  void ofString_blank(String text) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of(text));
    assertEquals("artifact.uri must not be blank but was '" + text + "'", e.getMessage());
  }

  @Test
  void ofString_nulCharacter() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of("a\0b"));
    assertTrue(e.getMessage().startsWith("artifact.uri must be a valid path but was 'a\0b'"),
        e.getMessage());
  }

  @Test
  void of_nulls() {
    assertEquals("artifact.uri must not be null", assertThrows(IllegalArgumentException.class,
        () -> Artifact.of((String) null)).getMessage());
    assertEquals("artifact.uri must not be null", assertThrows(IllegalArgumentException.class,
        () -> Artifact.of((URI) null)).getMessage());
    assertEquals("artifact.uri must not be null", assertThrows(IllegalArgumentException.class,
        () -> Artifact.of((Path) null)).getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"x.pt?v=1", "x.pt#frag", "//host/x.pt"})
  void ofUri_relativeNotPlainPath(String uri) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Artifact.of(URI.create(uri)));
    assertEquals("artifact.uri without a scheme must be a plain path (no authority, query or "
        + "fragment) but was '" + uri + "'", e.getMessage());
  }

  @Test
  void withSha256_lowerCased() {
    Artifact a = Artifact.of("digits.pt").withSha256(SHA.toUpperCase());
    assertEquals(Optional.of(SHA), a.sha256());
    assertEquals(a, Artifact.of("digits.pt").withSha256(SHA));
    assertNotEquals(a, Artifact.of("digits.pt"));
    assertEquals("digits.pt (sha256 " + SHA + ")", a.toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {"abc", "",
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08a",
      "gf86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})
  void withSha256_invalid(String sha) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Artifact.of("digits.pt").withSha256(sha));
    assertEquals("artifact.sha256 must be 64 hex characters but was '" + sha + "' ("
        + sha.length() + " characters)", e.getMessage());
  }

  @Test
  void withSha256_null() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Artifact.of("digits.pt").withSha256(null));
    assertEquals("artifact.sha256 must be 64 hex characters but was null", e.getMessage());
  }

  @Test
  void resolveAgainst_relativeOnly() {
    Artifact relative = Artifact.of("../digits/digits.pt").withSha256(SHA);
    Artifact resolved = relative.resolveAgainst(Paths.get("/models/fixtures"));
    assertEquals(Artifact.of(Paths.get("/models/digits/digits.pt")).withSha256(SHA), resolved);
    Artifact absolute = Artifact.of("/elsewhere/x.pt");
    assertSame(absolute, absolute.resolveAgainst(Paths.get("/models")));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> relative.resolveAgainst(null));
    assertEquals("baseDir must not be null", e.getMessage());
  }
}
