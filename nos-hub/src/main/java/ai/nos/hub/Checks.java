package ai.nos.hub;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Checks of arguments shared by the downloader, the catalog and the facades' model folders. */
final class Checks {

  private Checks() {}

  /**
   * Returns an http(s) URL with a host or a file URI that names a file (a path, no query,
   * fragment or NUL), else throws IAE naming it.
   */
  static URI uri(URI uri) {
    if (uri == null) {
      throw new IllegalArgumentException("uri must not be null");
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    boolean http = (scheme.equals("http") || scheme.equals("https")) && uri.getHost() != null;
    boolean file = scheme.equals("file") && uri.getPath() != null && uri.getRawAuthority() == null;
    if (!http && !file) {
      throw new IllegalArgumentException(
          "uri must be an http(s) URL with a host or a file URI but was '" + uri + "'");
    }
    if (file) {
      try {
        java.nio.file.Paths.get(uri);
      } catch (IllegalArgumentException e) {
        // A query, a fragment or a NUL: Paths.get's own message does not name the URI.
        throw new IllegalArgumentException("file URI '" + uri + "' names no file: "
            + e.getMessage(), e);
      }
    }
    return uri;
  }

  /**
   * Refuses a model folder that is not there before a file in it is read, naming the folder (and,
   * for a relative one, where it was looked for) and what it must hold: a missing folder used to
   * be reported as its first file missing ("tokenizer file models/llama/tokenizer.json does not
   * exist").
   *
   * @param what the folder's kind, e.g. {@code "text generator"}
   * @param holds what the folder must hold, e.g. {@code "model.pt and tokenizer.json"}
   */
  static void modelDirectory(Path dir, String what, String holds) {
    if (!Files.isDirectory(dir)) {
      String where = dir.isAbsolute() ? "" : " (" + dir.toAbsolutePath() + ")";
      throw new IllegalArgumentException(what + " directory " + dir + where
          + (Files.exists(dir) ? " is not a directory" : " does not exist")
          + "; it must hold " + holds);
    }
  }

  /** Returns 64 hex characters in lower case, else throws IAE naming the value. */
  static String sha256(String sha256) {
    String hex = sha256 == null ? null : sha256.toLowerCase(Locale.ROOT);
    if (hex == null || hex.length() != 64 || !hex.chars().allMatch(Checks::isHex)) {
      throw new IllegalArgumentException("sha256 must be 64 hex characters but was "
          + (sha256 == null ? "null" : "'" + shorten(sha256) + "' (" + sha256.length()
          + " characters)"));
    }
    return hex;
  }

  private static boolean isHex(int c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }

  /** A value shortened for a message, so that a huge input makes a short one. */
  static String shorten(String s) {
    return s.length() <= 80 ? s : s.substring(0, 80) + "...";
  }
}
