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
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;
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
 *
 * <h2>Bound</h2>
 * A key holds the artifact's content hash, so every edited, retrained or mutated file is a new
 * key, and a catalog that only grew reached thousands of entries (one developer's: 4,902, of which
 * 4,888 were one model under as many hashes), every one rewritten with each new measurement. The
 * catalog keeps at most {@link #MAX_ENTRIES} (or the count given to the package-private
 * constructor) and drops the least recently measured or used when a put goes past it. The file
 * is written in that order, least recent first, and read back in file order, so the order
 * survives a restart without a second field per key (the format stays key to bytes, readable by
 * older versions). A {@link #get} refreshes a key in memory; the file learns it at the next write.
 * A file over the bound (one written before it) is read keeping its last entries, and written
 * back within the bound at the next measurement.
 *
 * <h2>Concurrent writers</h2>
 * Several managers, in one JVM or several, may share the file. Each keeps its own view and
 * replaces the whole file with it, atomically (the move above), so the file is always one
 * writer's complete view, bounded like every view: the last writer wins, and a measurement
 * another writer made meanwhile is measured again when it is missing. No lock across processes:
 * losing a measurement costs one estimate, a lock could cost a load.
 */
public final class FootprintCatalog {
  private static final Logger LOG = LoggerFactory.getLogger(FootprintCatalog.class);
  private static final JsonFactory JSON = new JsonFactory();

  /**
   * The most entries a catalog keeps (a few hundred bytes each in memory, ~60 in the file): far
   * more models than one machine serves, few enough that a rewrite stays small.
   */
  public static final int MAX_ENTRIES = 1024;

  private final Path file;
  /** In recency order, least recent first: a get or a put moves a key to the end. */
  private final Map<String, Long> bytes;

  public FootprintCatalog(Path file) {
    this(file, MAX_ENTRIES);
  }

  /** A catalog keeping at most {@code maxEntries}; the tests use small bounds. */
  FootprintCatalog(Path file, int maxEntries) {
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be at least 1 but was " + maxEntries);
    }
    this.file = file;
    this.bytes = bounded(maxEntries);
    if (Files.isRegularFile(file)) {
      Map<String, Long> read = bounded(maxEntries);
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

  /** An access-ordered map that drops its least recent entry past {@code max}. */
  private static Map<String, Long> bounded(int max) {
    return new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
        return size() > max;
      }
    };
  }

  /** How many entries the catalog holds now. */
  synchronized int size() {
    return bytes.size();
  }

  public synchronized OptionalLong get(String key) {
    Long b = bytes.get(key);
    return b == null ? OptionalLong.empty() : OptionalLong.of(b);
  }

  /**
   * Records a measurement, dropping the least recent entry past the bound, and writes the file
   * (when the value is new); a failed write is logged, not thrown.
   */
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
