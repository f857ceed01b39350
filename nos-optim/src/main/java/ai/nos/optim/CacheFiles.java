package ai.nos.optim;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * File-tree helpers of the {@link ArtifactCache}. Other processes may delete the same trees at the
 * same time, so a part that vanishes while walked is never an error.
 */
final class CacheFiles {
  private CacheFiles() {}

  /** Deletes everything in {@code folder} except {@code keep}. */
  static void keepOnly(Path folder, Path keep) throws IOException {
    List<Path> others = new ArrayList<>();
    try (DirectoryStream<Path> all = Files.newDirectoryStream(folder)) {
      all.forEach(p -> {
        if (!p.equals(keep)) {
          others.add(p);
        }
      });
    }
    for (Path p : others) {
      deleteTree(p);
    }
  }

  /** Deletes the children of {@code folder} whose names match {@code glob}, if it exists. */
  static void deleteMatching(Path folder, String glob) throws IOException {
    if (!Files.isDirectory(folder)) {
      return;
    }
    List<Path> matches = new ArrayList<>();
    try (DirectoryStream<Path> found = Files.newDirectoryStream(folder, glob)) {
      found.forEach(matches::add);
    }
    for (Path p : matches) {
      deleteTree(p);
    }
  }

  /** The summed size of the regular files under {@code dir}. */
  static long sizeOf(Path dir) throws IOException {
    long[] bytes = {0};
    Files.walkFileTree(dir, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
        bytes[0] += attrs.isRegularFile() ? attrs.size() : 0;
        return FileVisitResult.CONTINUE;
      }
    });
    return bytes[0];
  }

  /** The sidecar's modification time; the epoch for an entry without one, so it goes first. */
  static Instant lastUse(Path dir, String sidecarName) throws IOException {
    Path sidecar = dir.resolve(sidecarName);
    try {
      return Files.getLastModifiedTime(sidecar, LinkOption.NOFOLLOW_LINKS).toInstant();
    } catch (NoSuchFileException e) {
      if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
        throw e;
      }
      return Instant.EPOCH;
    }
  }

  /** Deletes a file or folder tree. */
  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.deleteIfExists(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
        if (e instanceof NoSuchFileException) {
          return FileVisitResult.CONTINUE;
        }
        throw e;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
        if (e != null && !(e instanceof NoSuchFileException)) {
          throw e;
        }
        Files.deleteIfExists(dir);
        return FileVisitResult.CONTINUE;
      }
    });
  }
}
