package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.ModelSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TensorRT step builds from the bytes its cache key names: a private copy of the ONNX file,
 * hashed as it is copied, is what the parser gets, so a file rewritten after the hash is not
 * built (TensorRT used to parse the file by its path after hashing it). A model with external
 * data is refused with the reason. On the CPU: the build is a stand-in for TensorRT's.
 */
final class TensorRtPrivateCopyTest {

  @Test
  void fromPrivateCopy_sourceRewrittenAfterTheHash_buildParsesTheHashedBytes(@TempDir Path dir)
      throws Exception {
    Path onnx = dir.resolve("model.onnx");
    byte[] hashed = model(initializer(bytes(9, "w".getBytes())));
    byte[] swapped = model(initializer(bytes(9, "evil".getBytes())));
    Files.write(onnx, hashed);
    ArtifactCache cache = ArtifactCache.builder().directory(dir.resolve("cache")).build();
    AtomicReference<String> keyed = new AtomicReference<>();
    AtomicReference<Path> parsed = new AtomicReference<>();
    List<String> seen = new ArrayList<>();
    TensorRtStep.Outcome outcome = TensorRtStep.fromPrivateCopy(spec(), onnx, cache,
        sha256 -> {
          keyed.set(sha256);
          return CacheKeyTest.base().sourceSha256(sha256).option("step", "test").build();
        },
        (copy, target) -> {
          Files.write(onnx, swapped); // the file is rewritten after it was hashed
          parsed.set(copy);
          seen.add(CacheKey.sha256Of(copy));
          seen.add(PosixFilePermissions.toString(Files.getPosixFilePermissions(
              copy.getParent())));
          Files.write(target, new byte[] {1});
        });
    assertNull(outcome.reason(), outcome.reason());
    assertEquals(CacheKey.sha256Hex(hashed), keyed.get(), "the key names the bytes first read");
    assertEquals(keyed.get(), seen.get(0), "the parser got the bytes the key names");
    assertNotEquals(onnx, parsed.get());
    assertEquals("rwx------", seen.get(1), "the copy's folder is the owner's only");
    assertFalse(Files.exists(parsed.get()), "the copy is deleted when the step returns");
    assertFalse(Files.exists(parsed.get().getParent()));
  }

  @Test
  void fromPrivateCopy_externalData_refusedNamingTheFile_nothingBuilt(@TempDir Path dir)
      throws Exception {
    Path onnx = dir.resolve("big.onnx");
    Files.write(onnx, model(initializer(bytes(8, "w".getBytes()),
        bytes(13, concat(bytes(1, "location".getBytes()), bytes(2, "big.onnx.data".getBytes()))),
        varint(14, 1))));
    Files.write(dir.resolve("big.onnx.data"), new byte[64]);
    ArtifactCache cache = ArtifactCache.builder().directory(dir.resolve("cache")).build();
    List<Path> built = new ArrayList<>();
    TensorRtStep.Outcome outcome = TensorRtStep.fromPrivateCopy(spec(), onnx, cache,
        sha256 -> CacheKeyTest.base().sourceSha256(sha256).option("step", "test-ext").build(),
        (copy, target) -> built.add(copy));
    assertEquals(List.of(), built);
    assertTrue(outcome.reason().contains(onnx + " keeps tensors in an external data file"
        + " ('big.onnx.data' beside it)"), outcome.reason());
  }

  @Test
  void firstLocation_insideOrExternal_orNotProtobuf(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("m.onnx");
    Files.write(f, model(initializer(bytes(9, new byte[] {0, 1, 2, 3}), varint(14, 0))));
    assertNull(OnnxExternalData.firstLocation(f));
    // In a subgraph of a node's attribute, without a location entry.
    byte[] node = bytes(5, concat(bytes(1, "then".getBytes()), bytes(6,
        initializer(varint(14, 1)))));
    Files.write(f, model(bytes(1, node)));
    assertEquals("(no location)", OnnxExternalData.firstLocation(f));
    Files.write(f, new byte[] {0x3a, 0x7f, 1});
    IOException e = assertThrows(IOException.class, () -> OnnxExternalData.firstLocation(f));
    assertTrue(e.getMessage().startsWith(f + " is not an ONNX model's protobuf: a field of 127"
        + " bytes"), e.getMessage());
  }

  private static ModelSpec spec() {
    return TestModels.digits();
  }

  /** A ModelProto holding {@code graph} (field 7). */
  private static byte[] model(byte[] graph) {
    return concat(varint(1, 8), bytes(7, graph));
  }

  /** A GraphProto with one initializer (field 5), a TensorProto of {@code fields}. */
  private static byte[] initializer(byte[]... fields) {
    return bytes(5, concat(fields));
  }

  private static byte[] bytes(int field, byte[] value) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writeVarint(out, (long) field << 3 | 2);
    writeVarint(out, value.length);
    out.writeBytes(value);
    return out.toByteArray();
  }

  private static byte[] varint(int field, long value) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writeVarint(out, (long) field << 3);
    writeVarint(out, value);
    return out.toByteArray();
  }

  private static void writeVarint(ByteArrayOutputStream out, long v) {
    while ((v & ~0x7fL) != 0) {
      out.write((int) (v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.write((int) v);
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
