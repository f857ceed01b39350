package ai.nos.optim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;

/**
 * The small JSON file beside a cached artifact that says what it is and how to check it:
 *
 * <pre>{@code
 * {
 *   "format" : "nos-optim-cache-entry/1",
 *   "hash" : "<CacheKey.hash()>",
 *   "key" : { "sourceSha256" : "...", "options" : {...}, "deviceArch" : "...",
 *             "versions" : {...} },
 *   "size" : 123456,
 *   "sha256" : "<SHA-256 of the artifact's bytes>",
 *   "created" : "2025-06-01T12:00:00Z"
 * }
 * }</pre>
 *
 * <p>An entry is valid when its sidecar parses, names this format and exactly the expected key,
 * and the artifact has the recorded size and digest. Anything else (a flipped byte, a truncated
 * file, a missing one) makes it invalid, and the cache rebuilds it.
 */
final class Sidecar {

  static final String FORMAT = "nos-optim-cache-entry/1";
  private static final ObjectMapper JSON = new ObjectMapper();

  private Sidecar() {}

  /** The size in bytes and the lowercase hex SHA-256 of a file's content. */
  record Digest(long size, String sha256) {}

  /** Reads {@code file} through once, returning its size and SHA-256. */
  static Digest digest(Path file) throws IOException {
    MessageDigest md = CacheKey.newDigest();
    ByteBuffer buf = ByteBuffer.allocate(1 << 20);
    long size = 0;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      for (int n; (n = ch.read(buf.clear())) >= 0; ) {
        md.update(buf.flip());
        size += n;
      }
    }
    return new Digest(size, HexFormat.of().formatHex(md.digest()));
  }

  /** Forces a file's content to disk, so a published entry survives a crash whole or not at all. */
  static void force(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }

  /** Writes the sidecar of {@code key}'s artifact with {@code digest} to {@code file}, durably. */
  static void write(Path file, CacheKey key, Digest digest, Instant created) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT);
    root.put("hash", key.hash());
    root.set("key", keyNode(key));
    root.put("size", digest.size());
    root.put("sha256", digest.sha256());
    root.put("created", created.toString());
    byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      ByteBuffer buf = ByteBuffer.wrap(bytes);
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      ch.force(true);
    }
  }

  private static ObjectNode keyNode(CacheKey key) {
    ObjectNode node = JSON.createObjectNode();
    node.put("sourceSha256", key.sourceSha256());
    node.set("options", mapNode(key.options()));
    node.put("deviceArch", key.deviceArch());
    node.set("versions", mapNode(key.versions()));
    return node;
  }

  private static ObjectNode mapNode(Map<String, String> map) {
    ObjectNode node = JSON.createObjectNode();
    map.forEach(node::put);
    return node;
  }

  /**
   * Why the entry in {@code dir} is not a valid entry for {@code key}, or empty if it is valid.
   *
   * @throws NoSuchFileException if the entry folder does not exist (or vanished while read)
   * @throws IOException if a file exists but cannot be read
   */
  static Optional<String> problem(Path dir, String sidecarName, String artifactName, CacheKey key)
      throws IOException {
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      throw new NoSuchFileException(dir.toString());
    }
    Path sidecar = dir.resolve(sidecarName);
    Path artifact = dir.resolve(artifactName);
    if (!Files.exists(sidecar, LinkOption.NOFOLLOW_LINKS)) {
      return Optional.of("sidecar " + sidecarName + " is missing");
    }
    JsonNode root;
    try {
      root = JSON.readTree(new String(Files.readAllBytes(sidecar), StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      return Optional.of("sidecar " + sidecarName + " is not valid JSON ("
          + e.getOriginalMessage() + ")");
    }
    if (root == null || !root.isObject()) {
      return Optional.of("sidecar " + sidecarName + " is not a JSON object");
    }
    if (!FORMAT.equals(root.path("format").asText(null))) {
      return Optional.of("sidecar format is " + root.path("format") + ", not \"" + FORMAT + "\"");
    }
    if (!key.hash().equals(root.path("hash").asText(null))
        || !keyNode(key).equals(root.get("key"))) {
      return Optional.of("sidecar describes another key (hash " + root.path("hash") + ")");
    }
    JsonNode size = root.get("size");
    JsonNode sha = root.get("sha256");
    if (size == null || !size.canConvertToLong() || sha == null || !sha.isTextual()) {
      return Optional.of("sidecar lacks a valid size or sha256");
    }
    if (!Files.isRegularFile(artifact, LinkOption.NOFOLLOW_LINKS)) {
      return Optional.of("artifact " + artifactName + " is missing");
    }
    long actualSize = Files.size(artifact);
    if (actualSize != size.asLong()) {
      return Optional.of("artifact has " + actualSize + " bytes but the sidecar records "
          + size.asLong());
    }
    String actualSha = digest(artifact).sha256();
    if (!actualSha.equals(sha.asText())) {
      return Optional.of("artifact's SHA-256 is " + actualSha + " but the sidecar records "
          + sha.asText());
    }
    return Optional.empty();
  }
}
