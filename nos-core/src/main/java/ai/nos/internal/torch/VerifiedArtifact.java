package ai.nos.internal.torch;

import ai.nos.Artifact;
import ai.nos.ModelLoadException;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.function.Consumer;

/**
 * An artifact's bytes as one load read them: copied, while being hashed, into a private file that
 * only this process writes, and checked against the spec's sha256 there. libtorch and the
 * AOTInductor extraction open the copy, never the artifact's own file, so what runs is what was
 * verified even if the file is rewritten or swapped meanwhile (checking the file and then letting
 * libtorch open it by name loaded swapped bytes in 3 of 44 racing loads).
 *
 * <h2>Where the copy lives</h2>
 * In a fresh folder under {@code java.io.tmpdir}, created with permissions {@code rwx------}
 * (an unpredictable name, made atomically), and deleted by {@link #close} once libtorch holds the
 * model: its disk space is needed for the length of one load. Bytes are read and written with
 * plain streams, which a thread's interrupt flag does not close (NIO channels it does).
 *
 * <h2>Cost</h2>
 * The file is read once: hashing and copying share the pass. Measured on the 2-core build VM for
 * a 100 MB file in the page cache (five runs, JDK 17): hashing alone 115 to 180 ms, hashing while
 * copying plus deleting the copy 196 to 277 ms, so the copy adds about 30 to 90 ms per 100 MB.
 * A load used to hash the file up to three times (the manager's check, the footprint key, the
 * load's check); now the manager's check and the footprint key share one hash, cached per file
 * version, and each load hashes its copy once.
 *
 * <p>The copy takes exactly the bytes the file had when its real path was checked: one that grew
 * or shrank before the copy ended (a writer still at work, or a swap for a link to /dev/zero,
 * which would fill the temporary folder) is refused.
 *
 * <h2>What it does not cover</h2>
 * The real path is resolved, checked against the allowed directories, then opened: swapping the
 * file, or a directory of that path, for a link in between needs write access to a directory
 * inside the allowed ones, which can place a file there anyway. Without a sha256 the bytes read
 * may then come from outside the allowed directories (Java opens no file without following
 * links but through NIO channels, which a thread's interrupt closes), and a FIFO swapped in
 * blocks the open until a writer comes. The artifact's bytes are not checked when the spec pins
 * no sha256.
 */
public final class VerifiedArtifact implements AutoCloseable {
  private final Path origin;
  private final Path copy;
  private final String sha256;

  private VerifiedArtifact(Path origin, Path copy, String sha256) {
    this.origin = origin;
    this.copy = copy;
    this.sha256 = sha256;
  }

  /**
   * Reads the spec's artifact into a private copy, checking its real path against
   * {@code allowedDirectories} (empty: any) and its bytes against the spec's sha256, if pinned.
   *
   * @throws ModelLoadException naming the model and the file, if it is not local, outside the
   *     allowed directories, unreadable, or not the bytes the spec pins; nothing is left behind
   */
  public static VerifiedArtifact open(String modelId, Artifact artifact,
      List<Path> allowedDirectories) {
    Path origin = Artifacts.realFile(modelId, artifact, allowedDirectories);
    long checkedSize;
    try {
      checkedSize = Files.size(origin);
    } catch (IOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot read artifact file " + origin
          + ": " + e, e);
    }
    Path dir;
    try {
      dir = privateFolder();
    } catch (IOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot make a private folder under "
          + System.getProperty("java.io.tmpdir") + " for the verified copy of " + origin + ": "
          + e, e);
    }
    Path copy = dir.resolve(origin.getFileName().toString());
    boolean verified = false;
    try {
      Consumer<Path> before = Artifacts.beforeRead;
      if (before != null) {
        before.accept(origin);
      }
      String sha256 = copy(modelId, origin, checkedSize, copy);
      Artifacts.requireSha256(modelId, artifact, origin, sha256);
      Consumer<Path> hook = Artifacts.afterVerification;
      if (hook != null) {
        hook.accept(origin);
      }
      verified = true;
      return new VerifiedArtifact(origin, copy, sha256);
    } finally {
      if (!verified) {
        delete(copy);
      }
    }
  }

  private static Path privateFolder() throws IOException {
    Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
    try {
      return Files.createTempDirectory(tmp, "nos-verified-",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    } catch (UnsupportedOperationException e) {
      return Files.createTempDirectory(tmp, "nos-verified-");
    }
  }

  /**
   * Copies {@code from}, which had {@code size} bytes when checked, to {@code to} and returns the
   * sha256 of the bytes written. Reads at most one byte more than {@code size}: a file that grew
   * or shrank meanwhile (or was swapped for a link to /dev/zero, which never ends) is refused.
   */
  private static String copy(String modelId, Path from, long size, Path to) {
    try (InputStream in = new FileInputStream(from.toFile());
        OutputStream out = new FileOutputStream(to.toFile())) {
      return Artifacts.sha256(modelId, from, size, in, out);
    } catch (IOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot read artifact file " + from
          + " into its private copy " + to + ": " + e.getMessage(), e);
    }
  }

  /** The private copy: what libtorch opens. */
  public Path path() {
    return copy;
  }

  /** The artifact's real path, for messages. */
  public Path origin() {
    return origin;
  }

  /** The sha256 of the copy's bytes. */
  public String sha256() {
    return sha256;
  }

  /**
   * Whether the copy is a compiled artifact (an AOTInductor package, or a format found on the
   * class path, such as nos-optim's TensorRT engines) and not TorchScript: TorchScript passes do
   * not apply to it.
   */
  public boolean isCompiled() {
    return CompiledFormats.find(origin, copy) != null;
  }

  /** Deletes the copy; idempotent. */
  @Override
  public void close() {
    delete(copy);
  }

  private static void delete(Path copy) {
    try {
      Files.deleteIfExists(copy);
      Files.deleteIfExists(copy.getParent());
    } catch (IOException e) {
      // A leftover copy in the temporary folder costs disk space only; the load goes on.
    }
  }
}
