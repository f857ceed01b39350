package ai.nos.internal.torch;

import ai.nos.ModelLoadException;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
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
 * succeed and one copy wins. A folder found under the final name is used only after each of its
 * files is compared, byte for byte, with the package's entry (the package being the load's
 * verified copy, {@link VerifiedArtifact}); one that differs in any byte (edited, even at the
 * same size, or truncated since) is extracted again. A manifest of digests beside the files would
 * not do: whoever can edit the library can edit the manifest. Comparing reads the package and the
 * folder once each, about what extracting again costs, and spares the disk writes. Folders NOS
 * creates are {@code rwx------}. Between the comparison and the loader mapping the library, only
 * this user could change it: a folder whose files are reached through a link is not reused.
 * Entry names that would land outside the folder ({@code ..}, absolute paths) or are no file
 * name (a NUL) are refused before anything is written.
 *
 * <h2>Limits</h2>
 * A small archive can expand to a huge folder (a zip bomb: 2 MB that extracted 2 GiB before
 * anything failed). {@link Limits#DEFAULT}: an entry may expand to at most {@value #MAX_RATIO}
 * times its compressed bytes (1 MiB always allowed) and 64 GiB; the whole package to at most
 * {@value #MAX_RATIO} times its file size (1 MiB always allowed) and 128 GiB. The sizes the
 * archive declares are checked before anything is written and the bytes actually written while
 * extracting. The packages {@code torch._inductor} writes are stored uncompressed (ratio 1). On
 * any failure the temporary folder is deleted.
 *
 * <p>Files are read and written with plain streams, which a thread's interrupt flag does not
 * close (NIO channels it does: a load on an interrupted thread failed as a broken library).
 */
final class AotiPackage {
  /** The folder under each archive that marks an AOTInductor package. */
  static final String MARKER = "data/aotinductor/";

  /** The key of a package's one library, which takes any batch its export allowed. */
  static final int ANY_BATCH = 0;

  private static final java.util.regex.Pattern BUCKET =
      java.util.regex.Pattern.compile("batch_([1-9][0-9]*)");

  /** How many times its compressed size an entry, and its file size a package, may expand. */
  static final int MAX_RATIO = 100;

  /** Caps on what extracting one package may write; see the class comment. */
  record Limits(long maxEntryBytes, long maxTotalBytes, int maxRatio) {
    static final Limits DEFAULT = new Limits(64L << 30, 128L << 30, MAX_RATIO);
    /** Bytes always allowed regardless of the ratio: small files compress well. */
    static final long RATIO_FLOOR = 1 << 20;

    long entryCap(ZipEntry entry) {
      return Math.min(maxEntryBytes, ratioCap(entry.getCompressedSize()));
    }

    long totalCap(long packageBytes) {
      return Math.min(maxTotalBytes, ratioCap(packageBytes));
    }

    private long ratioCap(long compressed) {
      long c = Math.max(compressed, 0);
      return c > Long.MAX_VALUE / maxRatio ? Long.MAX_VALUE
          : Math.max(RATIO_FLOOR, c * maxRatio);
    }
  }

  private AotiPackage() {}

  /**
   * Where packages are extracted: the documented override {@code nos.aoti.dir}, else
   * {@code aoti/} under the default runtime's cache root (one rule for every NOS cache).
   */
  static Path defaultRoot() {
    String configured = System.getProperty("nos.aoti.dir");
    return configured != null ? Path.of(configured)
        : ai.nos.NosRuntime.defaultRuntime().cacheRoot().resolve("aoti");
  }

  /**
   * Whether {@code file} is an AOTInductor package: a zip archive with a {@code data/aotinductor/}
   * folder. Any other file (TorchScript, not a zip at all, a zip that Java cannot read: an entry
   * name that is not valid UTF-8) is not.
   */
  static boolean isPackage(Path file) {
    byte[] magic = new byte[4];
    try (InputStream in = new FileInputStream(file.toFile())) {
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
    } catch (IOException | IllegalArgumentException e) {
      // ZipFile decodes a name when its entry is reached: bad UTF-8 is an IllegalArgumentException.
      return false;
    }
  }

  /**
   * Extracts the package (once per content) and returns its model libraries by the batch size
   * each was compiled for: one library under the key {@link #ANY_BATCH}, or one per
   * {@code batch_<size>} model.
   *
   * @param file the package to read: the load's verified copy
   * @param origin the artifact's file, which messages name
   * @param sha256 the package's sha256, which names its folder under {@code root}
   * @throws ModelLoadException if the package cannot be read, holds an entry that would land
   *     outside its folder, holds no model library, several not named {@code batch_<size>},
   *     expands beyond {@code limits}, or cannot be written under root
   */
  static SortedMap<Integer, Path> extract(String modelId, Path file, Path origin, String sha256,
      Path root, Limits limits) {
    Path target = root.resolve(sha256);
    try (ZipFile zip = new ZipFile(file.toFile())) {
      List<ZipEntry> entries = entries(modelId, origin, zip);
      SortedMap<Integer, String> libraries = libraries(modelId, origin, entries);
      if (!matches(zip, target, entries)) {
        checkDeclaredSizes(modelId, origin, entries, limits, Files.size(file));
        createPrivateDirectories(root);
        Path tmp = Files.createTempDirectory(root, sha256 + ".tmp-");
        try {
          long total = 0;
          long totalCap = limits.totalCap(Files.size(file));
          for (ZipEntry entry : entries) {
            Path out = tmp.resolve(entry.getName());
            Files.createDirectories(out.getParent());
            total += copy(modelId, origin, zip, entry, out, limits, totalCap - total);
          }
          install(zip, tmp, target, entries);
        } finally {
          deleteQuietly(tmp);
        }
      }
      SortedMap<Integer, Path> paths = new TreeMap<>();
      libraries.forEach((batch, entry) -> paths.put(batch, target.resolve(entry)));
      return paths;
    } catch (IOException | UncheckedIOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot extract the AOTInductor"
          + " package " + origin + " under " + root + ": " + e, e);
    }
  }

  /** {@link #extract} of a package that is its own origin, with the default limits. */
  static SortedMap<Integer, Path> extract(String modelId, Path file, String sha256, Path root) {
    return extract(modelId, file, file, sha256, root, Limits.DEFAULT);
  }

  /** Refuses, before anything is written, a package whose declared sizes exceed the limits. */
  private static void checkDeclaredSizes(String modelId, Path origin, List<ZipEntry> entries,
      Limits limits, long packageBytes) {
    long total = 0;
    for (ZipEntry entry : entries) {
      long size = Math.max(entry.getSize(), 0);
      if (size > limits.entryCap(entry)) {
        throw tooLarge(modelId, origin, entry, size, limits.entryCap(entry), true, limits);
      }
      total = size > Long.MAX_VALUE - total ? Long.MAX_VALUE : total + size;
    }
    if (total > limits.totalCap(packageBytes)) {
      throw tooLarge(modelId, origin, null, total, limits.totalCap(packageBytes), true, limits);
    }
  }

  /**
   * Writes one entry to {@code out}, counting the bytes as they come: the sizes an archive
   * declares can lie. Returns the bytes written.
   */
  private static long copy(String modelId, Path origin, ZipFile zip, ZipEntry entry, Path out,
      Limits limits, long totalLeft) throws IOException {
    long entryCap = limits.entryCap(entry);
    long written = 0;
    byte[] buf = new byte[1 << 16];
    // ZipFile checks no entry's CRC-32 when it is read (ZipInputStream would): a package whose
    // library or kernel bytes were damaged would extract, and be loaded, as if whole.
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    try (InputStream in = zip.getInputStream(entry);
        OutputStream o = new FileOutputStream(out.toFile())) {
      for (int n; (n = in.read(buf)) > 0; ) {
        written += n;
        if (written > entryCap) {
          throw tooLarge(modelId, origin, entry, written, entryCap, false, limits);
        }
        if (written > totalLeft) {
          throw tooLarge(modelId, origin, null, written, totalLeft, false, limits);
        }
        crc.update(buf, 0, n);
        o.write(buf, 0, n);
      }
    }
    if ((entry.getCrc() != -1 && crc.getValue() != entry.getCrc())
        || (entry.getSize() >= 0 && written != entry.getSize())) {
      throw new ModelLoadException("model '" + modelId + "': AOTInductor package " + origin
          + ": entry '" + entry.getName() + "' is damaged: its " + written + " bytes have CRC-32 "
          + Long.toHexString(crc.getValue()) + ", the archive declares " + entry.getSize()
          + " bytes with CRC-32 " + Long.toHexString(entry.getCrc()) + ". Nothing was kept");
    }
    return written;
  }

  private static ModelLoadException tooLarge(String modelId, Path origin, ZipEntry entry,
      long bytes, long cap, boolean declared, Limits limits) {
    String what = entry == null ? "its entries together" : "entry '" + entry.getName() + "' ("
        + entry.getCompressedSize() + " compressed bytes)";
    return new ModelLoadException("model '" + modelId + "': AOTInductor package " + origin + ": "
        + what + (declared ? " declare " + bytes + " bytes" : " expand to more than " + bytes
        + " bytes") + " but at most " + cap + " are allowed (" + limits.maxRatio()
        + " times the compressed size, " + limits.maxEntryBytes() + " bytes an entry, "
        + limits.maxTotalBytes() + " a package); a zip bomb or a damaged package? Nothing was"
        + " kept");
  }

  /** The package's file entries, each checked to stay inside the folder it is extracted to. */
  private static List<ZipEntry> entries(String modelId, Path file, ZipFile zip) {
    List<ZipEntry> files = new ArrayList<>();
    Path base = Path.of("/nos-aoti-check");
    int index = 0;
    for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); index++) {
      ZipEntry entry;
      try {
        entry = e.nextElement();
      } catch (IllegalArgumentException malformed) {
        // ZipFile decodes each name (and comment) when its entry is reached.
        throw new ModelLoadException("model '" + modelId + "': AOTInductor package " + file
            + " has an entry (number " + index + " in its directory) whose name or comment is"
            + " not valid UTF-8 (" + malformed.getMessage() + "); nothing was extracted",
            malformed);
      }
      String name = entry.getName();
      Path resolved;
      try {
        resolved = base.resolve(name).normalize();
      } catch (java.nio.file.InvalidPathException invalid) {
        throw new ModelLoadException("model '" + modelId + "': AOTInductor package " + file
            + " has an entry named '" + printable(name) + "', which is not a valid file name ("
            + invalid.getReason() + "); nothing was extracted");
      }
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

  /** A name with its control characters (a NUL) written as Java escapes, for a message. */
  private static String printable(String name) {
    StringBuilder s = new StringBuilder();
    name.chars().forEach(c -> s.append(Character.isISOControl(c)
        ? String.format("\\u%04x", c) : String.valueOf((char) c)));
    return s.toString();
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

  /**
   * Whether {@code dir} holds every entry with its exact bytes, each file reached without a link
   * (the folder itself, a folder inside it, or the file): what lies beyond a link may be writable
   * by others, who could change it between the comparison and the loader mapping it.
   */
  private static boolean matches(ZipFile zip, Path dir, List<ZipEntry> entries)
      throws IOException {
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return false;
    }
    Path real = dir.getParent().toRealPath().resolve(dir.getFileName());
    byte[] a = new byte[1 << 16];
    byte[] b = new byte[1 << 16];
    for (ZipEntry entry : entries) {
      Path f = dir.resolve(entry.getName());
      if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)
          || !f.toRealPath().equals(real.resolve(entry.getName()).normalize())
          || (entry.getSize() >= 0 && Files.size(f) != entry.getSize())) {
        return false;
      }
      try (InputStream expected = zip.getInputStream(entry);
          InputStream actual = new FileInputStream(f.toFile())) {
        for (;;) {
          int n = expected.readNBytes(a, 0, a.length);
          int m = actual.readNBytes(b, 0, n == 0 ? 1 : n);
          if (n != m || !Arrays.equals(a, 0, n, b, 0, m)) {
            return false;
          }
          if (n == 0) {
            break;
          }
        }
      }
    }
    return true;
  }

  /** Creates {@code dir} and missing parents as {@code rwx------} where the file system can. */
  private static void createPrivateDirectories(Path dir) throws IOException {
    try {
      Files.createDirectories(dir,
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    } catch (UnsupportedOperationException e) {
      Files.createDirectories(dir);
    }
  }

  /**
   * Moves the extracted {@code tmp} to {@code target} atomically. If another extraction put a
   * complete folder there first, that one stays; an incomplete one is moved aside and replaced.
   */
  private static void install(ZipFile zip, Path tmp, Path target, List<ZipEntry> entries)
      throws IOException {
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
        if (matches(zip, target, entries)) {
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

  /** Deletes {@code dir} as far as it can: a failure there must not hide the one that led here. */
  private static void deleteQuietly(Path dir) {
    try {
      deleteTree(dir);
    } catch (IOException | UncheckedIOException e) {
      // What is left is a temporary folder, never taken for an extraction.
    }
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
