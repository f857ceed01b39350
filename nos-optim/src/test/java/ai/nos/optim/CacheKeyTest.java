package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

final class CacheKeyTest {

  static final String SHA_A = "a".repeat(64);
  static final String SHA_B = "b".repeat(64);

  /** The key every variation below starts from. */
  static CacheKey.Builder base() {
    return CacheKey.builder().sourceSha256(SHA_A)
        .option("precision", "fp16").option("freeze", "true").option("cudaGraphs", "1,2,4")
        .deviceArch("sm_90")
        .version("libtorch", "2.10.0").version("cuda", "13.1").version("tensorrt", "10.15")
        .version("nos", "0.1.0");
  }

  static Stream<Arguments> variations() {
    return Stream.of(
        variation("source digest", b -> b.sourceSha256(SHA_B)),
        variation("option value", b -> b.option("precision", "bf16")),
        variation("option added", b -> b.option("channelsLast", "true")),
        variation("option removed", b -> CacheKey.builder().sourceSha256(SHA_A)
            .option("precision", "fp16").option("freeze", "true").deviceArch("sm_90")
            .versions(base().build().versions())),
        variation("option value case", b -> b.option("freeze", "True")),
        variation("device", b -> b.deviceArch("sm_89")),
        variation("libtorch version", b -> b.version("libtorch", "2.11.0")),
        variation("cuda version", b -> b.version("cuda", "13.0")),
        variation("tensorrt version", b -> b.version("tensorrt", "10.14")),
        variation("nos version", b -> b.version("nos", "0.1.1")),
        variation("version added", b -> b.version("cudnn", "9.19")));
  }

  private static Arguments variation(String name, UnaryOperator<CacheKey.Builder> change) {
    return Arguments.of(name, change);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("variations")
  void hash_changesWithEveryComponent(String what, UnaryOperator<CacheKey.Builder> change) {
    CacheKey key = base().build();
    CacheKey changed = change.apply(base()).build();
    assertNotEquals(key.hash(), changed.hash(), what);
    assertNotEquals(key, changed, what);
  }

  @Test
  void hash_distinguishesWhereStringsSplit() {
    CacheKey.Builder bare = CacheKey.builder().sourceSha256(SHA_A).deviceArch("cpu");
    List<CacheKey> keys = List.of(
        bare.build().toBuilder().option("ab", "c").build(),
        bare.build().toBuilder().option("a", "bc").build(),
        bare.build().toBuilder().version("ab", "c").build(),
        bare.build().toBuilder().option("a", "b").option("c", "").build(),
        CacheKey.builder().sourceSha256(SHA_A).deviceArch("cpuab").option("c", "").build());
    assertEquals(keys.size(), keys.stream().map(CacheKey::hash).distinct().count(), keys::toString);
  }

  @Test
  void hash_ignoresTheOrderOfOptionsAndVersions() {
    Map<String, String> options = new LinkedHashMap<>();
    options.put("cudaGraphs", "1,2,4");
    options.put("precision", "fp16");
    options.put("freeze", "true");
    Map<String, String> versions = new LinkedHashMap<>();
    versions.put("nos", "0.1.0");
    versions.put("tensorrt", "10.15");
    versions.put("cuda", "13.1");
    versions.put("libtorch", "2.10.0");
    CacheKey reordered = CacheKey.builder().versions(versions).deviceArch("sm_90")
        .options(options).sourceSha256(SHA_A.toUpperCase()).build();
    assertEquals(base().build().hash(), reordered.hash());
    assertEquals(base().build(), reordered);
    assertEquals(base().build().hashCode(), reordered.hashCode());
    assertEquals(List.of("cudaGraphs", "freeze", "precision"),
        List.copyOf(reordered.options().keySet()));
  }

  @Test
  void hash_isSha256OfTheDocumentedEncoding() throws Exception {
    CacheKey key = CacheKey.builder().sourceSha256(SHA_A).deviceArch("cpu")
        .option("precision", "fp16").option("a", "é").build();
    String expected = "nos-optim-cache-key/1" + "64:" + SHA_A + "3:cpu"
        + "options2{1:a2:é9:precision4:fp16}" + "versions0{}";
    assertEquals(expected, key.canonicalForm());
    byte[] digest = MessageDigest.getInstance("SHA-256")
        .digest(expected.getBytes(StandardCharsets.UTF_8));
    assertEquals(HexFormat.of().formatHex(digest), key.hash());
    assertTrue(key.hash().matches("[0-9a-f]{64}"));
  }

  @Test
  void sourceFile_isTheSha256OfTheBytes(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("model.pt");
    Files.write(file, "weights".getBytes(StandardCharsets.UTF_8));
    String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest("weights".getBytes(StandardCharsets.UTF_8)));
    assertEquals(expected, CacheKey.builder().sourceFile(file).deviceArch("cpu").build()
        .sourceSha256());
    assertEquals(expected, CacheKey.sha256Of(file));
  }

  @Test
  void sourceFile_missing_namesTheFile(@TempDir Path dir) {
    Path missing = dir.resolve("missing.pt");
    var e = assertThrows(java.io.UncheckedIOException.class,
        () -> CacheKey.builder().sourceFile(missing));
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
  }

  @Test
  void toBuilder_roundTrips() {
    CacheKey key = base().build();
    assertEquals(key, key.toBuilder().build());
    assertEquals("fp32", key.toBuilder().option("precision", "fp32").build().options()
        .get("precision"));
  }

  @Test
  void build_withoutSource_namesIt() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> CacheKey.builder().deviceArch("cpu").build());
    assertEquals("CacheKey.sourceSha256 is required (set it or sourceFile)", e.getMessage());
  }

  @Test
  void build_withoutDevice_namesIt() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> CacheKey.builder().sourceSha256(SHA_A).build());
    assertEquals("CacheKey.deviceArch is required", e.getMessage());
  }

  @Test
  void sourceSha256_notHex_isRejected() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> CacheKey.builder().sourceSha256("abc"));
    assertEquals("sourceSha256 must be 64 hex digits but was 'abc'", e.getMessage());
  }

  @Test
  void option_emptyNameOrNullValue_isRejected() {
    assertThrows(IllegalArgumentException.class, () -> CacheKey.builder().option("", "x"));
    var e = assertThrows(NullPointerException.class,
        () -> CacheKey.builder().version("cuda", null));
    assertEquals("version 'cuda' must not have a null value", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> CacheKey.builder().deviceArch(" "));
  }

  @Test
  void maps_areUnmodifiable() {
    CacheKey key = base().build();
    assertThrows(UnsupportedOperationException.class, () -> key.options().put("x", "y"));
    assertThrows(UnsupportedOperationException.class, () -> key.versions().clear());
  }

  @Test
  void toString_showsComponents() {
    String s = base().build().toString();
    assertTrue(s.startsWith("CacheKey{" + base().build().hash().substring(0, 8)), s);
    assertTrue(s.contains("device=sm_90") && s.contains("precision=fp16"), s);
  }

  @Test
  void sha256Of_aFileThatNeverEnds_isRefusedNamingIt() {
    // adopt() hashes the compiled file after checking it is a regular file; one swapped for a
    // link to a device that never ends in between was read for ever. The hash now reads at
    // most the size the path had when it was opened.
    Path endless = Path.of("/dev/zero");
    assumeTrue(Files.isReadable(endless), "no /dev/zero here");
    java.io.UncheckedIOException e = assertTimeoutPreemptively(java.time.Duration.ofSeconds(10),
        () -> assertThrows(java.io.UncheckedIOException.class, () -> CacheKey.sha256Of(endless)));
    assertTrue(e.getMessage().contains("/dev/zero") && e.getMessage().contains("0 bytes"),
        e.getMessage());
  }

  @Test
  void sha256Of_ioFailure_isUnchecked(@TempDir Path dir) throws IOException {
    Path folder = Files.createDirectory(dir.resolve("folder"));
    assertThrows(java.io.UncheckedIOException.class, () -> CacheKey.sha256Of(folder));
  }
}
