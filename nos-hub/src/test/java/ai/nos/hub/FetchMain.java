package ai.nos.hub;

import java.net.URI;
import java.nio.file.Path;

/**
 * Run in a child JVM by {@link DownloaderConcurrencyTest}: fetches one file into a cache and
 * prints the cached path. Arguments: cache directory, URI, sha256, size.
 */
final class FetchMain {

  private FetchMain() {}

  public static void main(String[] args) {
    Downloader downloader = Downloader.builder().cacheDir(Path.of(args[0])).retries(0).build();
    Path path = downloader.fetch(URI.create(args[1]), args[2], Long.parseLong(args[3]));
    System.out.println(path);
  }
}
