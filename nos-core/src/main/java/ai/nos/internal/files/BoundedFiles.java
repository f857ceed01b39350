package ai.nos.internal.files;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reading a small file whole without trusting its size: {@link Files#size} is 0 for a device or
 * a pipe, which may never end (/dev/zero), and a file can grow between a size check and the read.
 * Stateless.
 */
public final class BoundedFiles {
  private BoundedFiles() {}

  /**
   * The bytes of {@code file}, or null if it holds more than {@code maxBytes}: reads at most one
   * byte past the cap.
   *
   * @throws IOException if it cannot be opened or read
   */
  public static byte[] readAtMost(Path file, int maxBytes) throws IOException {
    byte[] bytes;
    try (InputStream in = Files.newInputStream(file)) {
      bytes = in.readNBytes(maxBytes + 1);
    }
    return bytes.length > maxBytes ? null : bytes;
  }
}
