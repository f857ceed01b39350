package ai.nos.hub;

import ai.nos.Artifact;
import ai.nos.ModelSpec;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The model hub: a {@link Catalog} that custom models can be registered into, and the way from a
 * catalog id to a {@link ModelSpec} whose files are downloaded and verified.
 *
 * <pre>{@code
 * Hub hub = Hub.builder().baseUri(URI.create("https://models.example.org/nos/")).build();
 * hub.register(ModelSpec.fromJson(Path.of("my-model.json")));
 * Downloader downloader = Downloader.builder().listener(ConsoleProgress.create()).build();
 * try (Model model = Nos.load(hub.spec("torchvision/resnet50", downloader))) { ... }
 * }</pre>
 *
 * <p>{@link #shared()} is the hub of the process, for code that has no hub passed to it; a
 * program that can should build its own and pass it on.
 *
 * <p><b>Thread-safety</b>: a hub holds its catalog in an {@link AtomicReference}; a registration
 * replaces it with a new immutable catalog, so readers never lock and always see a whole catalog,
 * and concurrent registrations are all kept (the last one wins for an id). Downloads run outside
 * any hub lock, serialized per file by the {@link Downloader}.
 */
public final class Hub {

  /** The system property read for the base URI of {@link #shared()} and of builders. */
  public static final String BASE_URI_PROPERTY = "nos.hub.baseUri";

  /** Lock files are a few dozen bytes; anything this large is something else. */
  private static final int MAX_LOCK_BYTES = 64 * 1024;

  private final AtomicReference<Catalog> catalog;
  private final URI baseUri;

  private Hub(Catalog catalog, URI baseUri) {
    this.catalog = new AtomicReference<>(catalog);
    this.baseUri = baseUri;
  }

  /**
   * Returns a builder: the builtin catalog, and the base URI of the system property
   * {@value #BASE_URI_PROPERTY} if set.
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The hub of this process, made on first use from the builtin catalog and the system property
   * {@value #BASE_URI_PROPERTY}.
   *
   * @throws IllegalArgumentException if the property is not a valid base URI (on every call until
   *     one succeeds: only a hub that was made is kept)
   */
  public static Hub shared() {
    Hub hub = shared;
    if (hub == null) {
      synchronized (SHARED_LOCK) {
        hub = shared;
        if (hub == null) {
          // Not a holder class, whose failed initializer would throw ExceptionInInitializerError
          // and then NoClassDefFoundError on every later call.
          hub = builder().build();
          shared = hub;
        }
      }
    }
    return hub;
  }

  private static final Object SHARED_LOCK = new Object();
  private static volatile Hub shared;

  /** The base URI that {@code {baseUri}} templates resolve against, ending in '/', if set. */
  public Optional<URI> baseUri() {
    return Optional.ofNullable(baseUri);
  }

  /** The catalog as it is now: the builtin (or given) one with every registration merged over. */
  public Catalog catalog() {
    return catalog.get();
  }

  /**
   * The catalog as it is now, as text for people: one line per entry, in catalog order, with its
   * id, task, {@link Provenance provenance} and description, columns separated by two spaces and
   * "-" where an entry has no task or provenance; a line break in a description becomes a space.
   * A {@link Provenance#LOOK_ALIKE} entry is never listed without saying so.
   */
  public String list() {
    java.util.List<CatalogEntry> entries = catalog.get().entries();
    int idWidth = entries.stream().mapToInt(e -> e.id().length()).max().orElse(0);
    StringBuilder s = new StringBuilder();
    for (CatalogEntry e : entries) {
      String format = "%-" + Math.max(1, idWidth) + "s  %-20s  %-12s  %s%n";
      s.append(String.format(java.util.Locale.ROOT, format, e.id(),
          e.task().map(Task::label).orElse("-"), e.provenance().map(Provenance::label).orElse("-"),
          e.description().replaceAll("\\R", " ")));
    }
    return s.toString();
  }

  /**
   * The entry with the given id.
   *
   * @throws IllegalArgumentException if there is none; the message suggests close ids and lists
   *     the known ones
   */
  public CatalogEntry entry(String id) {
    return catalog.get().entry(id);
  }

  /** The entry with the given id, or empty. */
  public Optional<CatalogEntry> find(String id) {
    return catalog.get().find(id);
  }

  /**
   * Registers a custom model as {@link CatalogEntry#of(ModelSpec)}, replacing any entry with its
   * id.
   *
   * @return the entry registered
   * @throws IllegalArgumentException if {@code spec} is null
   */
  public CatalogEntry register(ModelSpec spec) {
    return register(CatalogEntry.of(spec));
  }

  /**
   * Registers a custom model from a {@link ModelSpec} JSON file, as
   * {@link ModelSpec#fromJson(Path)} reads it (a relative artifact path is relative to the file).
   *
   * @return the entry registered
   * @throws IllegalArgumentException if the file is missing, unreadable or not a valid spec
   */
  public CatalogEntry register(Path specJson) {
    return register(ModelSpec.fromJson(specJson));
  }

  /**
   * Registers an entry, replacing any entry with its id.
   *
   * @return {@code entry}
   * @throws IllegalArgumentException if {@code entry} is null
   */
  public CatalogEntry register(CatalogEntry entry) {
    if (entry == null) {
      throw new IllegalArgumentException("entry must not be null");
    }
    catalog.updateAndGet(c -> c.with(entry));
    return entry;
  }

  /**
   * Merges a catalog over this hub's: its entries replace those with the same ids.
   *
   * @throws IllegalArgumentException if {@code over} is null
   */
  public void merge(Catalog over) {
    if (over == null) {
      throw new IllegalArgumentException("catalog to merge must not be null");
    }
    catalog.updateAndGet(c -> c.merge(over));
  }

  /**
   * Fetches every artifact of an entry into the downloader's cache, verified, and returns the
   * local files by artifact name, in the entry's order. An artifact pinned by a lock file has its
   * lock file read first; a local artifact without a digest is returned in place.
   *
   * @throws IllegalArgumentException if {@code id} is unknown or {@code downloader} is null
   * @throws IllegalStateException if an artifact is a {@code {baseUri}} template and this hub has
   *     no base URI
   * @throws DownloadException if an artifact or its lock file cannot be fetched or verified (the
   *     message names the entry and the artifact)
   */
  public Map<String, Path> fetch(String id, Downloader downloader) {
    Map<String, Path> files = new LinkedHashMap<>();
    fetchAll(entry(id), downloader).forEach((name, fetched) -> files.put(name, fetched.path));
    return Collections.unmodifiableMap(files);
  }

  /**
   * As {@link #fetch}, each file as an artifact pinned by the digest it was verified against (a
   * local file used in place has none), so that every load of it checks the bytes it opens: the
   * downloader checks a cached file's size only.
   */
  Map<String, Artifact> fetchPinned(String id, Downloader downloader) {
    Map<String, Artifact> files = new LinkedHashMap<>();
    fetchAll(entry(id), downloader).forEach((name, fetched) -> files.put(name,
        fetched.artifact()));
    return Collections.unmodifiableMap(files);
  }

  private Map<String, Fetched> fetchAll(CatalogEntry entry, Downloader downloader) {
    if (downloader == null) {
      throw new IllegalArgumentException("downloader must not be null");
    }
    Map<String, Fetched> files = new LinkedHashMap<>();
    for (CatalogArtifact artifact : entry.artifacts()) {
      files.put(artifact.name(), fetch(entry, artifact, downloader));
    }
    return files;
  }

  /**
   * Fetches the artifacts of an entry (as {@link #fetch}) and returns its spec: the entry's id,
   * signature, precision, default optimization steps, device and batching, and the local
   * {@value CatalogArtifact#MODEL} file with its digest, which nos-core checks again when it loads
   * the model.
   *
   * @throws IllegalArgumentException if {@code id} is unknown or {@code downloader} is null
   * @throws IllegalStateException as {@link #fetch}
   * @throws DownloadException as {@link #fetch}
   */
  public ModelSpec spec(String id, Downloader downloader) {
    return resolve(entry(id), downloader).spec();
  }

  /**
   * The spec of an entry and its local files by artifact name, from one fetch, each pinned by
   * the digest it was verified against (as {@link #fetchPinned}).
   */
  record Resolved(ModelSpec spec, Map<String, Artifact> files) {}

  /** Fetches an entry's artifacts once and returns its spec (as {@link #spec}) and files. */
  Resolved resolve(CatalogEntry entry, Downloader downloader) {
    Map<String, Fetched> fetched = fetchAll(entry, downloader);
    Map<String, Artifact> files = new LinkedHashMap<>();
    fetched.forEach((name, f) -> files.put(name, f.artifact()));
    ModelSpec.Builder b = ModelSpec.builder().id(entry.id())
        .artifact(fetched.get(CatalogArtifact.MODEL).artifact())
        .signature(entry.signature()).precision(entry.precision()).device(entry.device())
        .optimize(entry.optimizations().toArray(new ai.nos.Optimization[0]));
    entry.batching().ifPresent(b::batching);
    return new Resolved(b.build(), Collections.unmodifiableMap(files));
  }

  /** A local file and the digest it was verified against (null if used in place). */
  private static final class Fetched {
    final Path path;
    final String sha256;

    Fetched(Path path, String sha256) {
      this.path = path;
      this.sha256 = sha256;
    }

    /** The file, pinned by its digest if it has one. */
    Artifact artifact() {
      Artifact artifact = Artifact.of(path);
      return sha256 == null ? artifact : artifact.withSha256(sha256);
    }
  }

  private Fetched fetch(CatalogEntry entry, CatalogArtifact artifact, Downloader downloader) {
    URI uri;
    try {
      uri = artifact.resolve(baseUri);
    } catch (IllegalStateException e) {
      throw new IllegalStateException(entry.id() + ": artifact '" + artifact.name() + "' is at "
          + artifact.uri() + " but no base URI is set. NOS hosts no artifacts yet: export the "
          + "model with scripts/hub/export_*.py, then set -D" + BASE_URI_PROPERTY
          + "=<where the export is served from> or Hub.builder().baseUri(...)", e);
    }
    if (artifact.sha256().isPresent()) {
      String sha256 = artifact.sha256().get();
      long size = artifact.size().orElse(Downloader.UNKNOWN_SIZE);
      return new Fetched(download(entry, artifact, uri, sha256, size, downloader), sha256);
    }
    if (!artifact.isTemplate() && "file".equals(uri.getScheme())) {
      Path path = Paths.get(uri);
      if (!Files.isRegularFile(path)) {
        throw new DownloadException(entry.id() + ": artifact '" + artifact.name() + "' file "
            + path + " does not exist", uri);
      }
      return new Fetched(path, null);
    }
    CatalogJson.Pin pin = lock(entry, artifact, uri, downloader);
    return new Fetched(download(entry, artifact, uri, pin.sha256(), pin.size(), downloader),
        pin.sha256());
  }

  /** Fetches a pinned artifact; a failure names the entry and the artifact. */
  private static Path download(CatalogEntry entry, CatalogArtifact artifact, URI uri,
      String sha256, long size, Downloader downloader) {
    try {
      return downloader.fetch(uri, sha256, size);
    } catch (DownloadException e) {
      throw new DownloadException(entry.id() + ": artifact '" + artifact.name() + "': "
          + e.getMessage(), e.uri().orElse(uri), e);
    }
  }

  private static CatalogJson.Pin lock(
      CatalogEntry entry, CatalogArtifact artifact, URI uri, Downloader downloader) {
    URI lockUri = URI.create(uri + CatalogArtifact.LOCK_SUFFIX);
    String context = entry.id() + ": artifact '" + artifact.name()
        + "' has no sha256 in the catalog, so its lock file " + lockUri;
    byte[] json;
    try {
      json = downloader.fetchSmall(lockUri, MAX_LOCK_BYTES);
    } catch (DownloadException e) {
      throw new DownloadException(context + " must pin it, but: " + e.getMessage(), lockUri, e);
    }
    try {
      return CatalogJson.readLock(json);
    } catch (IllegalArgumentException e) {
      throw new DownloadException(context + " is not valid: " + e.getMessage(), lockUri, e);
    }
  }

  /**
   * Collects the settings of a {@link Hub}. A setting made twice keeps the last value;
   * {@link #build()} leaves the builder usable. Not thread-safe.
   */
  public static final class Builder {
    private Catalog catalog;
    private URI baseUri;

    private Builder() {}

    /**
     * Sets the starting catalog; {@link Catalog#builtin()} by default. Merge a user catalog over
     * the builtin one with {@code Catalog.builtin().merge(user)}.
     *
     * @throws NullPointerException if {@code catalog} is null
     */
    public Builder catalog(Catalog catalog) {
      Objects.requireNonNull(catalog, "catalog must not be null");
      this.catalog = catalog;
      return this;
    }

    /**
     * Sets the base URI that {@code {baseUri}/...} artifact templates resolve against, such as
     * the directory the export scripts wrote to ({@code file:/srv/nos-models/}) or a server
     * serving it; by default the system property {@value #BASE_URI_PROPERTY}, else none.
     *
     * @param baseUri an absolute {@code http:}, {@code https:} or {@code file:} URI; a '/' is
     *     added to its path if missing
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code baseUri} is not such a URI
     */
    public Builder baseUri(URI baseUri) {
      Objects.requireNonNull(baseUri, "baseUri must not be null");
      this.baseUri = normalize(baseUri);
      return this;
    }

    /**
     * Sets the base URI to a local directory, such as the one {@code scripts/hub/export_models.py}
     * wrote: the same as {@code baseUri(directory.toUri())}. Its files are verified against their
     * lock files (or the catalog's digests) and copied into the {@link Downloader}'s cache like
     * downloads, so a model is loaded from the cache, never from the directory itself.
     *
     * @throws NullPointerException if {@code directory} is null
     * @throws IllegalArgumentException if it is not an existing directory; the message names it
     */
    public Builder baseDirectory(Path directory) {
      Objects.requireNonNull(directory, "baseDirectory must not be null");
      this.baseUri = directoryUri(directory, "baseDirectory");
      return this;
    }

    private static URI directoryUri(Path directory, String what) {
      Path absolute = directory.toAbsolutePath().normalize();
      if (!Files.isDirectory(absolute)) {
        throw new IllegalArgumentException(what + " must be an existing directory but "
            + absolute + (Files.exists(absolute) ? " is not a directory" : " does not exist"));
      }
      return normalize(absolute.toUri());
    }

    private static URI normalize(URI uri) {
      URI checked;
      try {
        checked = Checks.uri(uri);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("baseUri must be an http(s) URL with a host or a file "
            + "URI but was " + (uri == null ? "null" : "'" + uri + "'"), e);
      }
      if (checked.getRawQuery() != null || checked.getRawFragment() != null) {
        throw new IllegalArgumentException(
            "baseUri must have no query or fragment but was '" + uri + "'");
      }
      String path = checked.getRawPath() == null ? "" : checked.getRawPath();
      return path.endsWith("/") ? checked : URI.create(checked + "/");
    }

    /**
     * Returns the hub.
     *
     * @throws IllegalArgumentException if no base URI was set and the system property
     *     {@value #BASE_URI_PROPERTY} holds an invalid one: it must be an http(s) or file URI,
     *     or an absolute path of an existing directory
     */
    public Hub build() {
      URI base = baseUri;
      String property = System.getProperty(BASE_URI_PROPERTY);
      if (base == null && property != null && !property.isBlank()
          && property.trim().startsWith("/")) {
        // A plain absolute path is what people write for a local export directory.
        base = directoryUri(Paths.get(property.trim()), "system property " + BASE_URI_PROPERTY);
      } else if (base == null && property != null && !property.isBlank()) {
        try {
          base = normalize(new URI(property.trim()));
        } catch (URISyntaxException | IllegalArgumentException e) {
          throw new IllegalArgumentException("system property " + BASE_URI_PROPERTY
              + " must be an absolute path of a directory, or an http(s) or file URI, but was '"
              + property + "'", e);
        }
      }
      return new Hub(catalog != null ? catalog : Catalog.builtin(), base);
    }
  }
}
