package ai.nos.internal.manager;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
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
 * catalog is a cache of measurements, and the manager measures again. Read and written with
 * jackson-core's streaming parser and generator, not databind's ObjectMapper: every manager
 * opens the catalog, and databind's first use costs a fresh JVM about 150 ms of class loading
 * (~300 classes) before the first model, for a file of numbers (issue 20 item 5, first result).
 */
public final class FootprintCatalog {
  private static final Logger LOG = LoggerFactory.getLogger(FootprintCatalog.class);
  private static final JsonFactory JSON = new JsonFactory();

  private final Path file;
  private final Map<String, Long> bytes = new TreeMap<>();

  public FootprintCatalog(Path file) {
    this.file = file;
    if (Files.isRegularFile(file)) {
      Map<String, Long> read = new TreeMap<>();
      try (JsonParser p = JSON.createParser(file.toFile())) {
        if (p.nextToken() != JsonToken.START_OBJECT) {
          throw new IOException("expected a JSON object of key to bytes, got "
              + p.currentToken());
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String key = p.currentName();
          JsonToken value = p.nextToken();
          long b = value == JsonToken.VALUE_NUMBER_INT && p.getNumberType()
              != JsonParser.NumberType.BIG_INTEGER ? p.getLongValue() : 0;
          if (b > 0) {
            read.put(key, b);
          }
          p.skipChildren(); // a nested object or array (not ours): skipped whole
        }
        if (p.currentToken() != JsonToken.END_OBJECT) {
          throw new IOException("the object does not end where expected");
        }
        bytes.putAll(read);
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
    try {
      Files.createDirectories(file.getParent());
      Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
      try {
        try (JsonGenerator g = JSON.createGenerator(tmp.toFile(),
            com.fasterxml.jackson.core.JsonEncoding.UTF8).useDefaultPrettyPrinter()) {
          g.writeStartObject();
          for (Map.Entry<String, Long> e : bytes.entrySet()) {
            g.writeNumberField(e.getKey(), e.getValue());
          }
          g.writeEndObject();
        }
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
