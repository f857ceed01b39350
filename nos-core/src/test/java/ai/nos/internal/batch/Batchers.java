package ai.nos.internal.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.function.LongSupplier;

/** A fake clock, an echoing runner that records its batches, and the specs the tests batch. */
final class Batchers {
  private Batchers() {}

  /** Model "echo": x float32[-1, -1] to y float32[-1, -1]. */
  static ModelSpec echoSpec(Batching batching) {
    return ModelSpec.builder().id("echo").artifact("echo.pt").signature(Signature.builder()
        .input("x", DType.FLOAT32, -1, -1).output("y", DType.FLOAT32, -1, -1).build())
        .batching(batching).build();
  }

  static Batching.Builder batching(int maxBatchSize, Duration delay) {
    return Batching.builder().maxBatchSize(maxBatchSize).maxQueueDelay(delay);
  }

  /** {@code rows} rows of {@code width} values, every value {@code id}. */
  static Map<String, Tensor> request(float id, int rows, int width) {
    float[] v = new float[rows * width];
    java.util.Arrays.fill(v, id);
    return Map.of("x", Tensor.of(v, rows, width));
  }

  static Map<String, Tensor> request(float id) {
    return request(id, 1, 2);
  }

  /** The id a request's echoed output carries. */
  static float id(Map<String, Tensor> outputs) {
    return outputs.get("y").toFloatArray()[0];
  }

  /** Checks that every request submitted ended under one outcome or still waits. */
  /**
   * Starts {@code batcher.close(timeout)} on a new thread and returns that thread once the
   * batcher says it is closed (at most 10 s), while the close may still be draining.
   */
  static Thread closeInBackground(DynamicBatcher batcher, Duration timeout) {
    Thread closer = new Thread(() -> batcher.close(timeout));
    closer.start();
    org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
      while (!batcher.isClosed()) {
        Thread.onSpinWait();
      }
    });
    return closer;
  }

  static void assertAccounted(DynamicBatcher batcher) {
    BatcherStats s = batcher.stats();
    assertEquals(s.submitted(), s.completed() + s.failed() + s.rejected() + s.expired()
        + s.cancelled() + s.queued(), s.toString());
  }

  /** A clock the test moves. */
  static final class FakeClock implements LongSupplier {
    private long now = 1_000_000_000L;

    @Override
    public synchronized long getAsLong() {
      return now;
    }

    synchronized void advance(Duration d) {
      now += d.toNanos();
    }

    synchronized long now() {
      return now;
    }
  }

  /**
   * Answers y = x and records, per batch, the id of each request (the first value of its rows)
   * and the batch's rows. Throws on any batch holding a poisoned id.
   */
  static final class EchoRunner implements BatchRunner {
    final List<List<Float>> batches = Collections.synchronizedList(new ArrayList<>());
    final List<Integer> sizes = Collections.synchronizedList(new ArrayList<>());
    final Set<Float> poisoned = new CopyOnWriteArraySet<>();

    @Override
    public Map<String, Tensor> run(Batch batch) throws Exception {
      List<Float> ids = new ArrayList<>();
      for (int i = 0; i < batch.requestCount(); i++) {
        ids.add(batch.inputs(i).get("x").toFloatArray()[0]);
      }
      batches.add(ids);
      sizes.add(batch.size());
      for (Float id : ids) {
        if (poisoned.contains(id)) {
          throw new IllegalStateException("poisoned request " + id);
        }
      }
      return Map.of("y", batch.concat("x"));
    }
  }
}
