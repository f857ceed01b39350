package ai.nos.spark;

import ai.nos.DType;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.util.ArrayList;
import java.util.List;
import scala.collection.immutable.ArraySeq;

/**
 * NosTransformer's own per-row cost on the digit job, the model left out: 100,000 rows of 64
 * pixels through the codec (row value, batch of 256, split of the [256, 10] logits) in this JVM,
 * for the two forms Spark hands an {@code array<float>} in (a {@code Float[]} after a typed map, an
 * {@code ArraySeq} of boxed floats from the row decoder). Not a test:
 * {@code java -cp <test class path> ai.nos.spark.CodecBench [rounds]}; prints ms per 100,000 rows.
 */
final class CodecBench {
  private CodecBench() {}

  public static void main(String[] args) {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
    int rows = 100_000;
    TensorCodec in = TensorCodec.of("digits", TensorSpec.of("image", DType.FLOAT32, -1, 1, 8, 8));
    TensorCodec out = TensorCodec.of("digits", TensorSpec.of("logits", DType.FLOAT32, -1, 10));
    Float[][] boxed = new Float[360][64];
    Object[] seqs = new Object[360];
    for (int k = 0; k < 360; k++) {
      for (int p = 0; p < 64; p++) {
        boxed[k][p] = (float) ((k * 7 + p) % 17);
      }
      seqs[k] = ArraySeq.unsafeWrapArray(boxed[k].clone());
    }
    Tensor logits = Tensor.of(new float[256 * 10], 256, 10);
    for (String form : new String[] {"Float[]", "ArraySeq<Float>"}) {
      Object[] values = form.equals("Float[]") ? boxed : seqs;
      long best = Long.MAX_VALUE;
      long bestIn = 0;
      long sink = 0;
      for (int r = 0; r < rounds; r++) {
        long t0 = System.nanoTime();
        long tIn = 0;
        for (int start = 0; start < rows; start += 256) {
          int n = Math.min(256, rows - start);
          long a = System.nanoTime();
          List<Object> batch = new ArrayList<>(n);
          for (int i = 0; i < n; i++) {
            batch.add(in.rowValue(values[(start + i) % 360]));
          }
          sink += in.batch(batch, in.rowShape(batch.get(0))).numel();
          tIn += System.nanoTime() - a;
          Object[] split = out.split(n == 256 ? logits : Tensor.of(new float[n * 10], n, 10), n);
          sink += split.length;
        }
        long t = System.nanoTime() - t0;
        if (t < best) {
          best = t;
          bestIn = tIn;
        }
      }
      System.out.printf("%s: best of %d rounds %.1f ms per %,d rows (rows in and batch %.1f ms,"
          + " split %.1f ms) [%d]%n", form, rounds, best / 1e6, rows, bestIn / 1e6,
          (best - bestIn) / 1e6, sink);
    }
  }
}
