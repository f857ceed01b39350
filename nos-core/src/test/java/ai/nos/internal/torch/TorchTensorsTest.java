package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.DType;
import ai.nos.Tensor;
import ai.nos.internal.Copies;
import java.nio.ByteBuffer;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The chunked host-to-device copy of large inputs, run on the CPU (unpinned host buffer, CPU
 * "device"): chunks of any size, element boundaries or not, give the input byte for byte, in its
 * shape, cast as asked. On a GPU the same code copies each chunk asynchronously from pinned
 * memory (CudaModelTest and the benchmarks run it there).
 */
@Timeout(60)
final class TorchTensorsTest {

  @Test
  void chunkedCopy_anyChunkSize_givesTheInputBack_inItsShape_andCast() {
    TorchRuntime.ensureLoaded();
    float[] values = new float[6 * 3 * 50 * 50];
    Random random = new Random(3);
    for (int i = 0; i < values.length; i++) {
      values[i] = random.nextFloat() * 100 - 50;
    }
    Tensor input = Tensor.of(values, 6, 3, 50, 50);
    ByteBuffer src = input.buffer();
    long bytes = src.remaining();
    TorchTensors.Ranges fill = (dst, from, to) -> Copies.copy(src, src.position() + (int) from,
        dst, dst.position() + (int) from, (int) (to - from));
    try (PointerScope scope = new PointerScope();
        org.bytedeco.pytorch.Device cpu = new org.bytedeco.pytorch.Device("cpu")) {
      // Whole, eighths, and sizes that split elements (7 bytes: every float straddles).
      for (long chunk : new long[] {bytes, bytes / 8 + 1, 4_099, 7}) {
        org.bytedeco.pytorch.Tensor t = TorchTensors.chunked(input.shape(), DType.FLOAT32, bytes,
            fill, cpu, DType.FLOAT32, chunk, false);
        Tensor back = TorchTensors.fromTorch(t, DType.FLOAT32);
        assertArrayEquals(input.shape(), back.shape(), "chunk " + chunk);
        assertArrayEquals(values, back.toFloatArray(), "chunk " + chunk);
      }
      org.bytedeco.pytorch.Tensor half = TorchTensors.chunked(input.shape(), DType.FLOAT32,
          bytes, fill, cpu, DType.FLOAT16, 65_537, false);
      assertEquals(DType.FLOAT16, TorchTensors.dtype(half.scalar_type()));
      float[] rounded = TorchTensors.fromTorch(half.to(TorchTensors.scalarType(DType.FLOAT32)),
          DType.FLOAT32).toFloatArray();
      for (int i = 0; i < values.length; i++) {
        assertEquals(values[i], rounded[i], Math.abs(values[i]) * 1e-3 + 1e-3, "element " + i);
      }
    }
  }

  @Test
  void smallOrCpuInputs_takeTheSingleCopy_andGiveTheSameBytes() {
    TorchRuntime.ensureLoaded();
    Tensor input = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
    ByteBuffer src = input.buffer();
    try (PointerScope scope = new PointerScope();
        org.bytedeco.pytorch.Device cpu = new org.bytedeco.pytorch.Device("cpu")) {
      org.bytedeco.pytorch.Tensor t = TorchTensors.staged(input.shape(), DType.FLOAT32, 24,
          (dst, from, to) -> Copies.copy(src, src.position() + (int) from, dst,
              dst.position() + (int) from, (int) (to - from)), cpu, DType.FLOAT32);
      assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6},
          TorchTensors.fromTorch(t, DType.FLOAT32).toFloatArray());
    }
  }
}
