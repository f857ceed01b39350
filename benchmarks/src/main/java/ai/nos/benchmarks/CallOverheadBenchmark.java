package ai.nos.benchmarks;

import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Signature;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What one {@code infer} costs outside the model: the identity fixture (a clone of a float32
 * [1,3] input) on the CPU, so that validation, the copies in and out, the native objects of a
 * call and their scope are all that is timed. Compare JavaCPP's per-allocation RSS check on and
 * off: {@code -jvmArgsAppend -Dorg.bytedeco.javacpp.maxPhysicalBytes=4g} keeps it (NOS turns it
 * off unless the application sets a limit).
 */
@State(Scope.Benchmark)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class CallOverheadBenchmark {
  private Model model;
  private Tensor input;

  @Setup(Level.Trial)
  public void setUp() {
    model = Nos.load(ModelSpec.builder().id("identity-overhead")
        .artifact(DigitInputs.models().resolve("fixtures/identity.pt"))
        .signature(Signature.builder().input("x", DType.FLOAT32, -1, 3)
            .output("y", DType.FLOAT32, -1, 3).build())
        .device("cpu").build());
    input = Tensor.of(new float[] {1, 2, 3}, 1, 3);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    model.close();
  }

  @Benchmark
  public Map<String, Tensor> infer() {
    return model.infer(input);
  }
}
