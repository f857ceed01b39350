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
 * the {@code data/aotinductor/} folder.
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
   * Extracts the package (once per content) and returns the model's shared library in it.
   *
   * @param sha256 the package's sha256, which names its folder under {@code root}
   * @throws ModelLoadException if the package cannot be read, holds an entry that would land
   *     outside its folder, holds no model library or several, or cannot be written under root
   */
  static Path extract(String modelId, Path file, String sha256, Path root) {
    Path target = root.resolve(sha256);
    try (ZipFile zip = new ZipFile(file.toFile())) {
      List<ZipEntry> entries = entries(modelId, file, zip);
      String library = library(modelId, file, entries);
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
      return target.resolve(library);
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

  /** The one model library's entry name: {@code .../data/aotinductor/<model>/<name>.so}. */
  private static String library(String modelId, Path file, List<ZipEntry> entries) {
    List<String> libraries = new ArrayList<>();
    for (ZipEntry entry : entries) {
      String name = entry.getName();
      int at = name.indexOf(MARKER);
      if (at >= 0 && name.endsWith(".so")
          && name.indexOf('/', at + MARKER.length()) == name.lastIndexOf('/')) {
        libraries.add(name);
      }
    }
    if (libraries.size() != 1) {
      throw new ModelLoadException("model '" + modelId + "': AOTInductor package " + file
          + " should hold one model library (" + MARKER + "<model>/<name>.so) but holds "
          + (libraries.isEmpty() ? "none" : libraries.size() + ": " + libraries)
          + "; make it with torch._inductor.aoti_compile_and_package (scripts/gpu/make_aoti.py)");
    }
    return libraries.get(0);
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
