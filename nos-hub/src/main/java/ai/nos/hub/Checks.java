package ai.nos.hub;

import java.net.URI;
import java.util.Locale;

/** Checks of arguments shared by the downloader and the catalog. */
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
