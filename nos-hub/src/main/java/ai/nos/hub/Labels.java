package ai.nos.hub;

import ai.nos.Artifact;
import ai.nos.internal.files.BoundedFiles;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The class labels of a classifier or detector: inline in the entry, or its labels file. */
final class Labels {

  private Labels() {}

  /**
   * The largest labels file read: ImageNet's 1000 labels take about 10 KB, and even a
   * vocabulary-sized label list stays far below this.
   */
  static final int MAX_BYTES = 16 << 20;

  /**
   * The entry's inline labels, else those of its {@value CatalogEntry#LABELS} file (checked
   * against the digest it was fetched by: {@link PinnedFiles}), else none.
   *
   * @throws DownloadException if the file's bytes are not those it is pinned to
   */
  static List<String> of(CatalogEntry entry, Map<String, Artifact> files) {
    if (!entry.labels().isEmpty()) {
      return entry.labels();
    }
    Artifact file = files.get(CatalogEntry.LABELS);
    if (file == null) {
      return List.of();
    }
    Path path = PinnedFiles.path(file);
    return parse(PinnedFiles.check(entry.id(), CatalogEntry.LABELS, file, bytes(path)), path);
  }

  /** One label per line, UTF-8; a last empty line is not a label. */
  static List<String> read(Path file) {
    return parse(bytes(file), file);
  }

  private static byte[] bytes(Path file) {
    return BoundedFiles.readSmall(file, MAX_BYTES, "labels file",
        ", the most a labels file is read with");
  }

  /** The lines of a file's bytes, as {@code Files.readAllLines} splits them. */
  private static List<String> parse(byte[] bytes, Path file) {
    try {
      CharBuffer text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes));
      List<String> lines = new ArrayList<>();
      BufferedReader reader = new BufferedReader(new StringReader(text.toString()));
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        lines.add(line);
      }
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
