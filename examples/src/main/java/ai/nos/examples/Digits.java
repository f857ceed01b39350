package ai.nos.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The held-out digits of {@code models/digits/digits-test.csv}: one image a line,
 * {@code label,p0..p63}, raw pixels 0..16 of an 8x8 image.
 */
final class Digits {
  private final int[] labels;
  private final int[][] pixels;

  private Digits(int[] labels, int[][] pixels) {
    this.labels = labels;
    this.pixels = pixels;
  }

  static Digits read(Path csv) throws IOException {
    List<int[]> rows = new ArrayList<>();
    for (String line : Files.readAllLines(csv)) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split(",");
      if (f.length != 65) {
        throw new IOException(csv + ": expected 65 fields (label and 64 pixels) but got "
            + f.length + " in line '" + line + "'");
      }
      int[] row = new int[65];
      for (int i = 0; i < 65; i++) {
        row[i] = Integer.parseInt(f[i].trim());
      }
      rows.add(row);
    }
    int[] labels = new int[rows.size()];
    int[][] pixels = new int[rows.size()][];
    for (int i = 0; i < rows.size(); i++) {
      labels[i] = rows.get(i)[0];
      pixels[i] = java.util.Arrays.copyOfRange(rows.get(i), 1, 65);
    }
    return new Digits(labels, pixels);
  }

  int size() {
    return labels.length;
  }

  int label(int i) {
    return labels[i];
  }

  /** Images {@code start..start+n} as the model's input: [n,1,8,8] floats, pixel / 16. */
  float[] images(int start, int n) {
    float[] out = new float[n * 64];
    for (int i = 0; i < n; i++) {
      for (int p = 0; p < 64; p++) {
        out[i * 64 + p] = pixels[start + i][p] / 16f;
      }
    }
    return out;
  }

  String ascii(int i) {
    String shades = " .:-=+*#%@";
    StringBuilder sb = new StringBuilder();
    for (int r = 0; r < 8; r++) {
      sb.append("  ");
      for (int c = 0; c < 8; c++) {
        char ch = shades.charAt(Math.min(9, pixels[i][r * 8 + c] * 10 / 17));
        sb.append(ch).append(ch);
      }
      sb.append('\n');
    }
    return sb.toString();
  }
}
