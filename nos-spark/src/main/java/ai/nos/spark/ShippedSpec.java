package ai.nos.spark;

import ai.nos.Artifact;
import ai.nos.ModelSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkFiles;
import org.apache.spark.sql.SparkSession;

/**
 * A spec on its way from the driver to the executors, and its artifact with it.
 *
 * <h2>How the artifact travels</h2>
 * With shipping on (the default) and a local artifact, the driver hashes the file (SHA-256, unless
 * the spec gives one), and hands it to Spark with {@code SparkContext.addFile} under a name that
 * starts with the first 16 hex digits of its digest: each executor fetches it once through
 * Spark's own file server into its work folder, and two different files both named
 * {@code model.pt} cannot collide there. The executor names the fetched copy in the spec it loads
 * ({@code SparkFiles.get}) with the digest pinned, so NOS refuses the copy unless its bytes are the
 * ones the driver hashed (see {@link Artifact}: the check runs on a private copy, before libtorch
 * opens it).
 *
 * <p>With shipping off, or an {@code http(s)} artifact, the spec travels as it is: the path must
 * name the same file on every executor (a shared file system). When the driver can read that file
 * and the spec has no digest, the driver's digest is pinned, so that every executor loads the
 * bytes the driver saw or fails.
 *
 * <p>Immutable; the driver-side digest cache is a concurrent map keyed by path, size and
 * modification time.
 */
final class ShippedSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Digests already computed on this driver: path|size|mtime to hex. */
  private static final Map<String, String> DIGESTS = new ConcurrentHashMap<>();

  private final String specJson;
  private final String shippedName;
  private final String session;

  private ShippedSpec(String specJson, String shippedName, String session) {
    this.specJson = specJson;
    this.shippedName = shippedName;
    this.session = session;
  }

  /** Driver side: pins the digest and, when asked, hands the artifact to Spark. */
  static ShippedSpec ship(SparkSession spark, ModelSpec spec, boolean ship) {
    Artifact artifact = spec.artifact();
    Path local = artifact.localPath().map(Path::toAbsolutePath).orElse(null);
    if (local == null || (!ship && !Files.isRegularFile(local))) {
      return new ShippedSpec(spec.toJson(), null, null);
    }
    if (!Files.isRegularFile(local)) {
      throw new IllegalArgumentException("model '" + spec.id() + "': artifact " + local
          + " is not a readable file on the driver; with shipping on the driver hands it to the"
          + " executors, so it must be here (or turn shipping off and give a path every executor"
          + " can read)");
    }
    String sha = artifact.sha256().orElseGet(() -> sha256(local));
    ModelSpec pinned = spec.toBuilder().artifact(Artifact.of(local).withSha256(sha)).build();
    if (!ship) {
      return new ShippedSpec(pinned.toJson(), null, null);
    }
    String name = sha.substring(0, 16) + "-" + local.getFileName();
    String session = addFile(spark, link(local, name).toUri().toString());
    return new ShippedSpec(pinned.toJson(), name, session);
  }

  /**
   * {@code SparkContext.addFile} on behalf of the session. Spark 4 isolates the artifacts of each
   * session (spark.sql.artifact.isolation.enabled, on by default): a file added to the context
   * outside the session's artifact state is not fetched for the session's tasks. Adding it inside
   * the session's state (what Spark's ArtifactManager does for its own files) makes it the
   * session's, and the executors fetch it into a folder named by the session's UUID under
   * {@code SparkFiles.getRootDirectory()}; a session of another kind adds it plainly.
   *
   * @return the session's UUID, or null when the file belongs to no session
   */
  private static String addFile(SparkSession spark, String uri) {
    if (spark instanceof org.apache.spark.sql.classic.SparkSession classic) {
      var artifacts = classic.artifactManager();
      artifacts.withResources((scala.Function0<Object>) () -> {
        spark.sparkContext().addFile(uri);
        return null;
      });
      return artifacts.state().uuid();
    }
    spark.sparkContext().addFile(uri);
    return null;
  }

  /** Executor side: the spec to load, naming the local copy Spark fetched. */
  ModelSpec resolve() {
    ModelSpec spec = ModelSpec.fromJson(specJson);
    if (shippedName == null) {
      return spec;
    }
    Path fetched = Path.of(SparkFiles.get(shippedName));
    if (session != null) {
      Path ofSession = Path.of(SparkFiles.getRootDirectory(), session, shippedName);
      if (Files.isRegularFile(ofSession)) {
        fetched = ofSession;
      }
    }
    String sha = spec.artifact().sha256().orElseThrow();
    return spec.toBuilder().artifact(Artifact.of(fetched).withSha256(sha)).build();
  }

  /** The spec as the user gave it, digest pinned. */
  ModelSpec spec() {
    return ModelSpec.fromJson(specJson);
  }

  String json() {
    return specJson;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ShippedSpec s && s.specJson.equals(specJson)
        && java.util.Objects.equals(s.shippedName, shippedName)
        && java.util.Objects.equals(s.session, session);
  }

  @Override
  public int hashCode() {
    return specJson.hashCode() * 31 + java.util.Objects.hashCode(shippedName);
  }

  /**
   * A link under the digest's name in a folder of this driver process, so that Spark serves the
   * file under a name no other artifact has; the same file gets the same link (addFile then
   * ignores the second add).
   */
  private static Path link(Path file, String name) {
    try {
      Path dir = LinkDir.DIR;
      Path link = dir.resolve(name);
      if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        try {
          Files.createSymbolicLink(link, file);
          link.toFile().deleteOnExit();
        } catch (java.nio.file.FileAlreadyExistsException raced) {
          // another thread made it for the same digest: same bytes, same name
        }
      }
      return link;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot link artifact " + file + " as " + name
          + " for SparkContext.addFile: " + e.getMessage(), e);
    }
  }

  private static final class LinkDir {
    static final Path DIR;

    static {
      try {
        DIR = Files.createTempDirectory("nos-spark-artifacts-");
        DIR.toFile().deleteOnExit();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  static String sha256(Path file) {
    try {
      String key = file + "|" + Files.size(file) + "|" + Files.getLastModifiedTime(file).toMillis();
      String known = DIGESTS.get(key);
      if (known != null) {
        return known;
      }
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      try (InputStream in = Files.newInputStream(file)) {
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) {
          md.update(buf, 0, n);
        }
      }
      String hex = HexFormat.of().formatHex(md.digest());
      DIGESTS.put(key, hex);
      return hex;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot hash artifact " + file + ": " + e.getMessage(), e);
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
