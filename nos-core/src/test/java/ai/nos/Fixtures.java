package ai.nos;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The committed models the tests load (made by scripts/models/*.py) and specs for them.
 * The folder comes from the system property {@code nos.models.dir}, which the build sets.
 */
public final class Fixtures {
  private Fixtures() {}

  public static Path modelsDir() {
    String dir = System.getProperty("nos.models.dir");
    Path p = dir != null ? Path.of(dir) : Path.of("../models");
    if (!Files.isDirectory(p)) {
      throw new IllegalStateException("models folder " + p.toAbsolutePath() + " not found; set"
          + " -Dnos.models.dir");
    }
    return p;
  }

  public static Path fixture(String name) {
    return modelsDir().resolve("fixtures").resolve(name);
  }

  public static ModelSpec digits() {
    return ModelSpec.fromJson(modelsDir().resolve("digits/digits.json"));
  }

  public static ModelSpec digitsOn(String device) {
    return digits().toBuilder().device(device).build();
  }

  public static ModelSpec twoInTwoOut() {
    return ModelSpec.builder().id("two_in_two_out").artifact(fixture("two_in_two_out.pt"))
        .signature(Signature.builder()
            .input("a", DType.FLOAT32, -1, 4).input("b", DType.FLOAT32, -1, 4)
            .output("sum", DType.FLOAT32, -1, 4).output("mix", DType.FLOAT32, -1, 4).build())
        .device("cpu").build();
  }

  public static ModelSpec dictOut() {
    return ModelSpec.builder().id("dict_out").artifact(fixture("dict_out.pt"))
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 3)
            .output("double", DType.FLOAT32, -1, 3).output("sum", DType.FLOAT32, -1, 1).build())
        .device("cpu").build();
  }

  public static ModelSpec tokens() {
    return ModelSpec.builder().id("tokens").artifact(fixture("tokens.pt"))
        .signature(Signature.builder().input("ids", DType.INT64, -1, -1)
            .output("embedding", DType.FLOAT32, -1, 8).build())
        .device("cpu").build();
  }

  public static ModelSpec raises() {
    return ModelSpec.builder().id("raises").artifact(fixture("raises.pt"))
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 2)
            .output("y", DType.FLOAT32, -1, 2).build())
        .device("cpu").build();
  }

  public static ModelSpec identity(DType dtype) {
    return ModelSpec.builder().id("identity-" + dtype.label()).artifact(fixture("identity.pt"))
        .signature(Signature.builder().input("x", dtype, -1, 3).output("y", dtype, -1, 3).build())
        .device("cpu").build();
  }

  /** The held-out digits: label and 64 raw pixels (0..16) a row. */
  public static List<int[]> heldOutDigits() {
    try {
      List<int[]> rows = new ArrayList<>();
      for (String line : Files.readAllLines(modelsDir().resolve("digits/digits-test.csv"))) {
        if (!line.isBlank() && !line.startsWith("#")) {
          String[] f = line.split(",");
          int[] row = new int[f.length];
          for (int i = 0; i < f.length; i++) {
            row[i] = Integer.parseInt(f[i]);
          }
          rows.add(row);
        }
      }
      return rows;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Rows {@code start..start+n} of the held-out digits as the model's [n,1,8,8] input, starting
   * over at the first row past the last (for batches larger than the 360 rows).
   */
  public static Tensor digitBatch(List<int[]> rows, int start, int n) {
    float[] px = new float[n * 64];
    for (int i = 0; i < n; i++) {
      int[] row = rows.get((start + i) % rows.size());
      for (int p = 0; p < 64; p++) {
        px[i * 64 + p] = row[p + 1] / 16f;
      }
    }
    return Tensor.of(px, n, 1, 8, 8);
  }

  /** max |a - b| / max |b|: the error relative to the output's scale. */
  public static double relativeError(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new AssertionError("lengths differ: " + a.length + " against " + b.length);
    }
    double diff = 0;
    double scale = 0;
    for (int i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    return diff / Math.max(scale, 1e-12);
  }

  public static int argmax(float[] v, int offset, int length) {
    int best = 0;
    for (int i = 1; i < length; i++) {
      if (v[offset + i] > v[offset + best]) {
        best = i;
      }
    }
    return best;
  }
}
