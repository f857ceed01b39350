package ai.nos.optim;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * The other process of the cross-process tests: it opens the cache at {@code args[0]}, waits
 * until the file {@code args[2]} exists, then calls {@code getOrBuild} for the key of precision
 * {@code args[3]} with {@link #countingBuilder} and prints the artifact's path. With a fifth
 * argument {@code die}, its builder writes half an artifact and halts the JVM instead.
 *
 * <p>Usage: {@code CacheWorker <cacheDir> <countFile> <goFile> <precision> [die]}
 */
final class CacheWorker {
  private CacheWorker() {}

  public static void main(String[] args) throws Exception {
    ArtifactCache cache = ArtifactCache.builder().directory(Path.of(args[0])).build();
    Path countFile = Path.of(args[1]);
    Path go = Path.of(args[2]);
    CacheKey key = ArtifactCacheTest.key(args[3]);
    boolean die = args.length > 4 && args[4].equals("die");
    Files.writeString(Path.of(args[2] + ".ready"), "ready");
    while (!Files.exists(go)) {
      TimeUnit.MILLISECONDS.sleep(2);
    }
    Path artifact = cache.getOrBuild(key, die ? target -> {
      Files.writeString(countFile, "died\n", StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
      Files.writeString(target, "half an eng");
      Runtime.getRuntime().halt(3);
    } : countingBuilder(countFile, "process " + ProcessHandle.current().pid()));
    System.out.println("artifact=" + artifact);
  }

  /**
   * A slow builder that appends {@code who} as a line to {@code countFile}, so the number of
   * lines is the number of builds across processes, then writes {@code "engine"}.
   */
  static ArtifactBuilder countingBuilder(Path countFile, String who) {
    return target -> {
      Files.writeString(countFile, who + "\n", StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
      TimeUnit.MILLISECONDS.sleep(500);
      Files.writeString(target, "engine");
    };
  }
}
