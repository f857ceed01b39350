package ai.nos.internal.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

final class BoundedFilesTest {
  @TempDir
  Path dir;

  @Test
  void readAtMost_atTheCap_isRead_pastIt_isNull() throws IOException {
    Path file = Files.write(dir.resolve("f"), new byte[] {1, 2, 3});
    assertArrayEquals(new byte[] {1, 2, 3}, BoundedFiles.readAtMost(file, 3));
    assertNull(BoundedFiles.readAtMost(file, 2));
  }

  @Test
  void readSmall_withinTheCap_isItsBytes() throws IOException {
    Path file = Files.write(dir.resolve("labels.txt"), new byte[] {'a', '\n'});
    assertArrayEquals(new byte[] {'a', '\n'},
        BoundedFiles.readSmall(file, 2, "labels file", ", the most read"));
  }

  @Test
  void readSmall_pastTheCap_namesTheFileAndTheCap() throws IOException {
    Path file = Files.write(dir.resolve("labels.txt"), new byte[3]);
    var e = assertThrows(IllegalArgumentException.class,
        () -> BoundedFiles.readSmall(file, 2, "labels file", ", the most read"));
    assertEquals("labels file " + file + " holds more than 2 bytes, the most read",
        e.getMessage());
  }

  @Test
  void readSmall_unreadable_namesTheFile() {
    Path missing = dir.resolve("generation_config.json");
    var e = assertThrows(UncheckedIOException.class,
        () -> BoundedFiles.readSmall(missing, 2, "generation config", "; a few KB"));
    assertTrue(e.getMessage().startsWith("generation config " + missing + " cannot be read: "),
        e.getMessage());
  }
}
