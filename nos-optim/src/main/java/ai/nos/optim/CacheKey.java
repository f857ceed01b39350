package ai.nos.optim;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collections;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * What an optimized artifact was made from, and so when a cached one may be reused: the SHA-256 of
 * the source artifact's bytes, the optimization options, the device architecture and the versions
 * of the libraries that made it. Two keys are equal exactly when all four are equal; any change in
 * any of them gives another {@link #hash()} and so another cache entry.
 *
 * <pre>{@code
 * CacheKey key = CacheKey.builder()
 *     .sourceFile(Path.of("models/resnet50.pt"))
 *     .option("precision", "fp16")
 *     .option("cudaGraphs", "1,2,4")
 *     .deviceArch("sm_90")
 *     .version("libtorch", "2.10.0")
 *     .version("cuda", "13.1")
 *     .build();
 * }</pre>
 *
 * <h2>The hash</h2>
 * {@link #hash()} is the lowercase hex SHA-256 of the UTF-8 bytes of a canonical text in which
 * every string is length-prefixed, so no choice of values can make two different keys encode
 * alike. With {@code s(x) = len(x) + ":" + x}, where {@code len} is the number of UTF-8 bytes of
 * {@code x} in decimal, the text is
 *
 * <pre>
 * "nos-optim-cache-key/1"
 * s(sourceSha256) s(deviceArch)
 * "options" count "{" s(k1) s(v1) s(k2) s(v2) ... "}"
 * "versions" count "{" s(k1) s(v1) ... "}"
 * </pre>
 *
 * <p>concatenated without separators, where {@code count} is the number of entries in decimal and
 * the entries of each map are in ascending key order ({@link String#compareTo}). The order in which
 * options or versions were given never matters. A change to this encoding changes the prefix's
 * version number, so old entries are simply never found again.
 *
 * <p>Instances are immutable and thread-safe. Builders are not thread-safe.
 */
public final class CacheKey {

  private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");
  private static final String ENCODING = "nos-optim-cache-key/1";

  private final String sourceSha256;
  private final SortedMap<String, String> options;
  private final String deviceArch;
  private final SortedMap<String, String> versions;
  private final String hash;

  private CacheKey(Builder builder) {
    this.sourceSha256 = builder.sourceSha256;
    this.options = Collections.unmodifiableSortedMap(new TreeMap<>(builder.options));
    this.deviceArch = builder.deviceArch;
    this.versions = Collections.unmodifiableSortedMap(new TreeMap<>(builder.versions));
    this.hash = sha256Hex(canonicalForm().getBytes(StandardCharsets.UTF_8));
  }

  /** Returns a builder with no field set and no options or versions. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns a builder holding every component of this key. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.sourceSha256 = sourceSha256;
    b.options.putAll(options);
    b.deviceArch = deviceArch;
    b.versions.putAll(versions);
    return b;
  }

  /** The SHA-256 of the source artifact's bytes, 64 lowercase hex digits. */
  public String sourceSha256() {
    return sourceSha256;
  }

  /** The optimization options, in ascending key order; unmodifiable. */
  public SortedMap<String, String> options() {
    return options;
  }

  /** The device architecture the artifact is made for, e.g. {@code sm_90} or {@code cpu-x86_64}. */
  public String deviceArch() {
    return deviceArch;
  }

  /** The library versions, e.g. {@code libtorch=2.10.0}, in ascending key order; unmodifiable. */
  public SortedMap<String, String> versions() {
    return versions;
  }

  /**
   * The SHA-256 of the canonical encoding of all components (see the class comment), 64 lowercase
   * hex digits. The cache names an entry's folder with it.
   */
  public String hash() {
    return hash;
  }

  /** The text whose SHA-256 is {@link #hash()}; see the class comment. */
  String canonicalForm() {
    StringBuilder sb = new StringBuilder(ENCODING);
    field(sb, sourceSha256);
    field(sb, deviceArch);
    map(sb, "options", options);
    map(sb, "versions", versions);
    return sb.toString();
  }

  private static void map(StringBuilder sb, String name, SortedMap<String, String> map) {
    sb.append(name).append(map.size()).append('{');
    map.forEach((k, v) -> {
      field(sb, k);
      field(sb, v);
    });
    sb.append('}');
  }

  private static void field(StringBuilder sb, String value) {
    sb.append(value.getBytes(StandardCharsets.UTF_8).length).append(':').append(value);
  }

  @Override
  public boolean equals(Object o) {
    return o == this || (o instanceof CacheKey k && hash.equals(k.hash)
        && sourceSha256.equals(k.sourceSha256) && deviceArch.equals(k.deviceArch)
        && options.equals(k.options) && versions.equals(k.versions));
  }

  @Override
  public int hashCode() {
    return hash.hashCode();
  }

  /**
   * E.g. {@code CacheKey{3f2a9c01.. source=9b1c4e77.. options={precision=fp16} device=sm_90
   * versions={libtorch=2.10.0}}}: the first 8 hex digits of the hash and of the source digest.
   */
  @Override
  public String toString() {
    return "CacheKey{" + hash.substring(0, 8) + ".. source=" + sourceSha256.substring(0, 8)
        + ".. options=" + options + " device=" + deviceArch + " versions=" + versions + "}";
  }

  /**
   * The lowercase hex SHA-256 of a file's bytes. It reads at most the size the path had when it
   * was opened: a file that grows, shrinks or never ends while hashed (a regular file swapped for
   * a link to a device after its caller's check) is refused, not read for ever.
   *
   * @throws UncheckedIOException if the file cannot be read, or its size changed while it was
   *     hashed; the message names it
   */
  public static String sha256Of(Path file) {
    Objects.requireNonNull(file, "file");
    MessageDigest digest = newDigest();
    byte[] buf = new byte[1 << 16];
    long size = file.toFile().length();
    long left = size;
    // A plain stream: an NIO channel would be closed by the caller's interrupt flag.
    try (InputStream in = new java.io.FileInputStream(file.toFile())) {
      for (int n; left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0; ) {
        digest.update(buf, 0, n);
        left -= n;
      }
      if (left > 0 || in.read() >= 0) {
        throw new IOException("its size changed while it was hashed: " + size + " bytes when"
            + " opened, " + (left > 0 ? "only " + (size - left) + " read" : "more to read"));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + " to hash it: " + e.getMessage(), e);
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  static String sha256Hex(byte[] bytes) {
    return HexFormat.of().formatHex(newDigest().digest(bytes));
  }

  static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  /**
   * Collects the components of a key. Each setter rejects null or empty values at once, naming
   * the field; a field or map entry set twice keeps the last value, so {@code toBuilder()} can
   * change one component. {@link #build()} leaves the builder usable. Not thread-safe.
   */
  public static final class Builder {
    private String sourceSha256;
    private final Map<String, String> options = new TreeMap<>();
    private String deviceArch;
    private final Map<String, String> versions = new TreeMap<>();

    private Builder() {}

    /**
     * Sets the SHA-256 of the source artifact's bytes. Required (this or {@link #sourceFile}).
     *
     * @param sha256 64 hex digits, either case; kept in lowercase
     * @throws NullPointerException if it is null
     * @throws IllegalArgumentException if it is not 64 hex digits
     */
    public Builder sourceSha256(String sha256) {
      Objects.requireNonNull(sha256, "sourceSha256 must not be null");
      if (!SHA256.matcher(sha256).matches()) {
        throw new IllegalArgumentException("sourceSha256 must be 64 hex digits but was '"
            + sha256 + "'");
      }
      this.sourceSha256 = sha256.toLowerCase(Locale.ROOT);
      return this;
    }

    /**
     * Sets the source digest to the SHA-256 of a file's bytes, read now.
     *
     * @throws NullPointerException if {@code file} is null
     * @throws UncheckedIOException if the file cannot be read; the message names it
     */
    public Builder sourceFile(Path file) {
      Objects.requireNonNull(file, "sourceFile must not be null");
      return sourceSha256(sha256Of(file));
    }

    /**
     * Adds an optimization option, e.g. {@code ("precision", "fp16")}, replacing any earlier
     * value of the same name.
     *
     * @throws NullPointerException if the name or the value is null
     * @throws IllegalArgumentException if the name is empty
     */
    public Builder option(String name, String value) {
      put(options, "option", name, value);
      return this;
    }

    /**
     * Adds every entry of {@code options}, as by {@link #option}.
     *
     * @throws NullPointerException if the map or an entry is null
     * @throws IllegalArgumentException if the map holds an entry {@link #option}
     *     rejects
     */
    public Builder options(Map<String, String> options) {
      Objects.requireNonNull(options, "options must not be null");
      options.forEach(this::option);
      return this;
    }

    /**
     * Sets the device architecture, e.g. {@code sm_90} or {@code cpu-x86_64-avx512}. Required.
     *
     * @throws NullPointerException if it is null
     * @throws IllegalArgumentException if it is blank
     */
    public Builder deviceArch(String deviceArch) {
      Objects.requireNonNull(deviceArch, "deviceArch must not be null");
      if (deviceArch.isBlank()) {
        throw new IllegalArgumentException("deviceArch must not be blank but was '" + deviceArch
            + "'");
      }
      this.deviceArch = deviceArch;
      return this;
    }

    /**
     * Adds a library version, e.g. {@code ("libtorch", "2.10.0")}, replacing any earlier value
     * for the same library.
     *
     * @throws NullPointerException if the library or the version is null
     * @throws IllegalArgumentException if the library is empty
     */
    public Builder version(String library, String version) {
      put(versions, "version", library, version);
      return this;
    }

    /**
     * Adds every entry of {@code versions}, as by {@link #version}.
     *
     * @throws NullPointerException if the map or an entry is null
     * @throws IllegalArgumentException if the map holds an entry {@link #version}
     *     rejects
     */
    public Builder versions(Map<String, String> versions) {
      Objects.requireNonNull(versions, "versions must not be null");
      versions.forEach(this::version);
      return this;
    }

    private static void put(Map<String, String> map, String what, String name, String value) {
      Objects.requireNonNull(name, () -> what + " name must not be null");
      if (name.isEmpty()) {
        throw new IllegalArgumentException(what + " name must not be empty");
      }
      Objects.requireNonNull(value, () -> what + " '" + name + "' must not have a null value");
      map.put(name, value);
    }

    /**
     * Returns the key.
     *
     * @throws IllegalArgumentException if the source digest or the device architecture is not
     *     set; the message names the first missing one
     */
    public CacheKey build() {
      if (sourceSha256 == null) {
        throw new IllegalArgumentException(
            "CacheKey.sourceSha256 is required (set it or sourceFile)");
      }
      if (deviceArch == null) {
        throw new IllegalArgumentException("CacheKey.deviceArch is required");
      }
      return new CacheKey(this);
    }
  }
}
