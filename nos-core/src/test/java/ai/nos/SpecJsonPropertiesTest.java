package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Seeded random properties of what NOS decodes from outside, beside the mutation fuzzers: every
 * spec the builders accept survives its JSON round trip, and tensor decoding takes any shape
 * (edge values included: 0, -1, Long.MIN_VALUE, Long.MAX_VALUE, products that overflow) to a
 * tensor whose bytes match it or to an IllegalArgumentException with a message.
 */
final class SpecJsonPropertiesTest {
  private static final long[] EDGE_DIMS = {0, 1, -1, -2, 2, 3, 7, 64, Long.MAX_VALUE,
      Long.MIN_VALUE, 1L << 31, 1L << 32, 1L << 62, -1L << 40, Integer.MAX_VALUE};

  @Test
  void generatedSpecs_roundTripThroughJson() {
    SplittableRandom r = new SplittableRandom(0x5EC5);
    int withBatching = 0;
    for (int i = 0; i < 500; i++) {
      ModelSpec spec = randomSpec(r);
      withBatching += spec.batching().isPresent() ? 1 : 0;
      String json = spec.toJson();
      assertEquals(spec, ModelSpec.fromJson(json), json);
    }
    assertTrue(withBatching > 100 && withBatching < 400, "both kinds tried: " + withBatching);
  }

  @Test
  void fromBuffer_anyShape_tensorOrIllegalArgument() {
    SplittableRandom r = new SplittableRandom(0x7E45);
    int made = 0;
    int refused = 0;
    DType[] dtypes = DType.values();
    for (int i = 0; i < 10_000; i++) {
      DType dtype = dtypes[r.nextInt(dtypes.length)];
      long[] shape = new long[r.nextInt(7)];
      for (int d = 0; d < shape.length; d++) {
        shape[d] = r.nextInt(4) == 0 ? EDGE_DIMS[r.nextInt(EDGE_DIMS.length)] : r.nextInt(9);
      }
      int bytes = r.nextInt(3) == 0 ? r.nextInt(4097)
          : (int) Math.min(4096, Math.max(0, product(shape)) * dtype.byteSize());
      Tensor t;
      try {
        t = Tensor.fromBuffer(dtype, ByteBuffer.allocate(bytes), shape);
      } catch (IllegalArgumentException e) {
        assertFalse(e.getMessage() == null || e.getMessage().isBlank(), Arrays.toString(shape));
        refused++;
        continue;
      } catch (RuntimeException e) {
        fail("fromBuffer(" + dtype + ", " + bytes + " bytes, " + Arrays.toString(shape)
            + ") threw " + e, e);
        return;
      }
      made++;
      assertEquals(bytes, t.numel() * dtype.byteSize(), Arrays.toString(shape));
      assertArrayEquals(shape, t.shape());
    }
    assertTrue(made > 1000 && refused > 1000, "made " + made + ", refused " + refused);
  }

  private static long product(long[] shape) {
    long p = 1;
    for (long d : shape) {
      if (d < 0 || (d != 0 && p > Long.MAX_VALUE / d)) {
        return -1;
      }
      p *= d;
    }
    return p;
  }

  private static ModelSpec randomSpec(SplittableRandom r) {
    DType[] dtypes = DType.values();
    Signature.Builder sig = Signature.builder();
    int inputs = 1 + r.nextInt(3);
    for (int i = 0; i < inputs; i++) {
      sig.input("in" + i, dtypes[r.nextInt(dtypes.length)], randomShape(r));
    }
    boolean image = r.nextInt(3) == 0;
    if (image) {
      sig.input("pixels", DType.UINT8, -1, -1, -1, 3);
    }
    sig.output("out", dtypes[r.nextInt(dtypes.length)], randomShape(r));
    StringBuilder id = new StringBuilder();
    for (int i = 0, n = 1 + r.nextInt(12); i < n; i++) {
      id.append((char) ('a' + r.nextInt(26)));
    }
    String[] devices = {"auto", "cpu", "cuda", "cuda:0", "cuda:3"};
    Precision[] precisions = Precision.values();
    ModelSpec.Builder b = ModelSpec.builder().id(id.toString()).artifact(id + ".pt")
        .signature(sig.build()).precision(precisions[r.nextInt(precisions.length)])
        .device(devices[r.nextInt(devices.length)]).replicas(1 + r.nextInt(4));
    java.util.List<Optimization> steps = new java.util.ArrayList<>();
    for (Optimization o : Optimization.values()) {
      if (r.nextInt(3) == 0) {
        steps.add(o);
      }
    }
    b.optimize(steps.toArray(new Optimization[0]));
    if (r.nextBoolean()) {
      b.maxCallBytes(1 + (r.nextLong() >>> 1) % (Long.MAX_VALUE - 1));
    }
    if (image) {
      ImageInput.Resize[] modes = ImageInput.Resize.values();
      ImageInput.Interpolation[] kinds = ImageInput.Interpolation.values();
      int size = 1 + r.nextInt(1024);
      ImageInput.Resize mode = modes[r.nextInt(modes.length)];
      ImageInput.Builder ib = ImageInput.resizeTo(size).resize(mode)
          .interpolation(kinds[r.nextInt(kinds.length)]).bgr(r.nextBoolean())
          .padValue(r.nextInt(256)).normalize(
              new float[] {r.nextFloat(), r.nextFloat(), r.nextFloat()},
              new float[] {0.01f + r.nextFloat(), 0.01f + r.nextFloat(), 0.01f + r.nextFloat()});
      if (mode != ImageInput.Resize.LETTERBOX && r.nextBoolean()) {
        ib.crop(1 + r.nextInt(size));
      }
      b.imageInput("pixels", ib.build());
    }
    if (r.nextBoolean()) {
      int max = 1 + r.nextInt(1024);
      b.batching(Batching.builder().maxBatchSize(max)
          .maxQueueDelay(Duration.ofMillis(r.nextInt(101)))
          .maxQueueSize(max + r.nextInt(100_000)).build());
    }
    return b.build();
  }

  private static long[] randomShape(SplittableRandom r) {
    long[] shape = new long[1 + r.nextInt(4)];
    shape[0] = -1;
    // A row must fit in a Tensor (TensorSpec refuses more): a dimension that would take the row
    // of the widest dtype past that is made dynamic, drawing the same numbers as before.
    long row = Long.BYTES;
    for (int d = 1; d < shape.length; d++) {
      shape[d] = r.nextInt(5) == 0 ? -1 : 1 + r.nextInt(4096);
      if (shape[d] > 0 && row * shape[d] > Integer.MAX_VALUE) {
        shape[d] = -1;
      } else if (shape[d] > 0) {
        row *= shape[d];
      }
    }
    return shape;
  }
}
