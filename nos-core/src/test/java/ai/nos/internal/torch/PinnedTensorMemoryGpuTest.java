package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.Nos;
import ai.nos.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link PinnedTensorMemory} on a GPU (issue #20, item 1): once a model runs on a CUDA device, a
 * large {@code Tensor.of} is pinned memory and goes to the device with one direct copy (counted
 * by {@link PinnedMemory#directCopies()}), with the answers of the same bytes in ordinary memory
 * (staged); a large output comes back in pinned memory; {@code Tensor.zeros} is zeros even in a
 * reused block; and many large tensors hold at most the bound and go back to the pool once
 * collected. GPU machine only (scripts/gpu/gpu-tests.sh).
 */
@Tag("gpu")
final class PinnedTensorMemoryGpuTest {
  /** 8 MiB of float32 pixels in, 1.25 MiB of logits out: both above the 1 MiB threshold. */
  private static final int ROWS = 32768;

  private static Tensor digits(int offset) {
    return Fixtures.digitBatch(Fixtures.heldOutDigits(), offset, ROWS);
  }


  @Test
  void largeTensors_arePinned_goStraightToTheDevice_andOutputsComeBackPinned()
      throws InterruptedException {
    try (Model m = Nos.load(Fixtures.digitsOn("cuda").toBuilder().id("digits-tmem").build())) {
      Tensor input = digits(0);
      assertTrue(PinnedMemory.isTensorMemory(input.buffer()), "Tensor.of after a load");
      ByteBuffer copy = ByteBuffer.allocateDirect(input.buffer().remaining())
          .order(ByteOrder.nativeOrder());
      copy.put(input.buffer()).flip();
      Tensor ordinary = Tensor.wrap(DType.FLOAT32, copy, input.shape());
      assertFalse(PinnedMemory.isTensorMemory(ordinary.buffer()));
      long before = PinnedMemory.directCopies();
      Tensor logits = m.infer(Map.of("image", input)).get("logits");
      assertEquals(before + 1, PinnedMemory.directCopies(), "one direct copy");
      Tensor staged = m.infer(Map.of("image", ordinary)).get("logits");
      assertEquals(before + 1, PinnedMemory.directCopies(), "ordinary memory is staged");
      double err = Fixtures.relativeError(logits.toFloatArray(), staged.toFloatArray());
      System.out.printf("PinnedTensorMemoryGpuTest: pinned vs staged relative error %.3g%n", err);
      assertTrue(err <= 1e-6, "relative error " + err);
      assertTrue(PinnedMemory.isTensorMemory(logits.buffer()), "a large output is pinned");
      assertEquals(ROWS * 10L * 4, logits.buffer().remaining());

      // Blocks are reused: a zeros tensor in a block that held other bytes is still zeros.
      float[] ones = new float[1 << 19];
      Arrays.fill(ones, 1f);
      for (int i = 0; i < 8; i++) {
        Tensor.of(ones);
      }
      for (int i = 0; i < 5; i++) {
        System.gc();
        Thread.sleep(20);
      }
      for (int i = 0; i < 8; i++) {
        Tensor z = Tensor.zeros(DType.FLOAT32, 1 << 19);
        assertTrue(PinnedMemory.isTensorMemory(z.buffer()));
        float[] values = z.toFloatArray();
        for (float v : values) {
          if (v != 0f) {
            throw new AssertionError("Tensor.zeros read " + v);
          }
        }
      }
    }
  }

  @Test
  void manyLargeTensors_holdAtMostTheBound_andGoBackOnceCollected() throws InterruptedException {
    try (Model m = Nos.load(Fixtures.digitsOn("cuda").toBuilder().id("digits-tmem-many")
        .build())) {
      float[] expected = m.infer(Map.of("image", digits(7))).get("logits").toFloatArray();
      long most = 0;
      for (int i = 0; i < 300; i++) {
        float[] out = m.infer(Map.of("image", digits(7))).get("logits").toFloatArray();
        if (i % 50 == 0) {
          assertTrue(Fixtures.relativeError(out, expected) <= 1e-6, "call " + i);
        }
        most = Math.max(most, PinnedTensorMemory.heldBytes());
        assertTrue(PinnedTensorMemory.heldBytes() <= PinnedTensorMemory.limit(),
            PinnedTensorMemory.heldBytes() + " B held, bound " + PinnedTensorMemory.limit());
      }
      long end = System.nanoTime() + 20_000_000_000L;
      while (PinnedTensorMemory.heldBytes() > (64L << 20) && System.nanoTime() < end) {
        System.gc();
        Thread.sleep(50);
      }
      System.out.printf("PinnedTensorMemoryGpuTest: at most %d B held over 300 calls, %d B"
          + " after collection%n", most, PinnedTensorMemory.heldBytes());
      assertTrue(PinnedTensorMemory.heldBytes() <= (64L << 20),
          PinnedTensorMemory.heldBytes() + " B still held after collection");
    }
  }
}
