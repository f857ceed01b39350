package ai.nos.optim;

import java.nio.file.Path;

/**
 * Makes one artifact for {@link ArtifactCache#getOrBuild}: compiles, exports or converts a model
 * and writes the result as a regular file at the path it is given.
 *
 * <p>The cache calls a builder only while it holds the key's lock, so at most one builder per key
 * runs at a time across all threads and processes sharing the cache directory. A builder must not
 * call {@code getOrBuild} for its own key (that is reported as an {@link IllegalStateException}).
 */
@FunctionalInterface
public interface ArtifactBuilder {

  /**
   * Writes the artifact to {@code target}.
   *
   * @param target a path that does not exist yet, in a private staging folder of the cache on the
   *     same file system as the cache's entries; the builder creates it as a regular file (not a
   *     link or a folder). Other files it leaves in that folder are deleted.
   * @throws Exception any failure; the cache deletes everything the builder wrote and rethrows it
   *     as an {@link OptimizationException} naming the key
   */
  void build(Path target) throws Exception;
}
