package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A call on a package compiled per batch size, on the CPU with libtorch tensors and a stand-in
 * for the libraries (each row times 2 plus its size, and the sum of the two inputs as a second
 * output): padded to the next size and cut back, run in pieces when larger than the largest,
 * and refused when the inputs or outputs do not have the batch first.
 */
final class AotiBucketsTest {
  private static final int[] SIZES = {1, 4, 8};

  @BeforeAll
  static void natives() {
    TorchRuntime.ensureLoaded();
  }

  @Test
  void eachBatch_runsOnTheNextSizeOrInPieces_andGetsItsOwnRowsBack() {
    for (int n : new int[] {1, 2, 3, 4, 5, 8, 9, 17, 24}) {
      try (PointerScope scope = new PointerScope()) {
        List<Integer> seen = new ArrayList<>();
        Tensor a = rows(n, 3, 0);
        Tensor b = rows(n, 3, 1000);
        List<Tensor> out = AotiBuckets.run(List.of(a, b), SIZES, (size, in) -> {
          seen.add(size);
          assertEquals((long) size, in.get(0).size(0));
          assertEquals((long) size, in.get(1).size(0));
          return List.of(in.get(0).mul(new org.bytedeco.pytorch.Scalar(2.0)),
              in.get(0).add(in.get(1)));
        });
        assertEquals(2, out.size());
        assertArrayEquals(values(a.mul(new org.bytedeco.pytorch.Scalar(2.0))), values(out.get(0)),
            "n=" + n);
        assertArrayEquals(values(a.add(b)), values(out.get(1)), "n=" + n);
        assertEquals(n, out.get(0).size(0));
        List<Integer> want = new ArrayList<>();
        for (int left = n; left > 0; left -= 8) {
          int piece = Math.min(8, left);
          want.add(piece <= 1 ? 1 : piece <= 4 ? 4 : 8);
        }
        assertEquals(want, seen, "sizes used for n=" + n);
      }
    }
  }

  @Test
  void paddedRows_areZeros_andNeverReachTheCaller() {
    try (PointerScope scope = new PointerScope()) {
      float[][] given = new float[1][];
      List<Tensor> out = AotiBuckets.run(List.of(rows(3, 2, 5)), SIZES, (size, in) -> {
        given[0] = values(in.get(0));
        return List.of(in.get(0).clone());
      });
      assertEquals(4 * 2, given[0].length);
      assertEquals(0f, given[0][6]);
      assertEquals(0f, given[0][7]);
      assertEquals(3, out.get(0).size(0));
    }
  }

  @Test
  void inputsThatDisagreeOnTheBatch_areRefused() {
    try (PointerScope scope = new PointerScope()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> AotiBuckets.run(List.of(rows(3, 2, 0), rows(2, 2, 0)), SIZES,
              (size, in) -> in));
      assertTrue(e.getMessage().contains("input 0 has 3 rows and input 1 has 2"),
          e.getMessage());
    }
  }

  @Test
  void outputWithoutTheBatchFirst_isRefusedByIndex() {
    try (PointerScope scope = new PointerScope()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> AotiBuckets.run(List.of(rows(3, 2, 0)), SIZES,
              (size, in) -> List.of(in.get(0), in.get(0).sum())));
      assertTrue(e.getMessage().startsWith("output 1 of the batch-4 library has shape []"),
          e.getMessage());
    }
  }

  private static Tensor rows(int n, int width, int offset) {
    float[] v = new float[n * width];
    for (int i = 0; i < v.length; i++) {
      v[i] = offset + i + 1;
    }
    return torch.from_blob(new FloatPointer(v), new long[] {n, width}).clone();
  }

  private static float[] values(Tensor t) {
    Tensor c = t.contiguous();
    float[] out = new float[(int) c.numel()];
    new FloatPointer(c.data_ptr()).get(out);
    return out;
  }
}
