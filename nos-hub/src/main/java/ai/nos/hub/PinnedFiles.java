package ai.nos.hub;

import ai.nos.Artifact;
import java.nio.file.Path;
import java.util.HexFormat;

/*
 * The small files of a catalog entry (tokenizer.json, generation_config.json, a labels file) as
 * the facades read them by hub id. The downloader checks a cached file by its size only, so a
 * cached file rewritten at its size would be used as found. The model files are checked by
 * nos-core as it opens them; these are checked here, and the same way: a facade reads the file
 * once into memory (with the bounded reader it already had), the digest of those bytes is
 * compared with the pin the hub fetched the file by, and the very bytes checked are what is
 * parsed. Checking the file and then opening it again would leave a gap in which it could
 * change.
 */
final class PinnedFiles {

  private PinnedFiles() {}

  /**
   * Returns {@code bytes}, read from {@code file}, once their digest is the one {@code file} is
   * pinned by; a file with no pin (a local artifact used in place) is returned unchecked.
   *
   * @param entry the entry's id, for the message
   * @param name the artifact's name in the entry, for the message
   * @throws DownloadException if the digest differs; the message names the entry, the artifact,
   *     the file, the digest expected and the digest found
   */
  static byte[] check(String entry, String name, Artifact file, byte[] bytes) {
    if (file.sha256().isEmpty()) {
      return bytes;
    }
    String expected = file.sha256().get();
    String found = HexFormat.of().formatHex(Transfer.sha256Digest().digest(bytes));
    if (!found.equals(expected)) {
      Path path = file.localPath().orElseThrow();
      throw new DownloadException(entry + ": artifact '" + name + "' file " + path
          + " has sha256 " + found + " but the catalog pins " + expected + ": it changed after"
          + " it was verified; delete it to fetch it again", path.toUri());
    }
    return bytes;
  }

  /** A fetched file's local path. */
  static Path path(Artifact file) {
    return file.localPath().orElseThrow();
  }
}
