package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Fixtures;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Signature;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * AOTInductor packages on the CPU without a compiled model: what counts as a package, extraction
 * (once per content, atomic, repaired when damaged, safe against hostile entry names and against
 * concurrent extractions), and the clear failure of a library libtorch cannot open.
 */
final class AotiPackageTest {
  private static final String LIB = "m/data/aotinductor/model/abc.wrapper.so";
  private static final byte[] LIB_BYTES = bytes(70_000, 3);
  private static final byte[] CUBIN_BYTES = bytes(5_000, 7);

  @TempDir Path dir;
  private String aotiDirBefore;

  /** Packages loaded through Nos.load extract under this test's folder. */
  @BeforeEach
  void extractUnderTheTestsFolder() {
    aotiDirBefore = System.getProperty("nos.aoti.dir");
    System.setProperty("nos.aoti.dir", dir.resolve("cache").toString());
  }

  @AfterEach
  void restoreTheExtractionFolder() {
    if (aotiDirBefore == null) {
      System.clearProperty("nos.aoti.dir");
    } else {
      System.setProperty("nos.aoti.dir", aotiDirBefore);
    }
  }

  @Test
  void isPackage_onlyForZipsWithAnAotinductorFolder() throws IOException {
    assertTrue(AotiPackage.isPackage(pkg("a.pt2", standard())));
    assertFalse(AotiPackage.isPackage(Fixtures.fixture("identity.pt")), "TorchScript is a zip too");
    assertFalse(AotiPackage.isPackage(pkg("b.pt2", Map.of("archive/data.pkl", new byte[3]))));
    Path text = Files.writeString(dir.resolve("c.pt2"), "PK but not a zip");
    assertFalse(AotiPackage.isPackage(text));
    assertFalse(AotiPackage.isPackage(dir.resolve("missing.pt2")));
  }

  @Test
  void extract_onceIntoAFolderNamedByContent_thenReused() throws IOException {
    Path file = pkg("a.pt2", standard());
    Path root = dir.resolve("root");
    Path so = AotiPackage.extract("m", file, "sha-a", root).get(0);
    assertEquals(root.resolve("sha-a").resolve(LIB), so);
    assertArrayEquals(LIB_BYTES, Files.readAllBytes(so));
    assertArrayEquals(CUBIN_BYTES, Files.readAllBytes(so.resolveSibling("k.cubin")));
    Path marker = Files.writeString(root.resolve("sha-a/untouched"), "x");
    assertEquals(so, AotiPackage.extract("m", file, "sha-a", root).get(0));
    assertTrue(Files.exists(marker), "a complete folder is reused, not rewritten");
    assertEquals(List.of("sha-a"), names(root), "no temporary folders left");
  }

  /** A byte of the library flipped inside the archive (stored, so its data is plain). */
  @Test
  void extract_entryWhoseBytesFailTheirCrc_refusedAndNothingKept() throws IOException {
    Path file = dir.resolve("crc.pt2");
    try (OutputStream out = Files.newOutputStream(file);
        ZipOutputStream zip = new ZipOutputStream(out)) {
      for (var e : standard().entrySet()) {
        ZipEntry entry = new ZipEntry(e.getKey());
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(e.getValue().length);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(e.getValue());
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(e.getValue());
        zip.closeEntry();
      }
    }
    byte[] zipped = Files.readAllBytes(file);
    int at = indexOf(zipped, java.util.Arrays.copyOfRange(LIB_BYTES, 1000, 1032)) + 7;
    Files.write(file, patched(zipped, at, zipped[at] ^ 0x40));
    Path root = dir.resolve("root");
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> AotiPackage.extract("m", file, "sha-crc", root));
    assertTrue(e.getMessage().contains("'" + LIB + "' is damaged"), e.getMessage());
    assertTrue(e.getMessage().contains("model 'm'"), e.getMessage());
    assertTrue(!Files.exists(root) || names(root).isEmpty(), "nothing kept");
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("not found");
  }

  @Test
  void extract_damagedFolder_isReplaced() throws IOException {
    Path file = pkg("a.pt2", standard());
    Path root = dir.resolve("root");
    Path so = AotiPackage.extract("m", file, "sha-a", root).get(0);
    Files.write(so, new byte[10]);
    Files.delete(so.resolveSibling("k.cubin"));
    assertEquals(so, AotiPackage.extract("m", file, "sha-a", root).get(0));
    assertArrayEquals(LIB_BYTES, Files.readAllBytes(so));
    assertArrayEquals(CUBIN_BYTES, Files.readAllBytes(so.resolveSibling("k.cubin")));
    assertEquals(List.of("sha-a"), names(root));
  }

  /**
   * A same-size edit of an extracted file (the library's code patched in place) is found by its
   * content and the folder is extracted again: sizes alone would reuse it.
   */
  @Test
  void extract_sameSizeEditOfAnExtractedFile_isFoundAndReplaced() throws IOException {
    Path file = pkg("a.pt2", standard());
    Path root = dir.resolve("root");
    Path so = AotiPackage.extract("m", file, "sha-a", root).get(0);
    byte[] patched = LIB_BYTES.clone();
    patched[patched.length / 2] ^= 0x5a;
    Files.write(so, patched);
    assertEquals(so, AotiPackage.extract("m", file, "sha-a", root).get(0));
    assertArrayEquals(LIB_BYTES, Files.readAllBytes(so), "the patched library was replaced");
    byte[] cubin = CUBIN_BYTES.clone();
    cubin[0] ^= 1;
    Files.write(so.resolveSibling("k.cubin"), cubin);
    AotiPackage.extract("m", file, "sha-a", root);
    assertArrayEquals(CUBIN_BYTES, Files.readAllBytes(so.resolveSibling("k.cubin")));
    assertEquals(List.of("sha-a"), names(root));
  }

  /**
   * A small package that would expand a thousandfold (a zip bomb: 64 MiB of zeros, about 64 KiB
   * deflated) is refused while it is being extracted, and nothing it wrote is kept.
   */
  @Test
  void extract_zipBomb_refusedAndNothingKept() throws IOException {
    Path file = dir.resolve("bomb.pt2");
    try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(file))) {
      zip.putNextEntry(new ZipEntry(LIB));
      byte[] zeros = new byte[1 << 20];
      for (int i = 0; i < 64; i++) {
        zip.write(zeros);
      }
      zip.closeEntry();
    }
    assertTrue(Files.size(file) < 1 << 20, Files.size(file) + " bytes");
    Path root = dir.resolve("root");
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> AotiPackage.extract("m", file, "sha-bomb", root));
    assertTrue(e.getMessage().contains(LIB) && e.getMessage().contains("times"), e.getMessage());
    assertFalse(Files.exists(root), "refused on its declared size, before anything was written");
  }

  /**
   * A bomb whose central directory lies about the size (1000 bytes declared, 8 MiB of zeros
   * inside) is stopped by the bytes actually written, at the 1 MiB a 8 KiB entry may expand to,
   * and its temporary folder is deleted.
   */
  @Test
  void extract_zipBombLyingAboutItsSize_stoppedWhileWritingAndNothingKept() throws IOException {
    Path file = dir.resolve("liar.pt2");
    try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(file))) {
      zip.putNextEntry(new ZipEntry(LIB));
      zip.write(new byte[8 << 20]);
      zip.closeEntry();
    }
    byte[] b = Files.readAllBytes(file);
    java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    int cen = -1;
    for (int i = b.length - 22; i >= 0 && cen < 0; i--) {
      if (bb.getInt(i) == 0x02014b50) {
        cen = i;
      }
    }
    assertTrue(cen > 0, "central directory found");
    bb.putInt(cen + 24, 1000);
    Files.write(file, b);
    Path root = dir.resolve("root");
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> AotiPackage.extract("m", file, "sha-liar", root));
    assertTrue(e.getMessage().contains(LIB) && e.getMessage().contains("expand to more than"),
        e.getMessage());
    assertEquals(List.of(), names(root), "the temporary folder was deleted");
  }

  /** The caps on an entry's and a package's bytes hold for a package that is not compressed. */
  @Test
  void extract_entryOrPackageOverTheCaps_refused() throws IOException {
    Path file = pkg("a.pt2", standard());
    var entry = assertThrows(ModelLoadException.class, () -> AotiPackage.extract("m", file, file,
        "s1", dir.resolve("r1"), new AotiPackage.Limits(60_000, 1L << 30, 100)));
    assertTrue(entry.getMessage().contains("'" + LIB + "'")
        && entry.getMessage().contains("declare 70000 bytes"), entry.getMessage());
    var total = assertThrows(ModelLoadException.class, () -> AotiPackage.extract("m", file, file,
        "s2", dir.resolve("r2"), new AotiPackage.Limits(1L << 30, 74_000, 100)));
    assertTrue(total.getMessage().contains("its entries together declare 75001 bytes"),
        total.getMessage());
    assertEquals(LIB_BYTES.length, Files.size(AotiPackage.extract("m", file, file, "s3",
        dir.resolve("r3"), new AotiPackage.Limits(70_000, 75_001, 1)).get(0)));
  }

  @Test
  void extract_hostileEntryName_refusedBeforeAnythingIsWritten() throws IOException {
    for (String bad : List.of("../evil.so", "m/../../evil.so", "/abs/evil.so")) {
      Map<String, byte[]> entries = standard();
      entries.put(bad, new byte[] {1});
      Path file = pkg("bad.pt2", entries);
      Path root = dir.resolve("root-" + Math.abs(bad.hashCode()));
      ModelLoadException e = assertThrows(ModelLoadException.class,
          () -> AotiPackage.extract("m", file, "sha", root));
      assertTrue(e.getMessage().contains("'" + bad + "'") && e.getMessage().contains("outside"),
          e.getMessage());
      assertFalse(Files.exists(root), bad + ": nothing written");
      try (Stream<Path> s = Files.walk(dir)) {
        assertTrue(s.noneMatch(p -> p.getFileName().toString().equals("evil.so")), bad);
      }
    }
  }

  /**
   * A NUL in an entry's name (valid UTF-8 in a zip, no file name anywhere) is refused like any
   * other hostile name: a ModelLoadException naming the model and the entry, nothing written.
   */
  @Test
  void extract_entryNameWithNul_refusedByName() throws IOException {
    Map<String, byte[]> entries = standard();
    entries.put("m/evil\0.so", new byte[] {1});
    Path file = pkg("nul.pt2", entries);
    Path root = dir.resolve("root-nul");
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> AotiPackage.extract("m", file, "sha", root));
    assertTrue(e.getMessage().startsWith("model 'm': ") && e.getMessage().contains("m/evil")
        && e.getMessage().contains(file.toString()), e.getMessage());
    assertFalse(Files.exists(root), "nothing written");
    ModelLoadException load = assertThrows(ModelLoadException.class,
        () -> Nos.load(cpuSpec("nul", file)));
    assertTrue(load.getMessage().contains("'nul'"), load.getMessage());
  }

  /**
   * An extracted folder whose files are reached through a link (a folder inside it, or the
   * folder itself, swapped for a link to a copy elsewhere) is not reused even when every byte
   * matches: whoever can write where the link leads could change the library between the
   * comparison and the loader mapping it. It is extracted again, and the library returned lies
   * under the root.
   */
  @Test
  void extract_folderReachedThroughALink_isExtractedAgain() throws IOException {
    Path file = pkg("a.pt2", standard());
    Path root = dir.resolve("root");
    Path so = AotiPackage.extract("m", file, "sha-a", root).get(0);
    Path elsewhere = Files.createDirectory(dir.resolve("elsewhere"));
    extractedAgainOverALink(file, root, so, root.resolve("sha-a/m/data"), elsewhere);
    extractedAgainOverALink(file, root, so, root.resolve("sha-a"), elsewhere);
    assertEquals(List.of("sha-a"), names(root));
  }

  /**
   * Moves {@code folder} of the extraction to {@code elsewhere}, leaves a link in its place, and
   * checks that the next extraction replaced the link with a real folder holding the library.
   */
  private static void extractedAgainOverALink(Path file, Path root, Path so, Path folder,
      Path elsewhere) throws IOException {
    Path moved = elsewhere.resolve(folder.getFileName());
    Files.move(folder, moved);
    Files.createSymbolicLink(folder, moved);
    assertEquals(so, AotiPackage.extract("m", file, "sha-a", root).get(0));
    assertFalse(Files.isSymbolicLink(folder), "the linked folder " + folder + " was replaced");
    assertTrue(so.toRealPath().startsWith(root.toRealPath()), so.toRealPath().toString());
    assertArrayEquals(LIB_BYTES, Files.readAllBytes(so));
  }

  @Test
  void extract_noLibraryOrTwo_isRefusedWithWhatItHolds() throws IOException {
    Map<String, byte[]> none = new LinkedHashMap<>();
    none.put("m/data/aotinductor/model/meta.json", new byte[] {'{', '}'});
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> AotiPackage.extract("m", pkg("none.pt2", none), "s1", dir.resolve("r")));
    assertTrue(e.getMessage().contains("but holds none"), e.getMessage());
    Map<String, byte[]> two = standard();
    two.put("m/data/aotinductor/other/x.so", new byte[] {1});
    e = assertThrows(ModelLoadException.class,
        () -> AotiPackage.extract("m", pkg("two.pt2", two), "s2", dir.resolve("r")));
    assertTrue(e.getMessage().contains("holds 2"), e.getMessage());
  }

  @Test
  void extract_modelsNamedBatchSize_areTheLibrariesOfEachSize() throws IOException {
    Map<String, byte[]> entries = new LinkedHashMap<>();
    for (int size : new int[] {64, 1, 8}) {
      entries.put("m/data/aotinductor/batch_" + size + "/lib.so", new byte[] {(byte) size});
    }
    Path root = dir.resolve("root");
    var libraries = AotiPackage.extract("m", pkg("buckets.pt2", entries), "sha-b", root);
    assertEquals(List.of(1, 8, 64), List.copyOf(libraries.keySet()));
    for (var e : libraries.entrySet()) {
      assertEquals(root.resolve("sha-b/m/data/aotinductor/batch_" + e.getKey() + "/lib.so"),
          e.getValue());
      assertArrayEquals(new byte[] {(byte) (int) e.getKey()}, Files.readAllBytes(e.getValue()));
    }
    for (String bad : List.of("batch_0", "batch_x", "model", "batch_01", "batch_8")) {
      Map<String, byte[]> two = new LinkedHashMap<>();
      two.put("m/data/aotinductor/batch_8/lib.so", new byte[] {1});
      two.put("m/data/aotinductor/" + bad + "/other.so", new byte[] {2});
      ModelLoadException e = assertThrows(ModelLoadException.class,
          () -> AotiPackage.extract("m", pkg("bad-" + bad + ".pt2", two), "s-" + bad, root));
      assertTrue(e.getMessage().contains("named batch_<size> with distinct sizes"),
          bad + ": " + e.getMessage());
    }
  }

  @Test
  void extract_concurrentlyFromEightThreads_oneCompleteCopy() throws Exception {
    Path file = pkg("a.pt2", standard());
    Path root = dir.resolve("root");
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      for (int round = 0; round < 10; round++) {
        String sha = "sha-" + round;
        List<Future<Path>> futures = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          futures.add(pool.submit(() -> AotiPackage.extract("m", file, sha, root).get(0)));
        }
        for (Future<Path> f : futures) {
          Path so = f.get();
          assertEquals(root.resolve(sha).resolve(LIB), so);
          assertArrayEquals(LIB_BYTES, Files.readAllBytes(so));
        }
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(10, names(root).size(), "one folder per content, no temporary ones: "
        + names(root));
  }

  /**
   * A real shared library (the JDK's libzip) cut short, or altered in its ELF header, is refused
   * before the dynamic loader maps it: {@code dlopen} of a truncated library crashed the JVM
   * (SIGBUS). Whole, it is opened and refused by libtorch for lacking the AOTInductor entry
   * points: a ModelLoadException either way, and the JVM lives.
   */
  @Test
  void load_truncatedOrForeignLibrary_refusedBeforeTheLoaderMapsIt() throws IOException {
    Path libzip = Path.of(System.getProperty("java.home"), "lib", "libzip.so");
    assertTrue(Files.isRegularFile(libzip), libzip + " (every Linux JDK has it)");
    byte[] whole = Files.readAllBytes(libzip);
    Map<String, String> cases = new LinkedHashMap<>();
    cases.put("whole", "undefined symbol");
    for (int percent : new int[] {90, 60, 30, 5}) {
      cases.put("cut to " + percent + "%", "is not a complete shared library");
    }
    cases.put("header only", "is not a complete shared library");
    cases.put("32-bit class", "not a 64-bit little-endian ELF file");
    cases.put("not a library", "not a shared library");
    cases.put("other machine", "built for ELF machine 40");
    cases.put("no magic", "ELF magic");
    int n = 0;
    for (var c : cases.entrySet()) {
      byte[] b = switch (c.getKey()) {
        case "whole" -> whole;
        case "header only" -> java.util.Arrays.copyOf(whole, 64);
        case "32-bit class" -> patched(whole, 4, 1);
        case "not a library" -> patched(whole, 16, 2);
        case "other machine" -> patched(whole, 18, 40);
        case "no magic" -> patched(whole, 1, 'X');
        default -> java.util.Arrays.copyOf(whole, whole.length
            * Integer.parseInt(c.getKey().replaceAll("\\D", "")) / 100);
      };
      Map<String, byte[]> entries = new LinkedHashMap<>();
      entries.put(LIB, b);
      Path file = pkg("lib" + n++ + ".pt2", entries);
      ModelSpec spec = cpuSpec("elf-" + n, file);
      ModelLoadException e = assertThrows(ModelLoadException.class, () -> Nos.load(spec),
          c.getKey());
      assertTrue(e.getMessage().contains(c.getValue()), c.getKey() + ": " + e.getMessage());
    }
  }

  private static byte[] patched(byte[] bytes, int at, int value) {
    byte[] copy = bytes.clone();
    copy[at] = (byte) value;
    return copy;
  }

  /**
   * Mutated packages (bytes flipped, cut short, entries' bytes replaced; seeded) either load
   * nothing and fail with a ModelLoadException naming the model, or are not packages at all
   * and fail as TorchScript would: nothing else, and the JVM lives.
   */
  @Test
  void mutatedPackages_onlyEverFailWithModelLoadException() throws IOException {
    byte[] valid = Files.readAllBytes(pkg("valid.pt2", standard()));
    Random random = new Random(20261127);
    int refused = 0;
    Map<String, Integer> kinds = new java.util.TreeMap<>();
    for (int i = 0; i < 200; i++) {
      byte[] b = valid.clone();
      switch (i % 3) {
        case 0 -> {
          for (int k = 0; k < 1 + random.nextInt(8); k++) {
            b[random.nextInt(b.length)] ^= (byte) (1 + random.nextInt(255));
          }
        }
        case 1 -> b = java.util.Arrays.copyOf(b, random.nextInt(b.length));
        default -> {
          int at = random.nextInt(b.length - 16);
          for (int k = 0; k < 16; k++) {
            b[at + k] = (byte) random.nextInt(256);
          }
        }
      }
      Path file = Files.write(dir.resolve("mutant" + i + ".pt2"), b);
      ModelSpec spec = cpuSpec("mutant-" + i, file);
      ModelLoadException e = assertThrows(ModelLoadException.class, () -> Nos.load(spec),
          "mutant " + i);
      assertTrue(e.getMessage().contains("'mutant-" + i + "'"), e.getMessage());
      String m = e.getMessage();
      kinds.merge(m.contains("is not a TorchScript model") ? "read as TorchScript, refused"
          : m.contains("cannot extract") ? "zip unreadable" : m.contains("shared library")
          ? "library not whole ELF" : m.contains("model library") ? "no library" : "other",
          1, Integer::sum);
      refused++;
    }
    System.out.println("AotiPackageTest: 200 mutated packages, ModelLoadException each: "
        + kinds);
    assertEquals(200, refused);
  }

  /**
   * An entry comment that is not UTF-8 in the zip's directory: ZipFile checks names when it
   * opens an archive but decodes comments only when an entry is reached, with an
   * IllegalArgumentException ("malformed input off : 46, length : 1") that escaped isPackage and
   * extract, and so Nos.load, naming neither model nor file.
   */
  @Test
  void entryCommentNotUtf8_isNoPackage_andExtractNamesModelAndFile() throws IOException {
    Path file = dir.resolve("bad-comment.pt2");
    try (OutputStream out = Files.newOutputStream(file);
        ZipOutputStream zip = new ZipOutputStream(out)) {
      ZipEntry version = new ZipEntry("m/version");
      version.setComment("C");
      zip.putNextEntry(version);
      zip.write('1');
      zip.closeEntry();
      zip.putNextEntry(new ZipEntry(LIB));
      zip.write(LIB_BYTES);
      zip.closeEntry();
    }
    byte[] bytes = Files.readAllBytes(file);
    byte[] directory = {'P', 'K', 1, 2};
    int at = -1;
    for (int i = 0; i + 4 <= bytes.length && at < 0; i++) {
      if (java.util.Arrays.equals(bytes, i, i + 4, directory, 0, 4)) {
        at = i;
      }
    }
    int comment = at + 46 + "m/version".length(); // after the fixed fields and the name
    assertEquals('C', bytes[comment]);
    Files.write(file, patched(bytes, comment, 0xFF));
    assertFalse(AotiPackage.isPackage(file));
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> AotiPackage.extract("m", file, "sha-utf8", dir.resolve("r")));
    assertTrue(e.getMessage().contains("model 'm'") && e.getMessage().contains(file.toString())
        && e.getMessage().contains("not valid UTF-8"), e.getMessage());
    ModelLoadException load = assertThrows(ModelLoadException.class,
        () -> Nos.load(cpuSpec("bad-comment", file)));
    assertTrue(load.getMessage().contains("'bad-comment'"), load.getMessage());
  }

  /** A dynamic dimension after the batch is refused before libtorch opens anything. */
  @Test
  void load_dynamicNonBatchDimension_isRefusedByName() throws IOException {
    Path file = pkg("dyn.pt2", standard());
    ModelSpec spec = ModelSpec.builder().id("dyn-aoti").artifact(file)
        .signature(Signature.builder().input("ids", DType.INT64, -1, -1)
            .output("y", DType.FLOAT32, -1, 4).build()).device("cpu").build();
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> Nos.load(spec));
    assertTrue(e.getMessage().contains("input 'ids' has shape [-1, -1]")
        && e.getMessage().contains("every dimension after the batch"), e.getMessage());
  }

  /** A CPU spec over {@code file} with a float32 {@code [batch, 4]} input and output. */
  private static ModelSpec cpuSpec(String id, Path file) {
    return ModelSpec.builder().id(id).artifact(file)
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 4)
            .output("y", DType.FLOAT32, -1, 4).build()).device("cpu").build();
  }

  private Map<String, byte[]> standard() {
    Map<String, byte[]> entries = new LinkedHashMap<>();
    entries.put("m/version", "1".getBytes());
    entries.put(LIB, LIB_BYTES);
    entries.put("m/data/aotinductor/model/k.cubin", CUBIN_BYTES);
    return entries;
  }

  private Path pkg(String name, Map<String, byte[]> entries) throws IOException {
    Path file = dir.resolve(name);
    try (OutputStream out = Files.newOutputStream(file);
        ZipOutputStream zip = new ZipOutputStream(out)) {
      for (var e : entries.entrySet()) {
        zip.putNextEntry(new ZipEntry(e.getKey()));
        zip.write(e.getValue());
        zip.closeEntry();
      }
    }
    return file;
  }

  private static List<String> names(Path root) throws IOException {
    try (Stream<Path> s = Files.list(root)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static byte[] bytes(int n, int seed) {
    byte[] b = new byte[n];
    new java.util.Random(seed).nextBytes(b);
    return b;
  }
}
