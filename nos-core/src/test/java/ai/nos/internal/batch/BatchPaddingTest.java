package ai.nos.internal.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.NosException;
import ai.nos.Padding;
import ai.nos.Priority;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Batched inputs (concatenated and padded) and outputs split and unpadded per request. */
@Timeout(60)
final class BatchPaddingTest {
  private static final long NONE = Long.MAX_VALUE;

  /**
   * ids int64[-1, -1] padded in dim 1 with -7; hidden float32[-1, -1, 2] unpadded in dim 1 to
   * ids; pooled float32[-1, 2] left alone.
   */
  private static ModelSpec tokens() {
    return ModelSpec.builder().id("tokens").artifact("tokens.pt")
        .signature(Signature.builder().input("ids", DType.INT64, -1, -1)
            .output("hidden", DType.FLOAT32, -1, -1, 2).output("pooled", DType.FLOAT32, -1, 2)
            .build())
        .batching(Batching.builder().maxBatchSize(8).padding(Padding.of("ids", 1, -7))
            .unpad(Padding.unpad("hidden", 1, "ids", 1)).build())
        .build();
  }

  /** hidden[n, l, c] = 10 * ids[n, l] + c; pooled[n, c] = 100 * n + c (n counts batch rows). */
  private static final class TokenRunner implements BatchRunner {
    final List<Tensor> ids = new ArrayList<>();

    @Override
    public Map<String, Tensor> run(Batch batch) {
      Tensor in = batch.concat("ids");
      ids.add(in);
      long[] shape = in.shape();
      long[] v = in.toLongArray();
      float[] hidden = new float[v.length * 2];
      for (int i = 0; i < v.length; i++) {
        hidden[2 * i] = 10 * v[i];
        hidden[2 * i + 1] = 10 * v[i] + 1;
      }
      float[] pooled = new float[(int) shape[0] * 2];
      for (int n = 0; n < shape[0]; n++) {
        pooled[2 * n] = 100 * n;
        pooled[2 * n + 1] = 100 * n + 1;
      }
      Map<String, Tensor> out = new LinkedHashMap<>();
      out.put("hidden", Tensor.of(hidden, shape[0], shape[1], 2));
      out.put("pooled", Tensor.of(pooled, shape[0], 2));
      return out;
    }
  }

  private static Map<String, Tensor> ids(long[] values, long rows, long length) {
    return Map.of("ids", Tensor.of(values, rows, length));
  }

  @Test
  void padding_inputsPaddedToLongest_outputsCutBackPerRequest() {
    TokenRunner runner = new TokenRunner();
    DynamicBatcher batcher = DynamicBatcher.builder(tokens(), runner).manual();
    CompletableFuture<Map<String, Tensor>> a =
        batcher.submit(ids(new long[] {1, 2}, 1, 2), Priority.NORMAL, NONE);
    CompletableFuture<Map<String, Tensor>> b =
        batcher.submit(ids(new long[] {3, 4, 5, 6, 7, 8}, 2, 3), Priority.NORMAL, NONE);
    CompletableFuture<Map<String, Tensor>> c =
        batcher.submit(ids(new long[] {9}, 1, 1), Priority.NORMAL, NONE);
    assertEquals(1, batcher.dispatchReady(), "lengths 2, 3 and 1 share one batch");
    assertEquals(Tensor.of(new long[] {1, 2, -7, 3, 4, 5, 6, 7, 8, 9, -7, -7}, 4, 3),
        runner.ids.get(0));

    assertEquals(Tensor.of(new float[] {10, 11, 20, 21}, 1, 2, 2), a.join().get("hidden"));
    assertEquals(Tensor.of(new float[] {30, 31, 40, 41, 50, 51, 60, 61, 70, 71, 80, 81}, 2, 3, 2),
        b.join().get("hidden"));
    assertEquals(Tensor.of(new float[] {90, 91}, 1, 1, 2), c.join().get("hidden"));
    assertEquals(Tensor.of(new float[] {0, 1}, 1, 2), a.join().get("pooled"));
    assertEquals(Tensor.of(new float[] {100, 101, 200, 201}, 2, 2), b.join().get("pooled"));
    assertEquals(Tensor.of(new float[] {300, 301}, 1, 2), c.join().get("pooled"));
    assertEquals(List.of("hidden", "pooled"), List.copyOf(a.join().keySet()));
  }

  /** A manual batcher over a model of one unpadded input x of 1000 floats a row. */
  private static DynamicBatcher flatBatcher(BatchRunner runner) {
    ModelSpec spec = ModelSpec.builder().id("flat").artifact("flat.pt")
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 1000)
            .output("y", DType.FLOAT32, -1).build())
        .batching(Batching.builder().maxBatchSize(100_000).build()).build();
    return DynamicBatcher.builder(spec, runner).manual();
  }

  /**
   * Submits one request per entry, of that many rows, whose elements count up across the
   * requests (the batch holds 0, 1, 2, ...); returns the rows in all.
   */
  private static int submitCounting(DynamicBatcher batcher, int[] rowsPerRequest) {
    int total = 0;
    for (int rows : rowsPerRequest) {
      float[] v = new float[rows * 1000];
      for (int j = 0; j < v.length; j++) {
        v[j] = total * 1000 + j;
      }
      total += rows;
      batcher.submit(Map.of("x", Tensor.of(v, rows, 1000)), Priority.NORMAL, NONE);
    }
    return total;
  }

  /**
   * Unpadded batches are split by bytes, not by requests, so one large request is copied in
   * parallel too (a 154 MB batch of 256 images sent as one call was copied by one thread): one
   * request, and requests whose blocks straddle the parts, land byte for byte.
   */
  @Test
  void largeUnpaddedBatch_splitByBytes_everyByteInPlace() {
    List<Tensor> seen = new ArrayList<>();
    DynamicBatcher batcher = flatBatcher(batch -> {
      seen.add(batch.concat("x"));
      return Map.of("y", Tensor.zeros(DType.FLOAT32, batch.size()));
    });
    for (int[] rowsPerRequest : new int[][] {{5_000}, {1, 1_777, 3, 2_500, 999, 1, 1_234}}) {
      seen.clear();
      int total = submitCounting(batcher, rowsPerRequest);
      assertEquals(1, batcher.dispatchReady());
      float[] got = seen.get(0).toFloatArray();
      assertEquals(total * 1000, got.length);
      assertTrue(got.length * 4L > 2 * ai.nos.internal.Copies.MIN_PART_BYTES, "splits");
      for (int j = 0; j < got.length; j++) {
        if (got[j] != j) {
          throw new AssertionError(java.util.Arrays.toString(rowsPerRequest) + ": element " + j
              + " is " + got[j]);
        }
      }
    }
  }

  /** A batch large enough to be written by several threads lands byte for byte, padded. */
  @Test
  void largeBatch_writtenInParallelParts_everyRowInPlaceAndPadded() {
    List<Tensor> seen = new ArrayList<>();
    ModelSpec spec = ModelSpec.builder().id("wide").artifact("wide.pt")
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, -1)
            .output("y", DType.FLOAT32, -1).build())
        .batching(Batching.builder().maxBatchSize(64).padding(Padding.of("x", 1, -1)).build())
        .build();
    DynamicBatcher batcher = DynamicBatcher.builder(spec, batch -> {
      seen.add(batch.concat("x"));
      return Map.of("y", Tensor.zeros(DType.FLOAT32, batch.size()));
    }).manual();
    int requests = 48;
    int longest = 200_000;
    for (int i = 0; i < requests; i++) {
      int length = longest - 997 * i;
      float[] v = new float[length];
      for (int j = 0; j < length; j++) {
        v[j] = i * 1_000_000f + j;
      }
      batcher.submit(Map.of("x", Tensor.of(v, 1, length)), Priority.NORMAL, NONE);
    }
    assertEquals(1, batcher.dispatchReady());
    ByteBuffer b = seen.get(0).buffer();
    long bytes = seen.get(0).numel() * 4L;
    assertTrue(bytes > 4 * ai.nos.internal.Copies.MIN_PART_BYTES,
        "large enough to split: " + bytes);
    for (int i = 0; i < requests; i++) {
      int length = longest - 997 * i;
      for (int j = 0; j < longest; j++) {
        float want = j < length ? i * 1_000_000f + j : -1f;
        float got = b.getFloat((i * longest + j) * 4);
        if (want != got) {
          throw new AssertionError("row " + i + " col " + j + ": " + got + " != " + want);
        }
      }
    }
  }

  @Test
  void unpad_outputNotOfPaddedLength_failsTheBatch() {
    DynamicBatcher batcher = DynamicBatcher.builder(tokens(), batch -> Map.of(
        "hidden", Tensor.zeros(DType.FLOAT32, batch.size(), 5, 2))).manual();
    CompletableFuture<Map<String, Tensor>> a =
        batcher.submit(ids(new long[] {1, 2}, 1, 2), Priority.NORMAL, NONE);
    batcher.dispatchReady();
    Throwable e = assertThrows(CompletionException.class, a::join).getCause();
    assertInstanceOf(NosException.class, e);
    assertEquals("model 'tokens' returned output 'hidden' with shape [1, 5, 2] but input 'ids' "
        + "was padded to 2 in dim 1; the unpad rule needs output dim 1 of that size",
        e.getMessage());
  }

  @Test
  void padding_twoDims_eachPaddedWithItsValue() {
    ModelSpec spec = ModelSpec.builder().id("grid").artifact("grid.pt")
        .signature(Signature.builder().input("x", DType.FLOAT16, -1, -1, -1)
            .output("y", DType.FLOAT16, -1, -1, -1).build())
        .batching(Batching.builder().maxBatchSize(4).padding(Padding.of("x", 1, 0.5))
            .padding(Padding.of("x", 2, 0.5)).build())
        .build();
    List<Tensor> seen = new ArrayList<>();
    DynamicBatcher batcher = DynamicBatcher.builder(spec, batch -> {
      seen.add(batch.concat("x"));
      return Map.of("y", seen.get(0));
    }).manual();
    batcher.submit(Map.of("x", Tensor.ofFloat16(new float[] {1, 2}, 1, 1, 2)), Priority.NORMAL,
        NONE);
    batcher.submit(Map.of("x", Tensor.ofFloat16(new float[] {3, 4}, 1, 2, 1)), Priority.NORMAL,
        NONE);
    batcher.dispatchReady();
    assertEquals(Tensor.ofFloat16(new float[] {1, 2, 0.5f, 0.5f, 3, 0.5f, 4, 0.5f}, 2, 2, 2),
        seen.get(0));
  }

  @Test
  void write_intoBufferAtPosition_leavesPositionAndChecksSize() {
    ModelSpec spec = Batchers.echoSpec(Batching.builder().maxBatchSize(4)
        .maxQueueDelay(Duration.ZERO).build());
    ByteBuffer buffer = ByteBuffer.allocateDirect(64).order(ByteOrder.nativeOrder());
    List<long[]> shapes = new ArrayList<>();
    List<Long> sizes = new ArrayList<>();
    DynamicBatcher batcher = DynamicBatcher.builder(spec, batch -> {
      shapes.add(batch.shape("x"));
      sizes.add(batch.byteSize("x"));
      buffer.position(8).limit(8 + (int) batch.byteSize("x"));
      batch.write("x", buffer);
      assertEquals(8, buffer.position());
      assertThrows(IllegalArgumentException.class,
          () -> batch.write("x", ByteBuffer.allocateDirect(4)));
      assertThrows(IllegalArgumentException.class, () -> batch.write("nope", buffer));
      assertEquals(DType.FLOAT32, batch.dtype("x"));
      assertEquals(List.of("x"), batch.inputNames());
      assertEquals(2, batch.rows(1));
      return Map.of("y", batch.concat("x"));
    }).manual();
    batcher.submit(Batchers.request(1, 1, 2), Priority.NORMAL, NONE);
    batcher.submit(Batchers.request(2, 2, 2), Priority.NORMAL, NONE);
    batcher.dispatchReady();
    assertArrayEquals(new long[] {3, 2}, shapes.get(0));
    assertEquals(List.of(24L), sizes);
    float[] written = new float[6];
    buffer.position(8);
    buffer.asFloatBuffer().get(written);
    assertArrayEquals(new float[] {1, 1, 2, 2, 2, 2}, written);
  }

  @Test
  void regions_cropCopiesCommonPartOnly() {
    Tensor src = Tensor.of(new int[] {1, 2, 3, 4, 5, 6}, 2, 3);
    ByteBuffer dst = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    Regions.copy(src.buffer(), 0, src.shape(), dst, 0, new long[] {2, 1}, 4, null);
    assertEquals(Tensor.of(new int[] {1, 4}, 2, 1), Tensor.wrap(DType.INT32, dst, 2, 1));
  }

  @Test
  void regions_padFillLongerThanItsBlock() {
    Tensor src = Tensor.of(new long[] {5}, 1, 1);
    ByteBuffer dst = ByteBuffer.allocateDirect(8 * 1000).order(ByteOrder.nativeOrder());
    Regions.copy(src.buffer(), 0, src.shape(), dst, 0, new long[] {1, 1000}, 8,
        new Regions.Pad(Tensor.of(new long[] {-1}).toByteArray()));
    long[] v = Tensor.wrap(DType.INT64, dst, 1000).toLongArray();
    assertEquals(5, v[0]);
    for (int i = 1; i < v.length; i++) {
      assertTrue(v[i] == -1, "element " + i + " is " + v[i]);
    }
  }
}
