package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The optimizer serves the bytes its cache verified, or nothing: an entry rewritten after the
 * cache checked it against its sidecar is not what was built, and must not be pinned and served.
 */
@Timeout(60)
final class OptimizerCacheSwapTest {

  /**
   * The entry's artifact is swapped, once the cache has verified it, for the unoptimized model
   * (a valid model that computes the same, so the guard passes it). The optimizer hashed the file
   * again to pin it: it returned the swapped bytes as optimized, pinned and guarded, though they
   * were never built nor matched the sidecar. Now the candidate is pinned to the SHA-256 the cache
   * verified, so its load refuses the swapped bytes and says so. The swap runs in the cache's
   * clock, which stamps the entry's last use between its check and its return: another process
   * writing the entry at that moment, made deterministic.
   */
  @Test
  void entrySwappedAfterTheCacheVerifiedIt_isNotServed(@TempDir Path dir) throws IOException {
    Path cacheDir = dir.resolve("cache");
    Optimizer.Result built = Optimizer.builder().freeze(true)
        .cache(ArtifactCache.builder().directory(cacheDir).build()).build()
        .optimize(TestModels.digits());
    String builtSha = built.spec().artifact().sha256().orElseThrow();
    Path source = TestModels.digits().artifact().localPath().orElseThrow();
    String sourceSha = CacheKey.sha256Of(source);

    Optimizer swapped = Optimizer.builder().freeze(true).cache(ArtifactCache.builder()
        .directory(cacheDir).clock(new SwapOnFirstUse(source, built.artifact())).build()).build();
    OptimizationException e = assertThrows(OptimizationException.class,
        () -> swapped.optimize(TestModels.digits()),
        "the swapped bytes were served as optimized");
    assertTrue(e.getMessage().startsWith("optimization step 'freeze' rejected for model 'digits': "
        + built.artifact() + " does not load: "), e.getMessage());
    assertTrue(e.getMessage().contains("has sha256 " + sourceSha + " but the spec expects "
        + builtSha), e.getMessage());
    assertEquals(sourceSha, CacheKey.sha256Of(built.artifact()), "the swap happened");
  }

  /** A clock that copies {@code from} over {@code to} the first time it is read. */
  private static final class SwapOnFirstUse extends Clock {
    private final Path from;
    private final Path to;
    private boolean swapped;

    SwapOnFirstUse(Path from, Path to) {
      this.from = from;
      this.to = to;
    }

    @Override
    public synchronized Instant instant() {
      if (!swapped) {
        swapped = true;
        try {
          Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
      return Instant.now();
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      throw new UnsupportedOperationException();
    }
  }
}
