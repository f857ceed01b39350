package ai.nos;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.FileSystems;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Where a model file is, and optionally the SHA-256 digest its bytes must have.
 *
 * <p>The location is one of:
 *
 * <ul>
 *   <li>an absolute local file, held as a normalized {@code file:} URI;
 *   <li>a relative path, held as a URI with no scheme and resolved only when the model is loaded
 *       (or by {@link #resolveAgainst}), so a spec file can name a model beside it;
 *   <li>an {@code http:} or {@code https:} URL, held as given.
 * </ul>
 *
 * <h2>What a load verifies</h2>
 * A TorchScript file or AOTInductor package can run code; an artifact is trusted like a jar on
 * the classpath. Every load of a local artifact, the first and each replica or reload after
 * eviction:
 *
 * <ul>
 *   <li>resolves its real path (links followed) and, when the manager was built with
 *       {@code ModelManager.Builder.allowedDirectories}, refuses it outside them;
 *   <li>copies the file from that path into a private temporary folder (permissions
 *       {@code rwx------}) while hashing it, and refuses the copy if the digest is not the one
 *       given by {@link #withSha256}; libtorch then opens the copy, never the file, so bytes
 *       swapped in after the check are not loaded. The copy is deleted once the model is loaded;
 *   <li>for an AOTInductor package, extracts the verified copy with caps against zip bombs, and
 *       reuses an earlier extraction only if every file matches the package byte for byte.
 * </ul>
 *
 * <p>Without a digest, NOS still loads exactly one version of the file per load, but cannot know
 * which one you meant. The loaded library of an AOTInductor package lives in NOS's extraction
 * folder ({@code ~/.cache/nos/aoti}); a process of the same user could change it between the
 * check and the loader mapping it.
 *
 * <p>Messages of the exceptions thrown here start with {@code artifact.uri} or
 * {@code artifact.sha256}.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Artifact {

  private static final String SCHEMES = "file, http or https";

  private final URI uri;
  private final String sha256;

  private Artifact(URI uri, String sha256) {
    this.uri = uri;
    this.sha256 = sha256;
  }

  /**
   * Returns the artifact at a local file.
   *
   * @param path the file; a relative path is made absolute against the working directory now
   * @return an artifact holding the absolute, normalized {@code file:} URI of {@code path}
   * @throws IllegalArgumentException if {@code path} is null or not on the default file system
   */
  public static Artifact of(Path path) {
    if (path == null) {
      throw new IllegalArgumentException("artifact.uri must not be null");
    }
    if (path.getFileSystem() != FileSystems.getDefault()) {
      throw new IllegalArgumentException(
          "artifact.uri must be a path on the default file system but was '" + path.toUri() + "'");
    }
    String absolute = path.toAbsolutePath().normalize().toString();
    return new Artifact(uri("file", "", absolute, absolute), null);
  }

  /**
   * Returns the artifact at a URI.
   *
   * @param uri a {@code file:} URI with an absolute path, an {@code http:} or {@code https:} URL
   *     with a host, or a URI with no scheme that is a plain path (kept relative if relative)
   * @return the artifact
   * @throws IllegalArgumentException if {@code uri} is null, has another scheme, or is not of one
   *     of the forms above; the message names the URI
   */
  public static Artifact of(URI uri) {
    if (uri == null) {
      throw new IllegalArgumentException("artifact.uri must not be null");
    }
    String scheme = uri.getScheme();
    if (scheme == null) {
      if (uri.getRawAuthority() != null || uri.getRawQuery() != null
          || uri.getRawFragment() != null || uri.getPath() == null || uri.getPath().isEmpty()) {
        throw new IllegalArgumentException("artifact.uri without a scheme must be a plain path "
            + "(no authority, query or fragment) but was '" + uri + "'");
      }
      return ofPath(uri.getPath(), uri.toString());
    }
    switch (scheme.toLowerCase(Locale.ROOT)) {
      case "file":
        try {
          return of(Paths.get(uri));
        } catch (IllegalArgumentException | FileSystemNotFoundException e) {
          throw new IllegalArgumentException("artifact.uri must be a file URI with an absolute "
              + "path and no authority, query or fragment but was '" + uri + "'", e);
        }
      case "http":
      case "https":
        if (uri.getHost() == null) {
          throw new IllegalArgumentException(
              "artifact.uri must be an " + scheme + " URL with a host but was '" + uri + "'");
        }
        return new Artifact(uri, null);
      default:
        throw new IllegalArgumentException("artifact.uri scheme must be " + SCHEMES + " but was '"
            + scheme + "' in '" + uri + "'");
    }
  }

  /**
   * Returns the artifact at a path or URI given as text. Text containing {@code "://"} or
   * starting with {@code "file:"} (any case) is read as a URI, as by {@link #of(URI)}; any other
   * text is a path, kept relative if relative.
   *
   * @param pathOrUri the path or URI
   * @return the artifact
   * @throws IllegalArgumentException if {@code pathOrUri} is null, blank, not a valid URI or path,
   *     or a URI not accepted by {@link #of(URI)}; the message names the value
   */
  public static Artifact of(String pathOrUri) {
    if (pathOrUri == null) {
      throw new IllegalArgumentException("artifact.uri must not be null");
    }
    if (pathOrUri.isBlank()) {
      throw new IllegalArgumentException(
          "artifact.uri must not be blank but was '" + pathOrUri + "'");
    }
    if (pathOrUri.contains("://") || pathOrUri.regionMatches(true, 0, "file:", 0, 5)) {
      try {
        return of(new URI(pathOrUri));
      } catch (URISyntaxException e) {
        throw new IllegalArgumentException("artifact.uri must be a valid URI but was '"
            + pathOrUri + "': " + e.getReason() + " at index " + e.getIndex(), e);
      }
    }
    return ofPath(pathOrUri, pathOrUri);
  }

  /** A path as text: absolute becomes a file URI, relative stays relative (redundant '/' gone). */
  private static Artifact ofPath(String text, String given) {
    Path path;
    try {
      path = Paths.get(text);
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException(
          "artifact.uri must be a valid path but was '" + given + "': " + e.getReason(), e);
    }
    if (path.isAbsolute()) {
      return of(path);
    }
    URI relative = uri(null, null, path.toString(), given);
    if (relative.getScheme() != null) {
      throw new IllegalArgumentException("artifact.uri must not have ':' in the first segment of "
          + "a relative path, where it reads as a URI scheme, but was '" + given
          + "'; write './" + path + "' or a full URI");
    }
    return new Artifact(relative, null);
  }

  /** The URI of a path, quoted the way {@link Path#toUri()} quotes it, but without file access. */
  private static URI uri(String scheme, String authority, String path, String given) {
    try {
      return URI.create(new URI(scheme, authority, path, null, null).toASCIIString());
    } catch (URISyntaxException | IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "artifact.uri must be a valid path but was '" + given + "': " + e.getMessage(), e);
    }
  }

  /**
   * Returns this artifact with the digest its bytes must have.
   *
   * @param sha256 64 hexadecimal characters, any case; held in lower case
   * @return a new artifact with the same location
   * @throws IllegalArgumentException if {@code sha256} is null or not 64 hexadecimal characters;
   *     the message gives the value and its length
   */
  public Artifact withSha256(String sha256) {
    String hex = sha256 == null ? null : sha256.toLowerCase(Locale.ROOT);
    if (hex == null || hex.length() != 64 || !hex.chars().allMatch(Artifact::isHex)) {
      throw new IllegalArgumentException("artifact.sha256 must be 64 hex characters but was "
          + (sha256 == null ? "null" : "'" + sha256 + "' (" + sha256.length() + " characters)"));
    }
    return new Artifact(uri, hex);
  }

  private static boolean isHex(int c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }

  /**
   * Returns this artifact with a relative path resolved against a directory; an absolute or
   * remote artifact is returned unchanged. The digest is kept.
   *
   * @param baseDir the directory a relative path is relative to, typically that of a spec file
   * @return an artifact with an absolute {@code file:} URI, or this one
   * @throws IllegalArgumentException if {@code baseDir} is null or not on the default file system
   */
  public Artifact resolveAgainst(Path baseDir) {
    if (baseDir == null) {
      throw new IllegalArgumentException("baseDir must not be null");
    }
    if (uri.getScheme() != null) {
      return this;
    }
    return new Artifact(of(baseDir.resolve(uri.getPath())).uri, sha256);
  }

  /**
   * The location: an absolute {@code file:} URI, an {@code http(s):} URL, or a URI with no scheme
   * holding a relative path.
   */
  public URI uri() {
    return uri;
  }

  /** The lower-case hex SHA-256 digest the bytes must have, if one was given. */
  public Optional<String> sha256() {
    return Optional.ofNullable(sha256);
  }

  /**
   * The local file, absolute for a {@code file:} URI and relative (not yet resolved) for a
   * relative path; empty for an {@code http(s):} URL.
   */
  public Optional<Path> localPath() {
    if (uri.getScheme() == null) {
      return Optional.of(Paths.get(uri.getPath()));
    }
    boolean file = "file".equalsIgnoreCase(uri.getScheme());
    return file ? Optional.of(Paths.get(uri)) : Optional.empty();
  }

  /** The location as a spec file writes it: a relative path as given, anything else as a URI. */
  String location() {
    return uri.getScheme() == null ? uri.getPath() : uri.toString();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Artifact
        && uri.equals(((Artifact) o).uri)
        && Objects.equals(sha256, ((Artifact) o).sha256);
  }

  @Override
  public int hashCode() {
    return uri.hashCode() * 31 + Objects.hashCode(sha256);
  }

  /** The location, then the digest if any, e.g. {@code digits.pt (sha256 9f86d0...)}. */
  @Override
  public String toString() {
    return sha256 == null ? location() : location() + " (sha256 " + sha256 + ")";
  }
}
