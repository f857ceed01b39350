package ai.nos.benchmarks;

import ai.nos.Model;
import ai.nos.Nos;
import ai.nos.Tensor;
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
 * Latency of one {@code infer} call on the digit model on the CPU, by batch size: the whole path a
 * user pays (validation, copy in, forward, copy out). Inputs are made up front.
 */
@State(Scope.Benchmark)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class InferBenchmark {
  @Param({"1", "32", "256"})
  int batch;

  private Model model;
  private Tensor images;

  @Setup(Level.Trial)
  public void setUp() {
    model = Nos.load(DigitInputs.spec());
    images = DigitInputs.images(batch);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    model.close();
  }

  @Benchmark
  public Map<String, Tensor> infer() {
    return model.infer(images);
  }
}
