package ai.nos.internal.torch;

import ai.nos.Artifact;
import ai.nos.ModelLoadException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Finds a spec's artifact on disk and checks it before libtorch opens it. */
final class Artifacts {
  private Artifacts() {}

  /**
   * The artifact's local file, checked to exist, be a readable regular file, and match its
   * sha256 when the spec gives one.
   *
   * @throws ModelLoadException naming the model and the file
   */
  static Path verifiedFile(String modelId, Artifact artifact) {
    Path file = artifact.localPath().orElseThrow(() -> new ModelLoadException("model '" + modelId
        + "' has artifact " + artifact.uri() + ", which is not a local file; remote artifacts are"
        + " fetched by nos-hub before loading"));
    file = file.toAbsolutePath().normalize();
    if (!Files.isRegularFile(file)) {
      throw new ModelLoadException("model '" + modelId + "': artifact file " + file
          + (Files.exists(file) ? " is not a regular file" : " does not exist"));
    }
    if (!Files.isReadable(file)) {
      throw new ModelLoadException("model '" + modelId + "': artifact file " + file
          + " is not readable");
    }
    if (artifact.sha256().isPresent()) {
      String actual = sha256(modelId, file);
      if (!actual.equals(artifact.sha256().get())) {
        throw new ModelLoadException("model '" + modelId + "': artifact file " + file
            + " has sha256 " + actual + " but the spec expects " + artifact.sha256().get()
            + "; the file is not loaded");
      }
    }
    return file;
  }

  static String sha256(String modelId, Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (IOException e) {
      throw new ModelLoadException("model '" + modelId + "': cannot read artifact file " + file
          + ": " + e.getMessage(), e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required of every JVM", e);
    }
  }
}
