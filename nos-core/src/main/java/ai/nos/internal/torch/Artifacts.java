package ai.nos.internal.torch;

import ai.nos.Artifact;
import ai.nos.ModelLoadException;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;

/**
 * Finds a spec's artifact on disk and checks where it is: the checks shared by the manager (before
 * anything reads the file) and every load ({@link VerifiedArtifact}, which checks the bytes).
 *
 * <p>Files are read with {@link FileInputStream}, not NIO channels: a channel is closed when the
 * reading thread's interrupt flag is set ({@code ClosedByInterruptException}), and a load on such
 * a thread would then blame the file for the interrupt.
 */
public final class Artifacts {
  /** For tests: runs after a load verified its bytes, before anything opens them. */
  static volatile Consumer<Path> afterVerification;
  /**
   * For tests: runs after a load (or the manager's early check) checked the real path, before it
   * opens the file.
   */
  static volatile Consumer<Path> beforeRead;

  private Artifacts() {}

  /**
   * The artifact's local file as its real path (links followed), checked to be a readable regular
   * file and, when {@code allowedDirectories} is not empty, to lie inside one of them. Checked on
   * every load: the real path of a link can change between loads.
   *
   * @param allowedDirectories real paths of directories; empty for any
   * @throws ModelLoadException naming the model and the file
   */
  public static Path realFile(String modelId, Artifact artifact, List<Path> allowedDirectories) {
    Path file = artifact.localPath().orElseThrow(() -> new ModelLoadException("model '" + modelId
        + "': artifact " + artifact.uri() + " is not a local file"
        + (allowedDirectories.isEmpty() ? "; remote artifacts are fetched by nos-hub before"
            + " loading" : ", and this manager loads only from " + allowedDirectories)));
    file = file.toAbsolutePath().normalize();
    Path real;
    try {
      real = file.toRealPath();
    } catch (IOException e) {
      real = file;
    }
    if (!allowedDirectories.isEmpty()
        && allowedDirectories.stream().noneMatch(real::startsWith)) {
      throw new ModelLoadException("model '" + modelId + "': artifact " + real + " is outside"
          + " the allowed directories " + allowedDirectories + "; it is not read");
    }
    if (!Files.isRegularFile(real)) {
      throw new ModelLoadException("model '" + modelId + "': artifact file " + file
          + (Files.exists(real) ? " is not a regular file" : " does not exist"));
    }
    if (!Files.isReadable(real)) {
      throw new ModelLoadException("model '" + modelId + "': artifact file " + file
          + " is not readable");
    }
    return real;
  }

  /** Throws if {@code actual}, the sha256 of {@code file}, is not the one the spec pins. */
  static void requireSha256(String modelId, Artifact artifact, Path file, String actual) {
    if (artifact.sha256().isPresent() && !actual.equals(artifact.sha256().get())) {
      throw new ModelLoadException("model '" + modelId + "': artifact file " + file
          + " has sha256 " + actual + " but the spec expects " + artifact.sha256().get()
          + "; the file is not loaded");
    }
  }

  /**
   * The sha256 of {@code file}, which had {@code size} bytes when checked (the manager's early
   * check; {@link VerifiedArtifact} hashes its own copy).
   *
   * @throws ModelLoadException naming the model and the file if it cannot be read or changed
   *     size while it was read
   */
  static String sha256(String modelId, Path file, long size) {
    Consumer<Path> before = beforeRead;
    if (before != null) {
      before.accept(file);
    }
    try (InputStream in = new FileInputStream(file.toFile())) {
      return sha256(modelId, file, size, in, null);
    } catch (IOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot read artifact file " + file
          + ": " + e.getMessage(), e);
    }
  }

  /**
   * The sha256 of what {@code in} reads of {@code file}, which had {@code size} bytes when
   * checked, the bytes also written to {@code copy} if not null. Reads at most one byte more than
   * {@code size}: a file that grew or shrank since (or was swapped for a link to /dev/zero, which
   * never ends) is refused instead of read without bound.
   *
   * @throws ModelLoadException naming the model and the file if its size changed
   */
  static String sha256(String modelId, Path file, long size, InputStream in, OutputStream copy)
      throws IOException {
    MessageDigest md = newDigest();
    long total = 0;
    byte[] buf = new byte[1 << 20];
    for (int n; (n = in.read(buf, 0, (int) Math.min(buf.length, size + 1 - total))) > 0; ) {
      total += n;
      if (total > size) {
        break;
      }
      md.update(buf, 0, n);
      if (copy != null) {
        copy.write(buf, 0, n);
      }
    }
    if (total != size) {
      throw new ModelLoadException("model '" + modelId + "': artifact file " + file + " changed"
          + " while it was read: it had " + size + " bytes when checked, and "
          + (total > size ? "more" : "only " + total) + " were read; it is not loaded");
    }
    return HexFormat.of().formatHex(md.digest());
  }

  static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required of every JVM", e);
    }
  }
}
