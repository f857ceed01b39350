package ai.nos.benchmarks;

import ai.nos.Batching;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Per-request cost of single-image calls on the digit model (CPU): straight {@code infer}
 * against the same calls through the dynamic batcher (delay 0: a batch is whatever arrived while
 * the previous one ran). Run with several thread counts, e.g.
 * {@code -Djmh.args="BatcherBenchmark -t 64 -f 1 -wi 2 -i 3"} for 1, 8 and 64.
 */
@State(Scope.Benchmark)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class BatcherBenchmark {
  @Param({"direct", "batched"})
  String path;

  private Model model;
  private Tensor image;

  @Setup(Level.Trial)
  public void setUp() {
    ModelSpec spec = DigitInputs.spec();
    if (path.equals("batched")) {
      spec = spec.toBuilder().id("digits-batched").batching(Batching.builder().maxBatchSize(64)
          .maxQueueDelay(Duration.ZERO).build()).build();
    }
    model = Nos.load(spec);
    image = DigitInputs.images(1);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    model.close();
  }

  @Benchmark
  public Map<String, Tensor> singleImage() {
    return model.infer(image);
  }
}
