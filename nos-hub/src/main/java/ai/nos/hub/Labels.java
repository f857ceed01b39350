package ai.nos.hub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The class labels of a classifier or detector: inline in the entry, or its labels file. */
final class Labels {

  private Labels() {}

  /** The entry's inline labels, else those of its {@value CatalogEntry#LABELS} file, else none. */
  static List<String> of(CatalogEntry entry, Map<String, Path> files) {
    if (!entry.labels().isEmpty()) {
      return entry.labels();
    }
    Path file = files.get(CatalogEntry.LABELS);
    return file == null ? List.of() : read(file);
  }

  /** One label per line, UTF-8; a last empty line is not a label. */
  static List<String> read(Path file) {
    try {
      List<String> lines = new ArrayList<>(Files.readAllLines(file, StandardCharsets.UTF_8));
      if (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) {
        lines.remove(lines.size() - 1);
      }
      return List.copyOf(lines);
    } catch (IOException e) {
      throw new UncheckedIOException("labels file " + file + " cannot be read: " + e, e);
    }
  }

  /** Checks user-given labels. */
  static List<String> check(List<String> labels) {
    if (labels == null) {
      throw new IllegalArgumentException("labels must not be null");
    }
    for (int i = 0; i < labels.size(); i++) {
      if (labels.get(i) == null) {
        throw new IllegalArgumentException("labels[" + i + "] must not be null");
      }
    }
    return List.copyOf(labels);
  }

  /** Checks that a fixed class count of the model matches the labels, if both are known. */
  static void checkCount(String facade, String id, List<String> labels, long classes) {
    if (!labels.isEmpty() && classes > 0 && labels.size() != classes) {
      throw new IllegalArgumentException(facade + ": model '" + id + "' has " + classes
          + " classes but " + labels.size() + " labels were given");
    }
  }

  /** The label of a class: its label, or its index as text when there are no labels. */
  static String label(List<String> labels, int index, String id, int classes) {
    if (labels.isEmpty()) {
      return Integer.toString(index);
    }
    if (labels.size() != classes) {
      throw new IllegalStateException("model '" + id + "' returned " + classes
          + " class scores but has " + labels.size() + " labels");
    }
    return labels.get(index);
  }
}
