package ai.nos.hub;

import ai.nos.internal.files.BoundedFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * An immutable set of {@link CatalogEntry catalog entries}, by id.
 *
 * <p>A catalog is a JSON document:
 *
 * <pre>{@code
 * {"version": 1, "entries": [
 *   {"id": "acme/classifier", "task": "image_classification", "provenance": "architecture",
 *    "artifacts": [{"uri": "https://example.org/c.pt", "sha256": "...", "size": 1234}],
 *    "spec": {"signature": {"inputs": [...], "outputs": [...]}, "precision": "fp16"},
 *    "image": {"resize": 256, "crop": 224, "mean": [...], "std": [...]},
 *    "labels": ["cat", "dog"]}]}
 * }</pre>
 *
 * <p>The fields of an entry are those of {@link CatalogEntry}: {@code spec} is a
 * {@link ai.nos.ModelSpec} document without {@code id} and {@code artifact}; {@code image},
 * {@code text}, {@code detection} and the artifacts are described by {@link ImagePreprocessing},
 * {@link TextPreprocessing}, {@link DetectionPostprocessing} and {@link CatalogArtifact}.
 * Unknown fields are rejected. Every error in a document is an {@link IllegalArgumentException}
 * whose message names its JSON path, such as {@code $.entries[2].artifacts[0].sha256}.
 *
 * <p>The {@link #builtin() builtin catalog} describes popular models but pins none of their
 * files: see {@link #builtin()}.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Catalog {

  /** Where the builtin catalog lives on the class path. */
  public static final String BUILTIN_RESOURCE = "/ai/nos/hub/catalog.json";

  private static final Catalog EMPTY = new Catalog(Map.of());

  private final Map<String, CatalogEntry> entries;

  private Catalog(Map<String, CatalogEntry> entries) {
    this.entries = entries;
  }

  private static Catalog of(Map<String, CatalogEntry> entries) {
    return new Catalog(Collections.unmodifiableMap(new LinkedHashMap<>(entries)));
  }

  /** The catalog with no entries. */
  public static Catalog empty() {
    return EMPTY;
  }

  /**
   * A catalog of the given entries, in order.
   *
   * @throws IllegalArgumentException if {@code entries} or an entry is null, or two share an id
   */
  public static Catalog of(Collection<CatalogEntry> entries) {
    if (entries == null) {
      throw new IllegalArgumentException("entries must not be null");
    }
    Map<String, CatalogEntry> map = new LinkedHashMap<>();
    int i = 0;
    for (CatalogEntry entry : entries) {
      if (entry == null) {
        throw new IllegalArgumentException("entries[" + i + "] must not be null");
      }
      if (map.putIfAbsent(entry.id(), entry) != null) {
        throw new IllegalArgumentException(
            "entries[" + i + "].id must be unique but was '" + entry.id() + "'");
      }
      i++;
    }
    return of(map);
  }

  /**
   * The catalog shipped in this jar ({@value #BUILTIN_RESOURCE}): ResNet-50, ViT-B/16, CLIP
   * ViT-B/32 (two entries, {@code /image} and {@code /text}, one per TorchScript module),
   * all-MiniLM-L6-v2 and YOLOv8n.
   *
   * <p>Each entry's {@link CatalogEntry#provenance() provenance} says what its exported files
   * are: the named model's own architecture (random weights unless exported with
   * {@code --pretrained}), a {@link Provenance#LOOK_ALIKE look-alike} (YOLOv8n, as ultralytics is
   * not installed where NOS exports), or NOS's own test model.
   *
   * <p><b>These entries cannot be downloaded from anywhere yet.</b> NOS hosts no artifacts, so
   * every location is a {@code {baseUri}/...} template and no digest is written in: the files
   * and their lock files come from {@code scripts/hub/export_*.py}, run wherever PyTorch is
   * installed, and are served from the directory or server that {@link Hub.Builder#baseUri} or
   * {@link Hub.Builder#baseDirectory} (or the system property {@value Hub#BASE_URI_PROPERTY})
   * points at.
   *
   * @throws IllegalStateException if the resource is missing or invalid (a broken jar)
   */
  public static Catalog builtin() {
    return Builtin.CATALOG;
  }

  private static final class Builtin {
    static final Catalog CATALOG = load();

    private static Catalog load() {
      try (InputStream in = Catalog.class.getResourceAsStream(BUILTIN_RESOURCE)) {
        if (in == null) {
          throw new IllegalStateException(BUILTIN_RESOURCE + " is missing from the class path");
        }
        return of(CatalogJson.read(in.readAllBytes()));
      } catch (IOException | IllegalArgumentException e) {
        throw new IllegalStateException("cannot read the builtin catalog " + BUILTIN_RESOURCE
            + ": " + e.getMessage(), e);
      }
    }
  }

  /**
   * Reads a catalog from JSON text.
   *
   * @throws IllegalArgumentException if {@code json} is null, not valid JSON, or not a valid
   *     catalog; the message names the JSON path
   */
  public static Catalog fromJson(String json) {
    if (json == null) {
      throw new IllegalArgumentException("catalog JSON must not be null");
    }
    return of(CatalogJson.read(json.getBytes(StandardCharsets.UTF_8)));
  }

  /**
   * Reads a catalog from a JSON file.
   *
   * @throws IllegalArgumentException as {@link #fromJson}, with the file named first, or if the
   *     file is larger than 16 MiB
   * @throws UncheckedIOException if the file cannot be read; the message names it
   */
  public static Catalog fromFile(Path file) {
    if (file == null) {
      throw new IllegalArgumentException("catalog file must not be null");
    }
    byte[] json;
    try {
      long size = Files.size(file);
      if (size > CatalogJson.MAX_BYTES) {
        throw new IllegalArgumentException(file + ": a catalog must be at most "
            + CatalogJson.MAX_BYTES + " bytes but this one has " + size);
      }
      // The size check above cannot see a device or a pipe (size 0, maybe endless).
      json = BoundedFiles.readAtMost(file, CatalogJson.MAX_BYTES);
      if (json == null) {
        throw new IllegalArgumentException(file + ": a catalog must be at most "
            + CatalogJson.MAX_BYTES + " bytes but this one has more");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read catalog file " + file + ": " + e, e);
    }
    try {
      return of(CatalogJson.read(json));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Reads a catalog from a URI through a downloader. The document has no known digest, so it is
   * trusted as served (use https); the artifacts it pins are verified when fetched. A copy is
   * kept in the cache, which is what an offline downloader reads.
   *
   * @param uri an {@code http:}, {@code https:} or {@code file:} URI
   * @param downloader fetches the document
   * @throws IllegalArgumentException if an argument is null or the document is not a valid
   *     catalog; the message names the URI and the JSON path
   * @throws DownloadException if the document cannot be fetched
   */
  public static Catalog fromUri(URI uri, Downloader downloader) {
    if (downloader == null) {
      throw new IllegalArgumentException("downloader must not be null");
    }
    byte[] json = downloader.fetchSmall(uri, CatalogJson.MAX_BYTES);
    try {
      return of(CatalogJson.read(json));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(uri + ": " + e.getMessage(), e);
    }
  }

  /**
   * Returns this catalog with the entries of {@code over} added; an entry of {@code over} replaces
   * the entry of this catalog with the same id, in its place. New ids follow, in their order.
   *
   * @throws IllegalArgumentException if {@code over} is null
   */
  public Catalog merge(Catalog over) {
    if (over == null) {
      throw new IllegalArgumentException("catalog to merge must not be null");
    }
    if (over.entries.isEmpty()) {
      return this;
    }
    Map<String, CatalogEntry> merged = new LinkedHashMap<>(entries);
    merged.putAll(over.entries);
    return of(merged);
  }

  /**
   * Returns this catalog with one entry added or replaced.
   *
   * @throws IllegalArgumentException if {@code entry} is null
   */
  public Catalog with(CatalogEntry entry) {
    if (entry == null) {
      throw new IllegalArgumentException("entry must not be null");
    }
    return merge(new Catalog(Map.of(entry.id(), entry)));
  }

  /** The entry with the given id, or empty. */
  public Optional<CatalogEntry> find(String id) {
    return Optional.ofNullable(id == null ? null : entries.get(id));
  }

  /**
   * The entry with the given id.
   *
   * @throws IllegalArgumentException if there is none; the message suggests close ids and lists
   *     the known ones
   */
  public CatalogEntry entry(String id) {
    CatalogEntry entry = id == null ? null : entries.get(id);
    if (entry == null) {
      throw new IllegalArgumentException(unknown(id));
    }
    return entry;
  }

  private String unknown(String id) {
    StringBuilder s = new StringBuilder("unknown model id ")
        .append(id == null ? "null" : "'" + Checks.shorten(id) + "'");
    if (entries.isEmpty()) {
      return s.append("; the catalog is empty").toString();
    }
    if (id != null) {
      List<String> close = entries.keySet().stream()
          .filter(known -> isClose(id, known))
          .sorted(Comparator.comparingInt((String known) -> distance(id, known))
              .thenComparing(Comparator.naturalOrder()))
          .limit(5)
          .collect(Collectors.toList());
      if (!close.isEmpty()) {
        s.append("; did you mean ").append(String.join(" or ", close)).append('?');
      }
    }
    List<String> ids = ids();
    s.append(" (known: ").append(String.join(", ", ids.subList(0, Math.min(30, ids.size()))));
    if (ids.size() > 30) {
      s.append(", and ").append(ids.size() - 30).append(" more");
    }
    return s.append(')').toString();
  }

  /** Close: a few edits apart, or one contains the other, ignoring case. */
  private static boolean isClose(String id, String known) {
    String a = id.toLowerCase(Locale.ROOT);
    String b = known.toLowerCase(Locale.ROOT);
    return distance(a, b) <= Math.max(2, a.length() / 4)
        || a.length() >= 3 && (b.contains(a) || a.contains(b));
  }

  /** Levenshtein distance; ids are short, so the quadratic table is fine. */
  static int distance(String a, String b) {
    int[] previous = new int[b.length() + 1];
    int[] current = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      previous[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      current[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
      }
      int[] t = previous;
      previous = current;
      current = t;
    }
    return previous[b.length()];
  }

  /** The entries, in order; unmodifiable. */
  public List<CatalogEntry> entries() {
    return List.copyOf(entries.values());
  }

  /** The ids, in order; unmodifiable. */
  public List<String> ids() {
    return List.copyOf(entries.keySet());
  }

  /** The number of entries. */
  public int size() {
    return entries.size();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Catalog && new ArrayList<>(entries.values())
        .equals(new ArrayList<>(((Catalog) o).entries.values()));
  }

  @Override
  public int hashCode() {
    return new ArrayList<>(entries.values()).hashCode();
  }

  /** The ids, e.g. {@code Catalog[torchvision/resnet50, ...]}. */
  @Override
  public String toString() {
    return "Catalog" + entries.keySet();
  }
}
