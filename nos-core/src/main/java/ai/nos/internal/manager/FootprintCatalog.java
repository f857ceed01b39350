package ai.nos.internal.manager;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The measured footprints of models, kept on disk so the next placement knows a model's size
 * before loading it. One JSON object: key (artifact hash, options, device kind) to bytes.
 *
 * <p>Thread-safe. Writes go to a temporary file moved over the old one, so a reader (or a crash)
 * never sees half a file; a file that cannot be read is logged and ignored, never fatal: the
 * catalog is a cache of measurements, and the manager measures again.
 */
public final class FootprintCatalog {
  private static final Logger LOG = LoggerFactory.getLogger(FootprintCatalog.class);
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private final Path file;
  private final Map<String, Long> bytes = new TreeMap<>();

  public FootprintCatalog(Path file) {
    this.file = file;
    if (Files.isRegularFile(file)) {
      try {
        JsonNode root = MAPPER.readTree(file.toFile());
        root.fields().forEachRemaining(e -> {
          if (e.getValue().canConvertToLong() && e.getValue().longValue() > 0) {
            bytes.put(e.getKey(), e.getValue().longValue());
          }
        });
      } catch (IOException | RuntimeException e) {
        LOG.warn("ignoring unreadable footprint catalog {}: {}", file, e.getMessage());
      }
    }
  }

  /** The file's name under the runtime's cache root ({@code ai.nos.NosRuntime#cacheRoot}). */
  public static final String FILE_NAME = "footprints.json";

  public synchronized OptionalLong get(String key) {
    Long b = bytes.get(key);
    return b == null ? OptionalLong.empty() : OptionalLong.of(b);
  }

  /** Records a measurement and writes the file; a failed write is logged, not thrown. */
  public synchronized void put(String key, long measured) {
    Long old = bytes.put(key, measured);
    if (old != null && old == measured) {
      return;
    }
    ObjectNode root = MAPPER.createObjectNode();
    bytes.forEach(root::put);
    try {
      Files.createDirectories(file.getParent());
      Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
      try {
        MAPPER.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), root);
        try {
          Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE,
              StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
      } finally {
        Files.deleteIfExists(tmp);
      }
    } catch (IOException e) {
      LOG.warn("cannot write footprint catalog {}: {}", file, e.getMessage());
    }
  }
}
