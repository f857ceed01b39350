package ai.nos.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/*
 * What a file: URI may name: a regular file, checked before it is opened. Opening a FIFO for
 * reading blocks until a writer comes, in a call that no interrupt ends, and a FIFO or a device
 * (/dev/zero, /dev/urandom) may never end; a directory is no file at all. A path swapped for a
 * FIFO between the check and the open is not caught: that takes a hostile local user, who can
 * fill the disk anyway.
 */
final class LocalFiles {

  private LocalFiles() {}

  /**
   * The size of the regular file {@code file}, which {@code uri} names.
   *
   * @throws DownloadException if it does not exist, cannot be read, or is not a regular file
   */
  static long regularFileSize(Path file, URI uri) {
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(file, BasicFileAttributes.class);
    } catch (NoSuchFileException e) {
      throw new DownloadException("file " + file + " does not exist (" + uri + ")", uri, e);
    } catch (IOException e) {
      throw new DownloadException("cannot read " + file + ": " + e, uri, e);
    }
    if (!attributes.isRegularFile()) {
      throw new DownloadException(file + " is not a regular file but "
          + kind(file, attributes) + "; only regular files can be fetched (" + uri + ")", uri);
    }
    return attributes.size();
  }

  /** What a file that is not regular is, as {@code ls -l} would tell. */
  private static String kind(Path file, BasicFileAttributes attributes) {
    if (attributes.isDirectory()) {
      return "a directory";
    }
    try {
      int type = (Integer) Files.getAttribute(file, "unix:mode") & 0170000;
      switch (type) {
        case 0010000: return "a FIFO";
        case 0020000: return "a character device";
        case 0060000: return "a block device";
        case 0140000: return "a socket";
        default: break;
      }
    } catch (IOException | RuntimeException notPosix) {
      // Not a POSIX file system: the generic word below.
    }
    return "a special file";
  }
}
