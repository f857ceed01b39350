package ai.nos;

import java.util.Optional;

/**
 * What this process runs: NOS's version, the version of the libtorch natives on the classpath and
 * the CUDA version they were built for. Get it from {@link Nos#versions()}; put it in a bug
 * report or a startup log line ({@link #toString()} reads {@code "NOS 0.1.0, libtorch 2.10.0,
 * CUDA 13.1"}).
 *
 * @param nos NOS's version, as {@link Nos#version()}
 * @param libtorch libtorch's version, e.g. {@code "2.10.0"}
 * @param cuda the CUDA version the libtorch natives were built for, e.g. {@code "13.1"}; empty
 *     with CPU-only natives. Present even where no GPU is visible: it says what the natives need,
 *     not what the machine has ({@link Nos#devices()} says that)
 */
public record Versions(String nos, String libtorch, Optional<String> cuda) {

  /**
   * @throws IllegalArgumentException if an argument is null
   */
  public Versions {
    if (nos == null || libtorch == null || cuda == null) {
      throw new IllegalArgumentException("versions must not be null but were nos=" + nos
          + ", libtorch=" + libtorch + ", cuda=" + cuda);
    }
  }

  /** {@code "NOS 0.1.0, libtorch 2.10.0, CUDA 13.1"}, or {@code "..., no CUDA"}. */
  @Override
  public String toString() {
    return "NOS " + nos + ", libtorch " + libtorch + ", " + cuda.map(v -> "CUDA " + v)
        .orElse("no CUDA");
  }
}
