package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Fixtures;
import ai.nos.ModelSpec;
import ai.nos.Optimization;
import ai.nos.Signature;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * {@link ModelGraphs#record} and {@link ModelGraphs#lazy} on the CPU: which recorder each makes,
 * and when each gives up before making one (no recorder off CUDA without a factory, an unfit
 * signature at a load, a recorder that cannot be made).
 */
final class ModelGraphsTest {

  /** Counts the forward passes; returns ten zero logits per row, as the digits model does. */
  private static final class Forward
      implements Function<List<Tensor>, List<Tensor>> {
    final AtomicInteger runs = new AtomicInteger();

    @Override
    public List<Tensor> apply(List<Tensor> inputs) {
      runs.incrementAndGet();
      return List.of(torch.zeros(inputs.get(0).size(0), 10));
    }
  }

  /** Makes {@link GraphBucketsTest.CpuRecorder}s, or fails to when {@code fail} is set. */
  private static final class Factory implements ModelGraphs.RecorderFactory {
    final List<GraphBucketsTest.CpuRecorder> made = Collections.synchronizedList(new ArrayList<>());
    final List<Device> devices = Collections.synchronizedList(new ArrayList<>());
    volatile boolean fail;

    @Override
    @SuppressWarnings("unchecked")
    public <R extends GraphBuckets.Recorder & AutoCloseable> R create(Device device,
        Function<List<Tensor>, List<Tensor>> forward) {
      devices.add(device);
      if (fail) {
        throw new IllegalStateException("no recorder for " + device);
      }
      var r = new GraphBucketsTest.CpuRecorder(forward);
      made.add(r);
      return (R) r;
    }
  }

  private static ModelSpec digits() {
    return Fixtures.digitsOn("cpu").toBuilder().optimize(Optimization.CUDA_GRAPHS).build();
  }

  private static List<GraphBuckets.InputShape> shapes() {
    return List.of(new GraphBuckets.InputShape(new long[] {1, 8, 8}, s -> torch.zeros(s)));
  }

  @Test
  void record_andLazy_offCudaWithoutAFactory_runEagerly_recordingNothing() {
    Forward forward = new Forward();
    assertNull(ModelGraphs.record(digits(), Device.cpu(), null, shapes(), forward));
    assertNull(ModelGraphs.lazy(digits(), Device.cpu(), null, 1, shapes(), forward));
    assertEquals(0, forward.runs.get());
  }

  @Test
  void record_withAFactory_recordsEveryBucketOnItsRecorder() {
    Factory factory = new Factory();
    try (GraphBuckets buckets = ModelGraphs.record(digits(), Device.cpu(), factory, shapes(),
        new Forward())) {
      assertNotNull(buckets);
      assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32}, buckets.sizes());
      assertEquals(List.of(Device.cpu()), factory.devices);
      assertEquals(6, factory.made.get(0).recordings.get());
    }
    assertTrue(factory.made.get(0).closed, "the recorder is closed with its buckets");
  }

  @Test
  void lazy_withAFactory_makesItsRecorder_andRecordsNothingYet() {
    Factory factory = new Factory();
    Forward forward = new Forward();
    try (GraphBuckets buckets = ModelGraphs.lazy(digits(), Device.cpu(), factory, 1, shapes(),
        forward)) {
      assertNotNull(buckets);
      assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32}, buckets.sizes());
      assertEquals(List.of(Device.cpu()), factory.devices);
      assertEquals(0, factory.made.get(0).attempts.get());
      assertEquals(0, forward.runs.get());
    }
    assertTrue(factory.made.get(0).closed, "the recorder is closed with its buckets");
  }

  @Test
  void record_anUnfitSignature_runsEagerly_beforeMakingARecorder() {
    ModelSpec dynamic = digits().toBuilder().signature(Signature.builder()
        .input("image", DType.FLOAT32, -1, 1, -1, 8)
        .output("logits", DType.FLOAT32, -1, 10).build()).build();
    Factory factory = new Factory();
    assertNull(ModelGraphs.record(dynamic, Device.cpu(), factory, shapes(), new Forward()));
    assertEquals(List.of(), factory.devices, "no recorder is made for a signature ruled out");
  }

  @Test
  void record_andLazy_aRecorderThatCannotBeMade_runEagerly() {
    Factory factory = new Factory();
    factory.fail = true;
    Forward forward = new Forward();
    assertNull(ModelGraphs.record(digits(), Device.cpu(), factory, shapes(), forward));
    assertNull(ModelGraphs.lazy(digits(), Device.cpu(), factory, 1, shapes(), forward));
    assertEquals(List.of(Device.cpu(), Device.cpu()), factory.devices);
    assertEquals(0, forward.runs.get());
  }
}
