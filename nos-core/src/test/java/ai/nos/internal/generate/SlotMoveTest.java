package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.testing.TinyLlama;
import ai.nos.testing.WhisperMicro;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * KvCache.move and CrossCache.move on small caches (the committed models' shapes, 5 slots and a
 * scratch slot): every element of a moved slot lands in its destination, every other slot (the
 * sources included, the scratch slot too) keeps its values, and the books follow; the lowest
 * free slot is handed out first; a move that names a free source or a taken destination is
 * refused before anything is copied.
 */
final class SlotMoveTest {

  @Test
  void move_copiesKeysValuesAndSeenRowsIntoTheFreedSlots_andLeavesTheRest() {
    DecoderModel model = DecoderModel.load("tiny-move", TinyLlama.MODEL, Device.cpu(),
        Precision.FP32);
    try (model; KvCache cache = new KvCache(model, 5, 8, true);
        PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      for (int s = 0; s < 5; s++) {
        assertEquals(s, cache.acquire(), "the lowest free slot first");
      }
      assertEquals(-1, cache.acquire());
      fillDistinct(cache.keys(), 0);
      fillDistinct(cache.values(), 1e6);
      // seen: row r marks tokens r, 10 + r and 20 + r
      for (int r = 0; r < cache.rows(); r++) {
        for (int t : new int[] {r, 10 + r, 20 + r}) {
          cache.seen().select(0, r).select(0, t).fill_(new Scalar(1L));
        }
      }
      float[] keys = CrossCacheTest.floats(cache.keys());
      float[] values = CrossCacheTest.floats(cache.values());
      float[] seen = CrossCacheTest.floats(cache.seen().to(torch.ScalarType.Float));
      cache.release(0);
      cache.release(2);
      assertEquals(0, cache.acquire(), "a released slot is the lowest free again");
      cache.release(0);
      int[] from = {4, 3};
      int[] to = {0, 2};
      cache.move(from, to, ids(from), ids(to));
      int[] source = {4, 1, 3, 3, 4, 5}; // where each row's values come from (5: scratch)
      assertMoved(keys, CrossCacheTest.floats(cache.keys()), model.layers(), cache.rows(),
          source);
      assertMoved(values, CrossCacheTest.floats(cache.values()), model.layers(), cache.rows(),
          source);
      assertMoved(seen, CrossCacheTest.floats(cache.seen().to(torch.ScalarType.Float)), 1,
          cache.rows(), source);
      for (int s = 0; s < 5; s++) {
        assertEquals(s < 3, cache.isTaken(s), "slot " + s);
      }
      assertEquals(2, cache.freeSlots());
      assertEquals(3, cache.acquire());
      float[] before = CrossCacheTest.floats(cache.keys());
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> cache.move(new int[] {4}, new int[] {1}, ids(new int[] {4}),
              ids(new int[] {1})));
      assertTrue(e.getMessage().contains("cannot move slots [4] to [1]"), e.getMessage());
      assertThrows(IllegalStateException.class, () -> cache.move(new int[] {3}, new int[] {1},
          ids(new int[] {3}), ids(new int[] {1})));
      assertThrows(IllegalStateException.class, () -> cache.move(new int[] {3, 3},
          new int[] {4, 4}, ids(new int[] {3, 3}), ids(new int[] {4, 4})));
      assertArrayEquals(before, CrossCacheTest.floats(cache.keys()), "a refused move copied");
      assertFalse(cache.isTaken(4));
    }
  }

  @Test
  void crossMove_copiesBothTensorsRows() {
    DecoderModel model = DecoderModel.load("micro-move", WhisperMicro.DIR.resolve(
        "decoder.pt"), Device.cpu(), Precision.FP32);
    try (model; CrossCache cross = new CrossCache(model, 4);
        PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      fillDistinct(cross.keys(), 0);
      fillDistinct(cross.values(), 1e6);
      float[] keys = CrossCacheTest.floats(cross.keys());
      float[] values = CrossCacheTest.floats(cross.values());
      cross.move(ids(new int[] {3, 2}), ids(new int[] {0, 1}));
      int[] source = {3, 2, 2, 3};
      assertMoved(keys, CrossCacheTest.floats(cross.keys()), model.layers(), 4, source);
      assertMoved(values, CrossCacheTest.floats(cross.values()), model.layers(), 4, source);
    }
  }

  /** A move gathered in chunks (here one row each) gives what one gather gives. */
  @Test
  void moveRows_inChunks_equalsOneGather() {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor whole = torch.zeros(new long[] {2, 6, 3}, new TensorOptions(torch.ScalarType.Float));
      fillDistinct(whole, 0);
      Tensor chunked = whole.clone();
      float[] before = CrossCacheTest.floats(whole);
      Tensor from = ids(new int[] {5, 4, 3});
      Tensor to = ids(new int[] {0, 2, 1});
      KvCache.moveRows(whole, 1, from, to);
      KvCache.moveRows(chunked, 1, from, to, 1);
      assertMoved(before, CrossCacheTest.floats(whole), 2, 6, new int[] {5, 3, 4, 3, 4, 5});
      assertArrayEquals(CrossCacheTest.floats(whole), CrossCacheTest.floats(chunked));
    }
  }

  /** Every element of {@code t} (float) set to its own index plus {@code offset}. */
  private static void fillDistinct(Tensor t, double offset) {
    t.copy_(torch.arange(new Scalar(t.numel()), new TensorOptions(torch.ScalarType.Float))
        .add(new Scalar(offset)).view(t.sizes().vec().get()));
  }

  private static Tensor ids(int[] slots) {
    long[] l = new long[slots.length];
    for (int i = 0; i < l.length; i++) {
      l[i] = slots[i];
    }
    return Sampler.longs(l, new long[] {l.length}, ai.nos.internal.torch.TorchRuntime.toTorch(
        Device.cpu()));
  }

  /**
   * {@code after} is {@code before} with row r (of {@code rows}, dimension 0 or 1 of a tensor
   * whose dimensions before the rows multiply to {@code outer}) taken from row
   * {@code source[r]}, element for element.
   */
  private static void assertMoved(float[] before, float[] after, int outer, int rows,
      int[] source) {
    assertEquals(before.length, after.length);
    int inner = before.length / outer / rows;
    for (int o = 0; o < outer; o++) {
      for (int r = 0; r < rows; r++) {
        for (int i = 0; i < inner; i++) {
          int at = (o * rows + r) * inner + i;
          int from = (o * rows + source[r]) * inner + i;
          if (after[at] != before[from]) {
            throw new AssertionError("row " + r + " element " + i + " (outer " + o + ") is "
                + after[at] + ", expected row " + source[r] + "'s " + before[from]);
          }
        }
      }
    }
  }
}
