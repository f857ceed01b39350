package ai.nos.internal.batch;

import static ai.nos.internal.batch.Batchers.batching;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.Device;
import ai.nos.ImageInput;
import ai.nos.ModelSpec;
import ai.nos.Priority;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Which batch sizes a copy runs, and batches padded up to them and cut back per request. */
final class BatchBucketsTest {
  static final Duration DELAY = Duration.ofMillis(5);
  static final long NONE = Long.MAX_VALUE;

  /** "fixed": x float32[-1, 2] to y float32[-1, 2]: only the batch varies. */
  static ModelSpec fixedSpec(Batching batching) {
    return ModelSpec.builder().id("fixed").artifact("fixed.pt").signature(Signature.builder()
        .input("x", DType.FLOAT32, -1, 2).output("y", DType.FLOAT32, -1, 2).build())
        .batching(batching).build();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "1| 1",
    "2| 1, 2",
    "3| 1, 2, 3",
    "8| 1, 2, 4, 8",
    "256| 1, 2, 4, 8, 16, 32, 64, 128, 256",
    "1000| 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000",
  })
  void derived_powersOfTwoBelowMaxAndMax(int max, String expected) {
    int[] want = Arrays.stream(expected.split(",")).map(String::strip)
        .mapToInt(Integer::parseInt).toArray();
    assertArrayEquals(want, BatchBuckets.derived(max));
  }

  @Test
  void derived_belowOne() {
    assertEquals("maxBatchSize must be >= 1 but was 0",
        assertThrows(IllegalArgumentException.class, () -> BatchBuckets.derived(0)).getMessage());
  }

  @Test
  void forSpec_cudaWithoutPreferredSizes_derivesThem() {
    ModelSpec spec = fixedSpec(batching(256, DELAY).build());
    assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32, 64, 128, 256},
        BatchBuckets.forSpec(spec, Device.cuda(0)).sizes());
  }

  @Test
  void forSpec_cpuWithoutPreferredSizes_hasNone() {
    assertTrue(BatchBuckets.forSpec(fixedSpec(batching(256, DELAY).build()), Device.cpu())
        .isEmpty(), "the CPU keeps running batches at their own size");
  }

  @Test
  void forSpec_preferredSizes_areTheBucketsWithMax_onEveryDevice() {
    ModelSpec spec = fixedSpec(batching(256, DELAY).preferredBatchSizes(32, 64, 128).build());
    for (Device d : List.of(Device.cpu(), Device.cuda(0))) {
      assertArrayEquals(new int[] {32, 64, 128, 256}, BatchBuckets.forSpec(spec, d).sizes(),
          d.toString());
    }
  }

  @Test
  void forSpec_noBatching_orAnotherDimensionVaries_hasNone() {
    ModelSpec unbatched = ModelSpec.builder().id("plain").artifact("p.pt")
        .signature(fixedSpec(batching(8, DELAY).build()).signature()).build();
    assertTrue(BatchBuckets.forSpec(unbatched, Device.cuda(0)).isEmpty());
    ModelSpec varying = Batchers.echoSpec(batching(8, DELAY).build());
    assertTrue(BatchBuckets.forSpec(varying, Device.cuda(0)).isEmpty());
    assertEquals("input 'x' has shape [-1, -1]; a dimension besides the batch varies",
        BatchBuckets.whyNot(varying));
    // A batched spec cannot have it (ModelSpec.build refuses an output's fixed first dimension
    // that not every batch has); whyNot still says so of an unbatched one.
    ModelSpec noBatchOut = ModelSpec.builder().id("pooled").artifact("p.pt")
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 2)
            .output("y", DType.FLOAT32, 2).build()).build();
    assertEquals("output 'y' has shape [2]; its first dimension is not the batch (-1)",
        BatchBuckets.whyNot(noBatchOut));
  }

  @Test
  void forSpec_imageInputCountsAsFixed() {
    ModelSpec spec = ModelSpec.builder().id("img").artifact("img.pt")
        .signature(Signature.builder().input("image", DType.UINT8, -1, -1, -1, 3)
            .output("logits", DType.FLOAT32, -1, 10).build())
        .imageInput("image", ImageInput.resizeTo(32).build())
        .batching(batching(16, DELAY).build()).build();
    assertArrayEquals(new int[] {1, 2, 4, 8, 16},
        BatchBuckets.forSpec(spec, Device.cuda(0)).sizes());
  }

  @Test
  void of_checksItsSizes() {
    assertEquals("batch buckets must be >= 1 and strictly increasing but were [2, 2]",
        assertThrows(IllegalArgumentException.class, () -> BatchBuckets.of(2, 2)).getMessage());
    assertThrows(IllegalArgumentException.class, () -> BatchBuckets.of(0, 2));
    assertTrue(BatchBuckets.of().isEmpty());
  }

  @ParameterizedTest
  @CsvSource({
    // rows, padTo, cutTo (buckets 1, 2, 4, 8, 16)
    "1, 1, 1",
    "3, 4, 3",
    "5, 8, 4",
    "6, 8, 6",
    "9, 16, 8",
    "12, 16, 12",
    "15, 16, 15",
    "16, 16, 16",
  })
  void padOrCut_paddingNeverMoreThanItWouldLeave(int rows, int pad, int cut) {
    BatchBuckets b = BatchBuckets.of(BatchBuckets.derived(16));
    assertEquals(pad, b.padTo(rows));
    assertEquals(cut, b.cutTo(rows));
  }

  @Test
  void layout_largestBucketMustBeMaxBatchSize() {
    var e = assertThrows(IllegalArgumentException.class, () -> DynamicBatcher.builder(
        fixedSpec(batching(8, DELAY).build()), b -> null).buckets(BatchBuckets.of(1, 4))
        .manual());
    assertEquals("model 'fixed': the largest batch bucket of [1, 4] must be"
        + " batching.maxBatchSize (8)", e.getMessage());
  }

  /** Records each batch's size and its assembled input; answers y = x + 1 on every row. */
  static final class PlusOne implements BatchRunner {
    final List<Integer> sizes = new ArrayList<>();
    final List<float[]> inputs = new ArrayList<>();

    @Override
    public Map<String, Tensor> run(Batch batch) {
      Tensor x = batch.concat("x");
      float[] v = x.toFloatArray();
      sizes.add(batch.size());
      inputs.add(v.clone());
      for (int i = 0; i < v.length; i++) {
        v[i] += 1;
      }
      return Map.of("y", Tensor.of(v, x.shape()));
    }
  }

  static Map<String, Tensor> rows(float first, int n) {
    float[] v = new float[n * 2];
    for (int i = 0; i < v.length; i++) {
      v[i] = first + i;
    }
    return Map.of("x", Tensor.of(v, n, 2));
  }

  @Test
  void batch_paddedWithZeroRowsToItsBucket_outputsCutPerRequest() {
    Batchers.FakeClock clock = new Batchers.FakeClock();
    PlusOne runner = new PlusOne();
    DynamicBatcher batcher = DynamicBatcher.builder(fixedSpec(batching(8, DELAY).build()), runner)
        .buckets(BatchBuckets.of(1, 2, 4, 8)).clock(clock).manual();
    var a = batcher.submit(rows(10, 2), Priority.NORMAL, NONE);
    var b = batcher.submit(rows(100, 1), Priority.NORMAL, NONE);
    clock.advance(DELAY);
    assertEquals(1, batcher.dispatchReady());
    assertEquals(List.of(4), runner.sizes, "3 rows run as the bucket of 4");
    assertArrayEquals(new float[] {10, 11, 12, 13, 100, 101, 0, 0}, runner.inputs.get(0),
        "the request rows, then one row of zeros");
    assertArrayEquals(new float[] {11, 12, 13, 14}, a.join().get("y").toFloatArray());
    assertArrayEquals(new long[] {2, 2}, a.join().get("y").shape());
    assertArrayEquals(new float[] {101, 102}, b.join().get("y").toFloatArray());
    assertArrayEquals(new long[] {1, 2}, b.join().get("y").shape());
    assertEquals(3, batcher.stats().rows(), "the requests' rows, not the padding");
  }

  @Test
  void batch_cutToTheBucketBelow_whenPaddingWouldCostMore() {
    Batchers.FakeClock clock = new Batchers.FakeClock();
    PlusOne runner = new PlusOne();
    DynamicBatcher batcher = DynamicBatcher.builder(
        fixedSpec(batching(16, DELAY).build()), runner)
        .buckets(BatchBuckets.of(BatchBuckets.derived(16))).clock(clock).manual();
    List<CompletableFuture<Map<String, Tensor>>> calls = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      calls.add(batcher.submit(rows(i, 1), Priority.NORMAL, NONE));
    }
    clock.advance(DELAY);
    assertEquals(2, batcher.dispatchReady());
    assertEquals(List.of(8, 1), runner.sizes, "9 rows: 8, then the one left, not 16");
    for (int i = 0; i < 9; i++) {
      assertArrayEquals(new float[] {i + 1, i + 2}, calls.get(i).join().get("y").toFloatArray());
    }
  }

  /** Random request sizes and arrivals: every batch the runner sees is a bucket. */
  @Test
  void manyBatches_neverRunASizeOutsideTheBuckets() {
    Batchers.FakeClock clock = new Batchers.FakeClock();
    PlusOne runner = new PlusOne();
    int[] buckets = {1, 2, 4, 8, 16, 32};
    DynamicBatcher batcher = DynamicBatcher.builder(fixedSpec(batching(32, DELAY).build()),
        runner).buckets(BatchBuckets.of(buckets)).clock(clock).manual();
    Random random = new Random(42);
    List<CompletableFuture<Map<String, Tensor>>> calls = new ArrayList<>();
    List<Integer> sent = new ArrayList<>();
    for (int round = 0; round < 200; round++) {
      for (int k = random.nextInt(12); k > 0; k--) {
        int n = 1 + random.nextInt(random.nextInt(4) == 0 ? 32 : 3);
        sent.add(n);
        calls.add(batcher.submit(rows(calls.size() * 100, n), Priority.NORMAL, NONE));
      }
      clock.advance(Duration.ofMillis(random.nextInt(7)));
      batcher.dispatchReady();
    }
    clock.advance(DELAY);
    batcher.dispatchReady();
    assertTrue(runner.sizes.size() > 50, runner.sizes.toString());
    for (int size : runner.sizes) {
      assertTrue(Arrays.binarySearch(buckets, size) >= 0, "batch of " + size + ": "
          + runner.sizes);
    }
    for (int i = 0; i < calls.size(); i++) {
      float[] y = calls.get(i).join().get("y").toFloatArray();
      assertEquals(sent.get(i) * 2, y.length);
      for (int j = 0; j < y.length; j++) {
        assertEquals(i * 100 + j + 1, y[j], "call " + i + " value " + j);
      }
    }
  }
}
