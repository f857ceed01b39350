package ai.nos.hub;

import ai.nos.Artifact;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Pattern;

/**
 * One file of a catalog entry: the model itself ({@value #MODEL}), a tokenizer, a labels file.
 *
 * <p>The location is one of:
 *
 * <ul>
 *   <li>a template {@code "{baseUri}/<relative path>"}, resolved against the hub's base URI
 *       ({@link Hub.Builder#baseUri}); the builtin catalog uses only templates, because NOS hosts
 *       no artifacts: they are exported by {@code scripts/hub/export_*.py} to wherever the user
 *       serves them from;
 *   <li>an {@code http:}, {@code https:} or {@code file:} URI, or a local path, as accepted by
 *       {@link Artifact#of(String)}.
 * </ul>
 *
 * <p><b>Pinning</b>: an artifact carries the SHA-256 digest (and usually the size) its bytes
 * must have, or none. Without a digest, a template or http(s) artifact is pinned by its <em>lock
 * file</em>: the document at its resolved URI plus {@value #LOCK_SUFFIX}, which the export script
 * writes beside the artifact, {@code {"sha256": "<64 hex>", "size": <bytes>}}. A lock file
 * fetched from a server is trusted as served (it protects against truncated and corrupted
 * transfers, not against the server); to pin against the server, write the digest and size
 * into a catalog entry instead. A local path without a digest is used in place, unverified.
 *
 * <p>In JSON: {@code {"name": "model", "uri": "{baseUri}/torchvision/resnet50/model.pt",
 * "sha256": "...", "size": 102540417}}; {@code name} is {@value #MODEL} when absent;
 * {@code sha256} and {@code size} are optional, and {@code size} needs {@code sha256}.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class CatalogArtifact {

  /** The name of the artifact holding the TorchScript model; every entry has one. */
  public static final String MODEL = "model";

  /** The placeholder a template location starts with, followed by {@code '/'}. */
  public static final String BASE_URI = "{baseUri}";

  /** What a lock file's URI adds to the artifact's URI. */
  public static final String LOCK_SUFFIX = ".lock.json";

  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_-]{0,31}");

  private final String name;
  private final String uri;
  private final String sha256;
  private final long size;

  private CatalogArtifact(String name, String uri, String sha256, long size) {
    this.name = name;
    this.uri = uri;
    this.sha256 = sha256;
    this.size = size;
  }

  /**
   * Returns an unpinned artifact.
   *
   * @param name matches {@code [a-z][a-z0-9_-]{0,31}}, e.g. {@code "model"}, {@code "tokenizer"}
   * @param uri a template {@code "{baseUri}/path"}, or a location accepted by
   *     {@link Artifact#of(String)}
   * @throws IllegalArgumentException if either is null or invalid; the message starts with
   *     {@code name} or {@code uri}
   */
  public static CatalogArtifact of(String name, String uri) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("name must match " + NAME.pattern() + " but was "
          + (name == null ? "null" : "'" + Checks.shorten(name) + "'"));
    }
    checkLocation(uri);
    return new CatalogArtifact(name, uri, null, Downloader.UNKNOWN_SIZE);
  }

  private static void checkLocation(String uri) {
    if (uri == null) {
      throw new IllegalArgumentException("uri must not be null");
    }
    if (uri.startsWith(BASE_URI)) {
      String rest = uri.substring(BASE_URI.length());
      boolean ok = rest.length() > 1 && rest.charAt(0) == '/' && rest.charAt(1) != '/'
          && !rest.contains("\\");
      try {
        URI relative = new URI(rest.substring(Math.min(1, rest.length())));
        ok &= relative.getScheme() == null && relative.getRawAuthority() == null
            && relative.getRawQuery() == null && relative.getRawFragment() == null
            && !relative.normalize().getPath().startsWith("..");
      } catch (URISyntaxException e) {
        ok = false;
      }
      if (!ok) {
        throw new IllegalArgumentException("uri must be " + BASE_URI + "/ followed by a relative "
            + "path inside the base but was '" + Checks.shorten(uri) + "'");
      }
      return;
    }
    try {
      Artifact.of(uri);
    } catch (IllegalArgumentException e) {
      String message = e.getMessage();
      throw new IllegalArgumentException(
          message.startsWith("artifact.") ? message.substring(9) : message, e);
    }
  }

  /**
   * Returns this artifact pinned to a digest and size.
   *
   * @param sha256 64 hexadecimal characters, any case; held in lower case
   * @param size the size in bytes, {@code > 0}, or {@link Downloader#UNKNOWN_SIZE}
   * @throws IllegalArgumentException if the digest is malformed ({@code sha256 ...}) or the size
   *     out of range ({@code size ...})
   */
  public CatalogArtifact withSha256(String sha256, long size) {
    String hex = Checks.sha256(sha256);
    if (size < 1 && size != Downloader.UNKNOWN_SIZE) {
      throw new IllegalArgumentException("size must be > 0 but was " + size);
    }
    return new CatalogArtifact(name, uri, hex, size);
  }

  /** The name, unique within its entry. */
  public String name() {
    return name;
  }

  /** The location as written: a template or a URI or path. */
  public String uri() {
    return uri;
  }

  /** Whether the location is a template resolved against the hub's base URI. */
  public boolean isTemplate() {
    return uri.startsWith(BASE_URI);
  }

  /** The lower-case SHA-256 digest the bytes must have, if pinned here. */
  public Optional<String> sha256() {
    return Optional.ofNullable(sha256);
  }

  /** The size in bytes, if known. */
  public OptionalLong size() {
    return size == Downloader.UNKNOWN_SIZE ? OptionalLong.empty() : OptionalLong.of(size);
  }

  /**
   * The URI to fetch: a template resolved against {@code baseUri}; a relative path against the
   * working directory.
   *
   * @param baseUri the base, ending in '/'; may be null when this is not a template
   * @throws IllegalStateException if this is a template and {@code baseUri} is null
   */
  URI resolve(URI baseUri) {
    if (isTemplate()) {
      if (baseUri == null) {
        throw new IllegalStateException("no base URI is set for " + uri);
      }
      return baseUri.resolve(uri.substring(BASE_URI.length() + 1));
    }
    Artifact artifact = Artifact.of(uri);
    return artifact.localPath().map(p -> p.toAbsolutePath().toUri()).orElse(artifact.uri());
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof CatalogArtifact)) {
      return false;
    }
    CatalogArtifact a = (CatalogArtifact) o;
    return name.equals(a.name) && uri.equals(a.uri) && Objects.equals(sha256, a.sha256)
        && size == a.size;
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, uri, sha256, size);
  }

  /**
   * Name, location and pin, e.g. {@code model: {baseUri}/x/model.pt (sha256 9f86..., 12 bytes)}.
   */
  @Override
  public String toString() {
    return name + ": " + uri + (sha256 == null ? "" : " (sha256 " + sha256
        + (size == Downloader.UNKNOWN_SIZE ? "" : ", " + size + " bytes") + ")");
  }
}
