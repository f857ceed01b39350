package ai.nos.internal.files;

import java.nio.file.Path;
import java.util.Map;

/**
 * The one rule for where NOS's caches live unless the application says otherwise
 * ({@code ai.nos.NosRuntime.Builder#cacheRoot}): {@code $XDG_CACHE_HOME/nos} when that variable
 * holds an absolute path (as the XDG spec asks; a relative or blank one is ignored), else
 * {@code <home>/.cache/nos}. Footprints, downloads, optimized artifacts and AOTInductor packages
 * all live under it.
 */
public final class CacheRoot {
  private CacheRoot() {}

  /** The root for this environment and home folder. */
  public static Path of(Map<String, String> env, String userHome) {
    String xdg = env.get("XDG_CACHE_HOME");
    if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) {
      return Path.of(xdg, "nos");
    }
    return Path.of(userHome, ".cache", "nos");
  }
}
