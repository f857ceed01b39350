package ai.nos.optim;

import ai.nos.internal.json.JsonValue;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

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
 * file, a missing one) makes it invalid, and the cache rebuilds it. Read and written with
 * jackson-core's streaming API ({@link JsonValue}), as nos-core's specs are: no databind.
 */
final class Sidecar {

  static final String FORMAT = "nos-optim-cache-entry/1";
  /** A sidecar nests two levels; a duplicate key makes it invalid, as any other damage. */
  private static final JsonFactory JSON = JsonValue.factory(16);
  /** A sidecar is a few hundred bytes; a larger one is damage and is not read. */
  static final int MAX_SIDECAR_BYTES = 1 << 20;

  private Sidecar() {}

  /** The size in bytes and the lowercase hex SHA-256 of a file's content. */
  record Digest(long size, String sha256) {}

  /**
   * Reads {@code file} through once, returning its size and SHA-256. A plain stream, as every
   * read of a lookup: an NIO channel is closed by the caller's interrupt flag, and a thread with
   * that flag set (a pool thread whose last task was cancelled) then found no valid entry at all.
   */
  static Digest digest(Path file) throws IOException {
    MessageDigest md = CacheKey.newDigest();
    byte[] buf = new byte[1 << 20];
    long size = 0;
    try (InputStream in = new FileInputStream(file.toFile())) {
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
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
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.setPrettyPrinter(new DefaultPrettyPrinter());
      g.writeStartObject();
      g.writeStringField("format", FORMAT);
      g.writeStringField("hash", key.hash());
      g.writeObjectFieldStart("key");
      g.writeStringField("sourceSha256", key.sourceSha256());
      writeMap(g, "options", key.options());
      g.writeStringField("deviceArch", key.deviceArch());
      writeMap(g, "versions", key.versions());
      g.writeEndObject();
      g.writeNumberField("size", digest.size());
      g.writeStringField("sha256", digest.sha256());
      g.writeStringField("created", created.toString());
      g.writeEndObject();
    }
    byte[] bytes = out.toByteArray();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      ByteBuffer buf = ByteBuffer.wrap(bytes);
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      ch.force(true);
    }
  }

  private static void writeMap(JsonGenerator g, String field, Map<String, String> map)
      throws IOException {
    g.writeObjectFieldStart(field);
    for (Map.Entry<String, String> e : map.entrySet()) {
      g.writeStringField(e.getKey(), e.getValue());
    }
    g.writeEndObject();
  }

  /** Whether {@code node} is exactly {@code key}'s object as {@link #write} writes it. */
  private static boolean describes(JsonValue node, CacheKey key) {
    return node != null && node.isObject() && node.size() == 4
        && key.sourceSha256().equals(text(node.get("sourceSha256")))
        && key.deviceArch().equals(text(node.get("deviceArch")))
        && key.options().equals(strings(node.get("options")))
        && key.versions().equals(strings(node.get("versions")));
  }

  /** A string's value; null for anything else or nothing. */
  private static String text(JsonValue node) {
    return node == null ? null : node.textValue();
  }

  /** An object of strings as a map; null if it is not one. */
  private static Map<String, String> strings(JsonValue node) {
    if (node == null || !node.isObject()) {
      return null;
    }
    Map<String, String> map = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonValue>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonValue> e = it.next();
      if (!e.getValue().isTextual()) {
        return null;
      }
      map.put(e.getKey(), e.getValue().textValue());
    }
    return map;
  }

  /** A value as a message quotes it: its JSON, or nothing when absent. */
  private static String show(JsonValue node) {
    return node == null ? "" : node.toString();
  }

  /**
   * What a lookup found in an entry folder: the SHA-256 of its artifact's bytes, as just read and
   * matched with the sidecar, when the entry is valid; else why it is not.
   */
  record Verdict(String sha256, String problem) {
    static Verdict invalid(String problem) {
      return new Verdict(null, problem);
    }

    boolean valid() {
      return problem == null;
    }
  }

  /**
   * Whether the entry in {@code dir} is a valid entry for {@code key}, and if not why not.
   *
   * @throws NoSuchFileException if nothing is at {@code dir} (or it vanished while read)
   * @throws IOException if a file exists but cannot be read
   */
  static Verdict check(Path dir, String sidecarName, String artifactName, CacheKey key)
      throws IOException {
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      // A link is not followed (what it leads to may be anyone's), nor taken for a miss: the
      // build's rename onto it would fail, every time.
      if (Files.isSymbolicLink(dir)) {
        return Verdict.invalid("the entry is a link, not a folder");
      }
      if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
        return Verdict.invalid("the entry is a file, not a folder");
      }
      throw new NoSuchFileException(dir.toString());
    }
    Path sidecar = dir.resolve(sidecarName);
    Path artifact = dir.resolve(artifactName);
    if (!Files.exists(sidecar, LinkOption.NOFOLLOW_LINKS)) {
      return Verdict.invalid("sidecar " + sidecarName + " is missing");
    }
    // Checked before it is opened: reading a huge file whole is an OutOfMemoryError, opening a
    // FIFO blocks until a writer comes, and a link may lead to /dev/zero.
    if (!Files.isRegularFile(sidecar, LinkOption.NOFOLLOW_LINKS)) {
      return Verdict.invalid("sidecar " + sidecarName + " is not a regular file");
    }
    long sidecarSize = Files.size(sidecar);
    if (sidecarSize > MAX_SIDECAR_BYTES) {
      return Verdict.invalid("sidecar " + sidecarName + " has " + sidecarSize + " bytes, more than"
          + " the " + MAX_SIDECAR_BYTES + " a sidecar may have");
    }
    byte[] text;
    try (InputStream in = new FileInputStream(sidecar.toFile())) {
      // At most one byte more than a sidecar may have: it may have grown since it was sized.
      text = in.readNBytes(MAX_SIDECAR_BYTES + 1);
    }
    if (text.length > MAX_SIDECAR_BYTES) {
      return Verdict.invalid("sidecar " + sidecarName + " has more than the " + MAX_SIDECAR_BYTES
          + " bytes a sidecar may have");
    }
    JsonValue root;
    try {
      root = JsonValue.parse(JSON, text);
    } catch (JacksonException e) {
      return Verdict.invalid("sidecar " + sidecarName + " is not valid JSON ("
          + e.getOriginalMessage() + ")");
    }
    if (root == null || !root.isObject()) {
      return Verdict.invalid("sidecar " + sidecarName + " is not a JSON object");
    }
    if (!FORMAT.equals(text(root.get("format")))) {
      return Verdict.invalid("sidecar format is " + show(root.get("format")) + ", not \"" + FORMAT
          + "\"");
    }
    if (!key.hash().equals(text(root.get("hash"))) || !describes(root.get("key"), key)) {
      return Verdict.invalid("sidecar describes another key (hash " + show(root.get("hash")) + ")");
    }
    JsonValue size = root.get("size");
    JsonValue sha = root.get("sha256");
    if (size == null || !size.canConvertToLong() || sha == null || !sha.isTextual()) {
      return Verdict.invalid("sidecar lacks a valid size or sha256");
    }
    if (!Files.isRegularFile(artifact, LinkOption.NOFOLLOW_LINKS)) {
      return Verdict.invalid("artifact " + artifactName + (Files.isSymbolicLink(artifact)
          ? " is a link, not a regular file" : Files.exists(artifact, LinkOption.NOFOLLOW_LINKS)
              ? " is not a regular file" : " is missing"));
    }
    long actualSize = Files.size(artifact);
    if (actualSize != size.longValue()) {
      return Verdict.invalid("artifact has " + actualSize + " bytes but the sidecar records "
          + size.longValue());
    }
    String actualSha = digest(artifact).sha256();
    if (!actualSha.equals(sha.textValue())) {
      return Verdict.invalid("artifact's SHA-256 is " + actualSha + " but the sidecar records "
          + sha.textValue());
    }
    return new Verdict(actualSha, null);
  }
}
