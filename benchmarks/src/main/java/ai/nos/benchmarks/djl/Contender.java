package ai.nos.benchmarks.djl;

import ai.nos.Batching;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Tensor;
import ai.nos.benchmarks.DigitInputs;
import java.time.Duration;

/**
 * One engine under test with the digit CNN loaded once on the CPU: NOS ({@code nos}; {@code
 * nos-code}: its spec built in code instead of read from digits.json), NOS with its
 * dynamic batcher ({@code nos-batched}: batches of up to 64, queue delay 0, as
 * {@code BatcherBenchmark}) or DJL ({@code djl}). Each benchmark thread makes its own
 * {@link Caller}, since DJL's predictors are not thread-safe; NOS's model is shared as a user
 * shares it.
 */
abstract class Contender implements AutoCloseable {
  /** The engines by name, as the benchmarks' {@code engine} parameter and the scripts give it. */
  static Contender load(String engine) {
    switch (engine) {
      case "nos":
        return new Nos_(DigitInputs.spec());
      case "nos-code": // the same spec built in code, as an application may (no JSON to read)
        return new Nos_(ai.nos.ModelSpec.builder().id("digits")
            .artifact(DigitInputs.models().resolve("digits/digits.pt")).device("cpu")
            .signature(ai.nos.Signature.builder().input("image", ai.nos.DType.FLOAT32, -1, 1, 8, 8)
                .output("logits", ai.nos.DType.FLOAT32, -1, 10).build())
            .build());
      case "nos-batched":
        return new Nos_(DigitInputs.spec().toBuilder().id("digits-batched")
            .batching(Batching.builder().maxBatchSize(64).maxQueueDelay(Duration.ZERO).build())
            .build());
      case "djl":
        return new DjlContender();
      default:
        throw new IllegalArgumentException(
            "engine must be nos, nos-code, nos-batched or djl but was '" + engine + "'");
    }
  }

  /** A caller of {@code batch}-image calls, for one thread. */
  abstract Caller caller(int batch);

  /** The intra-op threads of this engine's libtorch, as libtorch reports them. */
  abstract int intraOpThreads();

  @Override
  public abstract void close();

  /** Calls from one thread; {@link #call} returns what the user gets, with the outputs in Java. */
  interface Caller extends AutoCloseable {
    Object call();

    /** The logits of one call, row-major. */
    float[] logits();

    @Override
    void close();
  }

  private static final class Nos_ extends Contender {
    private final Model model;

    Nos_(ModelSpec spec) {
      model = Nos.load(spec);
    }

    @Override
    Caller caller(int batch) {
      Tensor images = DigitInputs.images(batch);
      return new Caller() {
        @Override
        public Object call() {
          return model.infer(images);
        }

        @Override
        public float[] logits() {
          return model.infer(images).get("logits").toFloatArray();
        }

        @Override
        public void close() {}
      };
    }

    @Override
    int intraOpThreads() {
      return org.bytedeco.pytorch.global.torch.get_num_threads();
    }

    @Override
    public void close() {
      model.close();
    }
  }
}
