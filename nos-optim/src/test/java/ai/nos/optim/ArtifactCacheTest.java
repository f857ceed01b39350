package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The cache on one thread: hits, misses, atomic publishing, corruption, invalidation, eviction. */
final class ArtifactCacheTest {

  @TempDir Path dir;
  ArtifactCache cache;
  final AtomicInteger builds = new AtomicInteger();

  @BeforeEach
  void open() {
    cache = ArtifactCache.builder().directory(dir).build();
  }

  /** Invariant of every test: no build leaves staging or trash behind. */
  @AfterEach
  void tmpIsEmpty() throws IOException {
    assertEquals(List.of(), list(cache.directory().resolve("tmp")));
  }

  static CacheKey key(String precision) {
    return CacheKeyTest.base().option("precision", precision).build();
  }

  /** A builder that counts its calls and writes {@code content}. */
  ArtifactBuilder writes(String content) {
    return target -> {
      builds.incrementAndGet();
      Files.writeString(target, content);
    };
  }

  @Test
  void getOrBuild_miss_buildsThenHits() throws IOException {
    Path first = cache.getOrBuild(key("fp16"), writes("engine"));
    Path second = cache.getOrBuild(key("fp16"), writes("other"));
    assertEquals(first, second);
    assertEquals(1, builds.get());
    assertEquals("engine", Files.readString(first));
    assertEquals(cache.directory().resolve("entries").resolve(key("fp16").hash())
        .resolve(ArtifactCache.ARTIFACT_FILE), first);
    assertEquals(first, cache.get(key("fp16")).orElseThrow());
  }

  @Test
  void getOrBuild_otherKey_buildsAnotherEntry() throws IOException {
    Path fp16 = cache.getOrBuild(key("fp16"), writes("half"));
    Path bf16 = cache.getOrBuild(key("bf16"), writes("brain"));
    assertNotEquals(fp16, bf16);
    assertEquals(2, builds.get());
    assertEquals("half", Files.readString(fp16));
    assertEquals("brain", Files.readString(bf16));
  }

  /**
   * A cache whose entries cannot be written (a read-only file system, another user's cache) still
   * serves them: the entry's last use simply is not recorded. Made here with chattr's immutable
   * flag on the sidecar, which stops even root from setting its time (skipped where the file
   * system or the tool lacks it).
   */
  @Test
  void getOrBuild_entryWhoseLastUseCannotBeWritten_isServedNotRebuilt() throws Exception {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    Path sidecar = artifact.resolveSibling(ArtifactCache.SIDECAR_FILE);
    org.junit.jupiter.api.Assumptions.assumeTrue(chattr("+i", sidecar),
        "chattr +i is not available here");
    try {
      org.junit.jupiter.api.Assumptions.assumeTrue(cannotSetTime(sidecar),
          "the immutable flag does not stop setting the time here");
      assertEquals(artifact, cache.getOrBuild(key("fp16"), writes("other")));
      assertEquals(artifact, cache.get(key("fp16")).orElseThrow());
      assertEquals(1, builds.get(), "served, not built again");
      assertEquals("engine", Files.readString(artifact));
    } finally {
      assertTrue(chattr("-i", sidecar), "could not clear the immutable flag of " + sidecar);
    }
  }

  private static boolean chattr(String flag, Path file) throws InterruptedException {
    try {
      Process p = new ProcessBuilder("chattr", flag, file.toString()).redirectErrorStream(true)
          .start();
      p.getInputStream().readAllBytes();
      return p.waitFor() == 0;
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean cannotSetTime(Path file) {
    try {
      Files.setLastModifiedTime(file, Files.getLastModifiedTime(file));
      return false;
    } catch (IOException e) {
      return true;
    }
  }

  @Test
  void get_absent_isEmpty() {
    assertTrue(cache.get(key("fp16")).isEmpty());
  }

  @Test
  void sidecar_recordsKeySizeAndDigest() throws IOException {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    JsonNode side = new ObjectMapper().readTree(
        artifact.resolveSibling(ArtifactCache.SIDECAR_FILE).toFile());
    assertEquals(Sidecar.FORMAT, side.get("format").asText());
    assertEquals(key("fp16").hash(), side.get("hash").asText());
    assertEquals("sm_90", side.get("key").get("deviceArch").asText());
    assertEquals("fp16", side.get("key").get("options").get("precision").asText());
    assertEquals("2.10.0", side.get("key").get("versions").get("libtorch").asText());
    assertEquals(6, side.get("size").asLong());
    assertEquals(CacheKey.sha256Of(artifact), side.get("sha256").asText());
  }

  @Test
  void getOrBuild_builderThrowsMidway_leavesNothingAndNamesTheKey() throws IOException {
    IOException boom = new IOException("disk full");
    var e = assertThrows(OptimizationException.class, () -> cache.getOrBuild(key("fp16"),
        target -> {
          Files.writeString(target, "half an eng");
          Files.writeString(target.resolveSibling("scratch"), "x");
          throw boom;
        }));
    assertSame(boom, e.getCause());
    assertTrue(e.getMessage().contains(key("fp16").toString()), e.getMessage());
    assertTrue(e.getMessage().contains("disk full"), e.getMessage());
    assertEquals(List.of(), list(cache.directory().resolve("entries")));
    assertTrue(cache.get(key("fp16")).isEmpty());
    assertEquals("engine", Files.readString(cache.getOrBuild(key("fp16"), writes("engine"))));
  }

  @Test
  void getOrBuild_builderThrowsUnchecked_isWrapped() {
    var e = assertThrows(OptimizationException.class, () -> cache.getOrBuild(key("fp16"),
        target -> {
          throw new IllegalStateException("unsupported op");
        }));
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertEquals(List.of(), list(cache.directory().resolve("entries")));
  }

  @Test
  void getOrBuild_builderWritesNothing_fails() {
    var e = assertThrows(OptimizationException.class,
        () -> cache.getOrBuild(key("fp16"), target -> { }));
    assertTrue(e.getMessage().contains("without writing a regular file"), e.getMessage());
    assertEquals(List.of(), list(cache.directory().resolve("entries")));
  }

  @Test
  void getOrBuild_builderWritesExtraFiles_publishesOnlyTheArtifact() {
    Path artifact = cache.getOrBuild(key("fp16"), target -> {
      Files.writeString(target.resolveSibling("log.txt"), "noise");
      Files.writeString(target, "engine");
    });
    assertEquals(List.of(ArtifactCache.ARTIFACT_FILE, ArtifactCache.SIDECAR_FILE),
        list(artifact.getParent()));
  }

  @Test
  void getOrBuild_flippedByte_rebuildsWithOneWarning() throws IOException {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    byte[] bytes = Files.readAllBytes(artifact);
    bytes[2] ^= 1;
    Files.write(artifact, bytes);
    String log = stderrOf(() -> assertEquals("engine",
        Files.readString(cache.getOrBuild(key("fp16"), writes("engine")))));
    assertEquals(2, builds.get());
    List<String> warnings = log.lines().filter(l -> l.contains("WARN")).collect(
        Collectors.toList());
    assertEquals(1, warnings.size(), log);
    assertTrue(warnings.get(0).contains(key("fp16").hash())
        && warnings.get(0).contains("SHA-256"), warnings.get(0));
  }

  @Test
  void getOrBuild_truncatedArtifact_rebuilds() throws IOException {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    Files.writeString(artifact, "eng");
    cache.getOrBuild(key("fp16"), writes("engine"));
    assertEquals(2, builds.get());
    assertEquals("engine", Files.readString(artifact));
  }

  @Test
  void getOrBuild_truncatedSidecar_rebuilds() throws IOException {
    Path sidecar = cache.getOrBuild(key("fp16"), writes("engine"))
        .resolveSibling(ArtifactCache.SIDECAR_FILE);
    String json = Files.readString(sidecar);
    Files.writeString(sidecar, json.substring(0, json.length() / 2));
    cache.getOrBuild(key("fp16"), writes("engine"));
    assertEquals(2, builds.get());
    assertEquals(json.replaceAll("\"created\" : \"[^\"]*\"", ""),
        Files.readString(sidecar).replaceAll("\"created\" : \"[^\"]*\"", ""));
  }

  @Test
  void getOrBuild_sidecarKeyWithAnExtraFieldOrADuplicate_rebuilds() throws IOException {
    Path sidecar = cache.getOrBuild(key("fp16"), writes("engine"))
        .resolveSibling(ArtifactCache.SIDECAR_FILE);
    String json = Files.readString(sidecar);
    // the key's object must be exactly the key's: one field more is another key
    Files.writeString(sidecar,
        json.replace("\"deviceArch\" :", "\"extra\" : \"x\", \"deviceArch\" :"));
    cache.getOrBuild(key("fp16"), writes("engine"));
    assertEquals(2, builds.get());
    // a duplicate field is damage, not a choice between two values
    json = Files.readString(sidecar);
    Files.writeString(sidecar,
        json.replace("\"format\" :", "\"format\" : \"x\", \"format\" :"));
    cache.getOrBuild(key("fp16"), writes("engine"));
    assertEquals(3, builds.get());
  }

  @Test
  void getOrBuild_sidecarOfAnotherKey_rebuilds() throws IOException {
    Path fp16 = cache.getOrBuild(key("fp16"), writes("engine"));
    Path bf16 = cache.getOrBuild(key("bf16"), writes("engine"));
    Files.copy(bf16.resolveSibling(ArtifactCache.SIDECAR_FILE),
        fp16.resolveSibling(ArtifactCache.SIDECAR_FILE),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    cache.getOrBuild(key("fp16"), writes("engine"));
    assertEquals(3, builds.get());
  }

  /**
   * A sidecar grown huge (damage: a sparse 3 GiB file here) or swapped for a FIFO or a link
   * (one to /dev/zero never ends) is an invalid entry like any other: rebuilt, not read into
   * memory (an OutOfMemoryError) or opened (a FIFO blocks until a writer comes).
   */
  @Test
  void getOrBuild_sidecarHugeOrNotARegularFile_rebuildsWithoutReadingIt() throws Exception {
    Path sidecar = cache.getOrBuild(key("fp16"), writes("engine"))
        .resolveSibling(ArtifactCache.SIDECAR_FILE);
    try (var f = new java.io.RandomAccessFile(sidecar.toFile(), "rw")) {
      f.setLength(3L << 30);
    }
    assertEquals("engine", Files.readString(cache.getOrBuild(key("fp16"), writes("engine"))));
    assertEquals(2, builds.get());

    Files.delete(sidecar);
    Files.createSymbolicLink(sidecar, Path.of("/dev/zero"));
    assertTrue(cache.get(key("fp16")).isEmpty());
    assertFalse(Files.exists(sidecar.getParent()));

    cache.getOrBuild(key("fp16"), writes("engine"));
    Files.delete(sidecar);
    Process mkfifo = new ProcessBuilder("mkfifo", sidecar.toString()).start();
    org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo.waitFor() == 0, "needs mkfifo");
    org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(10),
        () -> assertEquals("engine",
            Files.readString(cache.getOrBuild(key("fp16"), writes("engine")))));
    assertEquals(4, builds.get());
  }

  @Test
  void get_corruptEntry_isDeletedAndAbsent() throws IOException {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    Files.delete(artifact.resolveSibling(ArtifactCache.SIDECAR_FILE));
    assertTrue(cache.get(key("fp16")).isEmpty());
    assertFalse(Files.exists(artifact.getParent()));
  }

  /**
   * A link (to a whole, valid entry elsewhere) or a file where an entry's folder belongs is an
   * invalid entry: not served, deleted with one warning (the link, not what it leads to), and
   * built again. It was taken for a miss and never deleted, so every call built the artifact and
   * then failed to publish it ('Not a directory'), for good.
   */
  @Test
  void getOrBuild_entryFolderSwappedForALinkOrAFile_isDeletedAndBuiltAgain() throws IOException {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    Path entry = artifact.getParent();
    Path elsewhere = Files.move(entry, dir.resolve("elsewhere"));
    Files.createSymbolicLink(entry, elsewhere);
    String log = stderrOf(() ->
        assertEquals(artifact, cache.getOrBuild(key("fp16"), writes("rebuilt"))));
    assertTrue(log.contains("cache entry " + entry + " for " + key("fp16") + " is invalid (the"
        + " entry is a link, not a folder); deleting it"), log);
    assertTrue(Files.isDirectory(entry, java.nio.file.LinkOption.NOFOLLOW_LINKS));
    assertEquals("rebuilt", Files.readString(artifact));
    assertEquals("engine", Files.readString(elsewhere.resolve(ArtifactCache.ARTIFACT_FILE)),
        "what the link led to is left alone");

    CacheFiles.deleteTree(entry);
    Files.writeString(entry, "not a folder");
    log = stderrOf(() -> assertTrue(cache.get(key("fp16")).isEmpty()));
    assertTrue(log.contains("is invalid (the entry is a file, not a folder)"), log);
    assertEquals("again", Files.readString(cache.getOrBuild(key("fp16"), writes("again"))));
    assertEquals(3, builds.get());

    // The artifact itself swapped for a link was said to be 'missing'.
    Files.move(artifact, dir.resolve("moved"));
    Files.createSymbolicLink(artifact, dir.resolve("moved"));
    log = stderrOf(() -> cache.getOrBuild(key("fp16"), writes("fourth")));
    assertTrue(log.contains("is invalid (artifact artifact is a link, not a regular file)"), log);
    assertEquals(4, builds.get());
  }

  /**
   * A valid entry is served to a thread whose interrupt flag is set (a pool thread whose last
   * task was cancelled), and the flag stays set. The lookup read the entry through NIO channels,
   * which the flag closes, so it found no entry, and then failed with 'interrupted while waiting
   * for the lock' though nothing held the lock.
   */
  @Test
  void getOrBuild_hitOnAnInterruptedThread_isServedAndKeepsTheFlag() throws IOException {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    Thread.currentThread().interrupt();
    try {
      assertEquals(artifact, cache.getOrBuild(key("fp16"), writes("other")));
      assertEquals(artifact, cache.get(key("fp16")).orElseThrow());
      assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag is kept");
    } finally {
      Thread.interrupted();
    }
    assertEquals(1, builds.get(), "served, not built again");
    assertEquals("engine", Files.readString(artifact));
  }

  @Test
  void getOrBuild_calledInsideItsOwnBuilder_failsLoudly() {
    var e = assertThrows(OptimizationException.class, () -> cache.getOrBuild(key("fp16"),
        target -> cache.getOrBuild(key("fp16"), writes("inner"))));
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("already holds"), e.getCause().getMessage());
  }

  @Test
  void invalidate_deletesTheEntry() {
    Path artifact = cache.getOrBuild(key("fp16"), writes("engine"));
    assertTrue(cache.invalidate(key("fp16")));
    assertFalse(Files.exists(artifact));
    assertFalse(cache.invalidate(key("fp16")));
    cache.getOrBuild(key("fp16"), writes("engine"));
    assertEquals(2, builds.get());
  }

  @Test
  void evictTo_removesLeastRecentlyUsedFirst() throws IOException {
    SteppingClock clock = new SteppingClock();
    Path other = Files.createDirectory(dir.resolve("lru"));
    ArtifactCache lru = ArtifactCache.builder().directory(other).clock(clock).build();
    String kb = "x".repeat(1000);
    Path a = lru.getOrBuild(key("a"), writes(kb));
    Path b = lru.getOrBuild(key("b"), writes(kb));
    Path c = lru.getOrBuild(key("c"), writes(kb));
    lru.getOrBuild(key("a"), writes(kb));
    long entry = CacheFiles.sizeOf(a.getParent());
    assertEquals(entry, CacheFiles.sizeOf(b.getParent()));

    assertEquals(3 * entry, lru.evictTo(3 * entry));
    assertEquals(2 * entry, lru.evictTo(3 * entry - 1));
    assertFalse(Files.exists(b), "b was used least recently");
    assertTrue(Files.exists(a) && Files.exists(c));
    lru.get(key("c"));
    assertEquals(entry, lru.evictTo(entry));
    assertTrue(Files.exists(c) && !Files.exists(a));
    assertEquals(0, lru.evictTo(0));
    assertEquals(List.of(), list(other.resolve("entries")));
    assertEquals(3, builds.get());
  }

  @Test
  void evictTo_deletesStaleStagingAndTrash() throws IOException {
    Path tmp = cache.directory().resolve("tmp");
    Files.createDirectories(tmp.resolve(key("fp16").hash() + ".crashed"));
    Files.writeString(tmp.resolve(key("fp16").hash() + ".crashed").resolve("artifact"), "half");
    Files.createDirectories(tmp.resolve("trash.1234").resolve("sub"));
    assertEquals(0, cache.evictTo(Long.MAX_VALUE));
  }

  @Test
  void evictTo_negative_isRejected() {
    var e = assertThrows(IllegalArgumentException.class, () -> cache.evictTo(-1));
    assertEquals("maxBytes must not be negative but was -1", e.getMessage());
  }

  @Test
  void builder_settingTwiceKeepsLast_badValuesFail() throws IOException {
    // A setting made twice keeps the last value (docs/api-conventions.md).
    Path other = dir.resolve("other");
    ArtifactCache built = ArtifactCache.builder().directory(dir).directory(other).build();
    assertEquals(other.toRealPath(), built.directory());
    var zero = assertThrows(IllegalArgumentException.class,
        () -> ArtifactCache.builder().lockTimeout(Duration.ZERO));
    assertEquals("lock timeout must be positive but was PT0S", zero.getMessage());
    assertEquals("clock must not be null", assertThrows(NullPointerException.class,
        () -> ArtifactCache.builder().clock(null)).getMessage());
  }

  @Test
  void builder_directoryIsAFile_namesIt() throws IOException {
    Path file = Files.writeString(dir.resolve("file"), "x");
    var e = assertThrows(java.io.UncheckedIOException.class,
        () -> ArtifactCache.builder().directory(file).build());
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
  }

  @Test
  void defaultDirectory_followsXdg() {
    assertEquals(Path.of("/xdg/nos/optim"), ArtifactCache.defaultDirectory("/xdg", "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos/optim"),
        ArtifactCache.defaultDirectory(null, "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos/optim"),
        ArtifactCache.defaultDirectory("relative", "/home/u"));
    assertEquals(Path.of("/home/u/.cache/nos/optim"),
        ArtifactCache.defaultDirectory(" ", "/home/u"));
  }

  @Test
  void nullArguments_areRejected() {
    assertThrows(IllegalArgumentException.class, () -> cache.getOrBuild(null, writes("x")));
    assertThrows(IllegalArgumentException.class, () -> cache.getOrBuild(key("fp16"), null));
    assertThrows(IllegalArgumentException.class, () -> cache.get(null));
    assertThrows(IllegalArgumentException.class, () -> cache.invalidate(null));
  }

  /** A clock that moves one second forward each time it is read. */
  static final class SteppingClock extends Clock {
    private Instant now = Instant.parse("2025-01-01T00:00:00Z");

    @Override
    public synchronized Instant instant() {
      now = now.plusSeconds(1);
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      throw new UnsupportedOperationException();
    }
  }

  interface IoRunnable {
    void run() throws IOException;
  }

  /** What the logger (slf4j-simple, which writes to the current System.err) printed meanwhile. */
  static String stderrOf(IoRunnable action) throws IOException {
    PrintStream saved = System.err;
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    System.setErr(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    try {
      action.run();
    } finally {
      System.setErr(saved);
    }
    String out = bytes.toString(StandardCharsets.UTF_8);
    saved.print(out);
    return out;
  }

  static List<String> list(Path folder) {
    try (Stream<Path> s = Files.list(folder)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
