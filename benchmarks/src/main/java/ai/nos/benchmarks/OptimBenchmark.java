package ai.nos.benchmarks;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Optimization;
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
 * The load-time optimization steps on the digit CNN on the CPU (issue #5's CPU benchmark): one
 * {@code infer} call, plain against each step, at batch 1 and 32. Each trial loads its own copy
 * (distinct ids), so the steps' check runs once per trial, outside the measurement.
 * {@code aotinductor} serves the committed AOTInductor package of the same model instead
 * ({@code models/aoti/digits-cpu-portable.pt2}: scalar x86-64-v2 code, so that any CI machine
 * runs it; a package compiled for the machine's own vector units would be faster).
 */
@State(Scope.Benchmark)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class OptimBenchmark {
  @Param({"none", "freeze", "optimize_for_inference", "channels_last", "auto", "aotinductor"})
  String step;

  @Param({"1", "32"})
  int batch;

  private Model model;
  private Tensor images;

  @Setup(Level.Trial)
  public void setUp() {
    ModelSpec.Builder spec = DigitInputs.spec().toBuilder().id("digits-" + step + "-" + batch);
    if (step.equals("aotinductor")) {
      spec.artifact(DigitInputs.models().resolve("aoti/digits-cpu-portable.pt2"));
    } else if (!step.equals("none")) {
      spec.optimize(Optimization.of(step));
    }
    model = Nos.load(spec.build());
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
