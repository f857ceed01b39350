package ai.nos.internal.files;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
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

  /**
   * The bytes of a small file a user's model or catalog names, at most {@code maxBytes}, with
   * failures that name it: "{@code what file} holds more than {@code maxBytes} bytes{@code
   * beyondCap}" and "{@code what file} cannot be read: ...".
   *
   * @param what the file's description ("labels file")
   * @param beyondCap what the size message ends with, its punctuation included
   * @throws IllegalArgumentException if it holds more than {@code maxBytes}
   * @throws UncheckedIOException if it cannot be opened or read
   */
  public static byte[] readSmall(Path file, int maxBytes, String what, String beyondCap) {
    byte[] bytes;
    try {
      bytes = readAtMost(file, maxBytes);
    } catch (IOException e) {
      throw new UncheckedIOException(what + " " + file + " cannot be read: " + e, e);
    }
    if (bytes == null) {
      throw new IllegalArgumentException(what + " " + file + " holds more than " + maxBytes
          + " bytes" + beyondCap);
    }
    return bytes;
  }
}
