package ai.nos.benchmarks.djl;

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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * NOS against DJL on the digit CNN on the CPU, one harness for both: {@code latency} is one
 * caller's average call at {@code batch} rows; {@code threadsN} is calls/s of N callers of one
 * image each, with ({@code nos-batched}) or without NOS's dynamic batcher. Every configuration runs
 * in a JVM of its own (JMH forks per parameter set); the intra-op threads are the process's
 * ({@code OMP_NUM_THREADS} in the environment, read by both libtorch builds at start) and each
 * fork prints the count its libtorch reports, so equal settings can be checked in the log.
 * {@code scripts/bench/djl-cpu.sh} runs the rows alternately and repeatedly.
 */
@Fork(1)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@OutputTimeUnit(TimeUnit.SECONDS)
public class CpuVersusBenchmark {

  /** The engine, loaded once per fork and shared by its threads. */
  @State(Scope.Benchmark)
  public static class Engine {
    @Param({"nos", "djl"})
    public String engine;

    Contender contender;

    @Setup(Level.Trial)
    public void load() {
      contender = Contender.load(engine);
      System.out.println("# engine " + engine + ": intra-op threads " + contender.intraOpThreads()
          + ", OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS"));
    }

    @TearDown(Level.Trial)
    public void close() {
      contender.close();
    }
  }

  /** One thread's caller. */
  @State(Scope.Thread)
  public static class Calls {
    @Param({"1"})
    public int batch;

    Contender.Caller caller;

    @Setup(Level.Trial)
    public void open(Engine engine) {
      caller = engine.contender.caller(batch);
    }

    @TearDown(Level.Trial)
    public void close() {
      caller.close();
    }
  }

  @Benchmark
  @BenchmarkMode(Mode.AverageTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public Object latency(Calls calls) {
    return calls.caller.call();
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @Threads(2)
  public Object threads2(Calls calls) {
    return calls.caller.call();
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @Threads(8)
  public Object threads8(Calls calls) {
    return calls.caller.call();
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @Threads(64)
  public Object threads64(Calls calls) {
    return calls.caller.call();
  }
}
