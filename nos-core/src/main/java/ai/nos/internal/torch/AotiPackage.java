package ai.nos.internal.torch;

import ai.nos.ModelLoadException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Enumeration;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * An AOTInductor package ({@code .pt2}, made by {@code torch._inductor.aoti_compile_and_package};
 * {@code scripts/gpu/make_aoti.py}) opened for libtorch's container runners, which take the
 * compiled shared library on disk, not the package.
 *
 * <p>A package is a zip archive holding {@code <archive>/data/aotinductor/<model>/<hash>.so} (the
 * model's code, and its weights when compiled with {@code package_constants_in_so}) beside
 * kernel binaries and metadata. TorchScript files are zip archives too; what tells them apart is
 * the {@code data/aotinductor/} folder. A package may hold one model, for any batch its
 * export allowed, or several compiled for one batch size each, named {@code batch_<size>}
 * ({@code scripts/gpu/make_aoti.py --buckets}): NOS then pads a call to the next size
 * ({@link AotiBuckets}).
 *
 * <h2>Extraction</h2>
 * {@link #extract} unpacks a package once into {@code root/<sha256 of the package>/}: into a
 * temporary folder first, moved into place with one atomic rename, so that a folder under its
 * final name is always complete; two threads or processes extracting the same package both
 * succeed and one copy wins. A folder found under the final name is used after its files'
 * sizes are checked against the package's entries; one that differs (edited or truncated since)
 * is replaced. Entry names that would land outside the folder ({@code ..}, absolute paths) are
 * refused before anything is written.
 */
final class AotiPackage {
  /** The folder under each archive that marks an AOTInductor package. */
  static final String MARKER = "data/aotinductor/";

  /** The key of a package's one library, which takes any batch its export allowed. */
  static final int ANY_BATCH = 0;

  private static final java.util.regex.Pattern BUCKET =
      java.util.regex.Pattern.compile("batch_([1-9][0-9]*)");

  private AotiPackage() {}

  /** Where packages are extracted unless the property {@code nos.aoti.dir} says otherwise. */
  static Path defaultRoot() {
    String configured = System.getProperty("nos.aoti.dir");
    return configured != null ? Path.of(configured)
        : Path.of(System.getProperty("user.home"), ".cache", "nos", "aoti");
  }

  /**
   * Whether {@code file} is an AOTInductor package: a zip archive with a {@code data/aotinductor/}
   * folder. Any other file (TorchScript, not a zip at all) is not.
   */
  static boolean isPackage(Path file) {
    byte[] magic = new byte[4];
    try (InputStream in = Files.newInputStream(file)) {
      if (in.readNBytes(magic, 0, 4) < 4 || magic[0] != 'P' || magic[1] != 'K') {
        return false;
      }
    } catch (IOException e) {
      return false;
    }
    try (ZipFile zip = new ZipFile(file.toFile())) {
      for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
        if (e.nextElement().getName().contains(MARKER)) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * Extracts the package (once per content) and returns its model libraries by the batch size
   * each was compiled for: one library under the key {@link #ANY_BATCH}, or one per
   * {@code batch_<size>} model.
   *
   * @param sha256 the package's sha256, which names its folder under {@code root}
   * @throws ModelLoadException if the package cannot be read, holds an entry that would land
   *     outside its folder, holds no model library, several not named {@code batch_<size>}, or
   *     cannot be written under root
   */
  static SortedMap<Integer, Path> extract(String modelId, Path file, String sha256, Path root) {
    Path target = root.resolve(sha256);
    try (ZipFile zip = new ZipFile(file.toFile())) {
      List<ZipEntry> entries = entries(modelId, file, zip);
      SortedMap<Integer, String> libraries = libraries(modelId, file, entries);
      if (!complete(target, entries)) {
        Files.createDirectories(root);
        Path tmp = Files.createTempDirectory(root, sha256 + ".tmp-");
        try {
          for (ZipEntry entry : entries) {
            Path out = tmp.resolve(entry.getName());
            Files.createDirectories(out.getParent());
            try (InputStream in = zip.getInputStream(entry)) {
              Files.copy(in, out);
            }
          }
          install(tmp, target, entries);
        } finally {
          deleteTree(tmp);
        }
      }
      SortedMap<Integer, Path> paths = new TreeMap<>();
      libraries.forEach((batch, entry) -> paths.put(batch, target.resolve(entry)));
      return paths;
    } catch (IOException | UncheckedIOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot extract the AOTInductor"
          + " package " + file + " under " + root + ": " + e, e);
    }
  }

  /** The package's file entries, each checked to stay inside the folder it is extracted to. */
  private static List<ZipEntry> entries(String modelId, Path file, ZipFile zip) {
    List<ZipEntry> files = new ArrayList<>();
    Path base = Path.of("/nos-aoti-check");
    for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
      ZipEntry entry = e.nextElement();
      String name = entry.getName();
      Path resolved = base.resolve(name).normalize();
      if (name.startsWith("/") || name.contains("\\") || !resolved.startsWith(base)
          || resolved.equals(base)) {
        throw new ModelLoadException("model '" + modelId + "': AOTInductor package " + file
            + " has an entry named '" + name + "', which would be written outside its folder;"
            + " nothing was extracted");
      }
      if (!entry.isDirectory()) {
        files.add(entry);
      }
    }
    return files;
  }

  /**
   * The model libraries' entry names ({@code .../data/aotinductor/<model>/<name>.so}) by batch
   * size: one under {@link #ANY_BATCH}, or several whose models are named {@code batch_<size>}.
   */
  private static SortedMap<Integer, String> libraries(String modelId, Path file,
      List<ZipEntry> entries) {
    List<String> libraries = new ArrayList<>();
    for (ZipEntry entry : entries) {
      String name = entry.getName();
      int at = name.indexOf(MARKER);
      if (at >= 0 && name.endsWith(".so")
          && name.indexOf('/', at + MARKER.length()) == name.lastIndexOf('/')) {
        libraries.add(name);
      }
    }
    SortedMap<Integer, String> bySize = new TreeMap<>();
    if (libraries.size() == 1) {
      bySize.put(ANY_BATCH, libraries.get(0));
      return bySize;
    }
    for (String name : libraries) {
      String model = name.substring(name.indexOf(MARKER) + MARKER.length(),
          name.lastIndexOf('/'));
      java.util.regex.Matcher m = BUCKET.matcher(model);
      int size = m.matches() && m.group(1).length() <= 6 ? Integer.parseInt(m.group(1)) : 0;
      if (size < 1 || bySize.put(size, name) != null) {
        bySize.clear();
        break;
      }
    }
    if (bySize.isEmpty()) {
      throw new ModelLoadException("model '" + modelId + "': AOTInductor package " + file
          + " should hold one model library (" + MARKER + "<model>/<name>.so), or several"
          + " whose models are named batch_<size> with distinct sizes, but holds "
          + (libraries.isEmpty() ? "none" : libraries.size() + ": " + libraries)
          + "; make it with torch._inductor.aoti_compile_and_package (scripts/gpu/make_aoti.py)");
    }
    return bySize;
  }

  /** Whether {@code dir} holds every entry with its size. */
  private static boolean complete(Path dir, List<ZipEntry> entries) throws IOException {
    if (!Files.isDirectory(dir)) {
      return false;
    }
    for (ZipEntry entry : entries) {
      Path f = dir.resolve(entry.getName());
      if (!Files.isRegularFile(f) || (entry.getSize() >= 0 && Files.size(f) != entry.getSize())) {
        return false;
      }
    }
    return true;
  }

  /**
   * Moves the extracted {@code tmp} to {@code target} atomically. If another extraction put a
   * complete folder there first, that one stays; an incomplete one is moved aside and replaced.
   */
  private static void install(Path tmp, Path target, List<ZipEntry> entries) throws IOException {
    for (int attempt = 0; attempt < 3; attempt++) {
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        return;
      } catch (FileSystemException e) {
        // Linux refuses to rename onto a non-empty folder (ENOTEMPTY, reported as a plain
        // FileSystemException): someone else extracted first, or left a broken copy.
        if (!Files.exists(target)) {
          throw e;
        }
        if (complete(target, entries)) {
          return;
        }
        Path aside = Files.createTempDirectory(target.getParent(), target.getFileName()
            + ".stale-");
        Files.delete(aside);
        try {
          Files.move(target, aside, StandardCopyOption.ATOMIC_MOVE);
        } catch (java.nio.file.NoSuchFileException gone) {
          continue;
        }
        deleteTree(aside);
      }
    }
    throw new IOException("could not move " + tmp + " to " + target + " after 3 attempts");
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
