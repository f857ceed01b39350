package ai.nos.internal.torch;

import ai.nos.Artifact;
import ai.nos.ModelLoadException;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
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
  /** For tests: runs after a load checked the real path, before it opens the file. */
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

  static String sha256(String modelId, Path file) {
    try (InputStream in = new FileInputStream(file.toFile())) {
      MessageDigest md = newDigest();
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (IOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot read artifact file " + file
          + ": " + e.getMessage(), e);
    }
  }

  static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required of every JVM", e);
    }
  }
}
