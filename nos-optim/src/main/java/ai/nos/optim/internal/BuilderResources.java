package ai.nos.optim.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Whether TensorRT has the builder resource library for a GPU architecture. TensorRT 10 keeps
 * the kernels it builds with in {@code libnvinfer_builder_resource_sm<NN>.so.*} (or one
 * {@code libnvinfer_builder_resource.so.*} for every architecture) beside {@code libnvinfer}.
 * TensorRT 10.6's redist jar (NOS's version, #22) carries the single file; 10.15's carried only
 * {@code libnvinfer_builder_resource_ptx}, so on H100/H200 its builder returned no engine and
 * said nothing through its logger. Looking first
 * turns that silence into a message naming the file.
 */
final class BuilderResources {
  private BuilderResources() {}

  /**
   * The builder resource missing for {@code arch} on this machine, or null if it is there or
   * this cannot be told (no {@code /proc/self/maps}, libnvinfer not loaded).
   *
   * @param version TensorRT's version, for the file's name
   */
  static String missing(String arch, String version) {
    Path maps = Path.of("/proc/self/maps");
    if (!Files.isReadable(maps)) {
      return null;
    }
    Set<Path> dirs = new LinkedHashSet<>();
    try {
      for (String line : Files.readAllLines(maps)) {
        int at = line.indexOf('/');
        if (at >= 0 && line.contains("/libnvinfer.so")) {
          dirs.add(Path.of(line.substring(at).trim()).getParent());
        }
      }
    } catch (IOException | UncheckedIOException e) {
      return null;
    }
    if (dirs.isEmpty()) {
      return null;
    }
    String path = System.getenv("LD_LIBRARY_PATH");
    if (path != null) {
      for (String dir : path.split(":")) {
        if (!dir.isBlank()) {
          dirs.add(Path.of(dir));
        }
      }
    }
    return missing(arch, new ArrayList<>(dirs), version);
  }

  /**
   * The builder resource missing for {@code arch} in {@code dirs}, or null if one of them holds
   * it.
   */
  static String missing(String arch, List<Path> dirs, String version) {
    String sm = arch.replace("_", "");
    for (Path dir : dirs) {
      if (!Files.isDirectory(dir)) {
        continue;
      }
      try (DirectoryStream<Path> files = Files.newDirectoryStream(dir,
          "libnvinfer_builder_resource{_" + sm + ",}.so*")) {
        if (files.iterator().hasNext()) {
          return null;
        }
      } catch (IOException e) {
        // an unreadable folder holds nothing we can use
      }
    }
    return "libnvinfer_builder_resource_" + sm + ".so" + (version == null ? "" : "." + version);
  }
}
