package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.internal.torch.TorchRuntime;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * {@link PinnedBuffer} where no GPU is (CI): the same program works, the buffer is not pinned, the
 * tensor shares its bytes, and bad shapes and use after close are refused with messages. The
 * pinned path itself is {@code PinnedBufferGpuTest}'s.
 */
final class PinnedBufferTest {

  @Test
  void allocate_zeroFilledWritableNativeOrder_pinnedOnlyWithCuda() {
    try (PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, 4, 1, 8, 8)) {
      assertEquals(TorchRuntime.cudaDeviceCount() > 0, b.isPinned());
      assertEquals(4 * 64 * 4, b.byteSize());
      assertArrayEquals(new long[] {4, 1, 8, 8}, b.shape());
      var view = b.buffer();
      assertFalse(view.isReadOnly());
      assertEquals(ByteOrder.nativeOrder(), view.order());
      assertEquals(0, view.position());
      assertEquals(1024, view.limit());
      for (int i = 0; i < 1024; i++) {
        assertEquals(0, view.get(i));
      }
      assertEquals(Tensor.zeros(DType.FLOAT32, 4, 1, 8, 8), b.tensor());
      assertTrue(b.toString().contains("float32[4, 1, 8, 8]"), b.toString());
    }
  }

  @Test
  void tensor_sharesTheBytes_soARefilledBufferServesTheNextCall() {
    var rows = Fixtures.heldOutDigits();
    try (Model model = Nos.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-pinned").build());
        PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, 16, 1, 8, 8)) {
      Tensor t = b.tensor();
      for (int start : new int[] {0, 16, 100}) {
        Tensor rowsNow = Fixtures.digitBatch(rows, start, 16);
        b.buffer().asFloatBuffer().put(rowsNow.toFloatArray());
        assertEquals(rowsNow, t, "the tensor reads what the buffer holds now");
        assertEquals(model.infer(rowsNow), model.infer(t), "rows " + start);
      }
    }
  }

  @Test
  void tensorOfASmallerShape_readsTheFirstRows() {
    var rows = Fixtures.heldOutDigits();
    try (PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, 8, 1, 8, 8)) {
      b.buffer().asFloatBuffer().put(Fixtures.digitBatch(rows, 0, 8).toFloatArray());
      assertEquals(Fixtures.digitBatch(rows, 0, 3), b.tensor(3, 1, 8, 8));
      assertEquals(DType.FLOAT32, b.tensor(2, 64).dtype());
      var e = assertThrows(IllegalArgumentException.class, () -> b.tensor(9, 1, 8, 8));
      assertEquals("tensor shape [9, 1, 8, 8] needs 2304 bytes but this PinnedBuffer holds 2048"
          + " (float32[8, 1, 8, 8])", e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> b.tensor(2, -1, 8, 8));
      assertTrue(e.getMessage().contains("shape[1] must be >= 0 but was -1"), e.getMessage());
    }
  }

  @Test
  void badShapes_areRefusedWithTheShape() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> PinnedBuffer.allocate(DType.FLOAT32, 4, -3));
    assertEquals("allocate: shape[1] must be >= 0 but was -3 in [4, -3]", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> PinnedBuffer.allocate(DType.UINT8, 1, 1, 1, 1, 1, 1, 1, 1, 1));
    assertTrue(e.getMessage().contains("has rank 9 but a Tensor has rank at most 8"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> PinnedBuffer.allocate(DType.FLOAT32, 1L << 30, 2));
    assertTrue(e.getMessage().contains("holds 8589934592 bytes; a PinnedBuffer holds at most"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> PinnedBuffer.allocate(DType.INT64, Long.MAX_VALUE, Long.MAX_VALUE));
    assertTrue(e.getMessage().contains("bytes; a PinnedBuffer holds at most"), e.getMessage());
    assertThrows(NullPointerException.class, () -> PinnedBuffer.allocate(null, 1));
  }

  @Test
  void emptyShape_isAScalarAndZeroRowsAreAllowed() {
    try (PinnedBuffer scalar = PinnedBuffer.allocate(DType.INT64);
        PinnedBuffer none = PinnedBuffer.allocate(DType.FLOAT32, 0, 3)) {
      assertEquals(8, scalar.byteSize());
      assertEquals(0, scalar.tensor().rank());
      assertEquals(0, none.byteSize());
      assertFalse(none.isPinned(), "nothing to pin");
      assertEquals(0, none.tensor().numel());
    }
  }

  @Test
  void close_isIdempotent_refusesNewViews_andLeavesOldOnesValid() {
    PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, 2, 2);
    b.buffer().asFloatBuffer().put(new float[] {1, 2, 3, 4});
    Tensor before = b.tensor();
    FloatBuffer view = b.buffer().asFloatBuffer();
    b.close();
    b.close();
    assertFalse(b.isPinned());
    assertTrue(b.toString().contains("closed"), b.toString());
    var e = assertThrows(IllegalStateException.class, b::buffer);
    assertEquals("buffer() on a closed PinnedBuffer (float32[2, 2]); allocate a new one",
        e.getMessage());
    assertThrows(IllegalStateException.class, b::tensor);
    assertThrows(IllegalStateException.class, () -> b.tensor(1, 2));
    // Ordinary memory now, still the JVM's: reading and writing it is safe.
    view.put(0, 9);
    assertArrayEquals(new float[] {9, 2, 3, 4}, before.toFloatArray());
  }

  @Test
  void eightThreads_eachWithItsOwnBuffer_getTheAnswersOfOrdinaryTensors() throws Exception {
    var rows = Fixtures.heldOutDigits();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (Model model = Nos.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-p8").build())) {
      List<Future<?>> done = new ArrayList<>();
      for (int w = 0; w < 8; w++) {
        int worker = w;
        done.add(pool.submit(() -> {
          try (PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, 4, 1, 8, 8)) {
            for (int i = 0; i < 100; i++) {
              Tensor expected = Fixtures.digitBatch(rows, (worker * 37 + i) % 300, 4);
              b.buffer().asFloatBuffer().put(expected.toFloatArray());
              assertEquals(model.infer(expected), model.infer(b.tensor()), "call " + i);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
