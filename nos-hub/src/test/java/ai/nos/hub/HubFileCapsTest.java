package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tokenizer.json and generation_config.json are read with a cap, as the spec and catalog files
 * are: a file larger than any real one is refused by name, not read whole into the heap.
 */
final class HubFileCapsTest {
  private static Path sparse(Path file, long bytes) throws Exception {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(bytes);
    }
    return file;
  }

  @Test
  void generationConfig_overItsCap_isRefusedByName(@TempDir Path dir) throws Exception {
    Path file = sparse(dir.resolve("generation_config.json"),
        GenerationConfigFile.MAX_BYTES + 1L);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfigFile.read(file, 51_865));
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("more than " + GenerationConfigFile.MAX_BYTES),
        e.getMessage());
  }

  @Test
  void tokenizer_overItsCap_isRefusedByName_atTheCapItIsRead(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("tokenizer.json");
    Files.write(file, new byte[4096]);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TextTokenizer.read(file, 4095));
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("more than 4095 bytes"), e.getMessage());
    assertArrayEquals(new byte[4096], TextTokenizer.read(file, 4096));
    assertTrue(TextTokenizer.MAX_TOKENIZER_BYTES >= 64 << 20,
        "the production cap must admit the largest published tokenizers");
  }
}
