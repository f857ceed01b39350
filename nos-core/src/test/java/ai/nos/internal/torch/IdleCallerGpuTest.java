package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Optimization;
import ai.nos.Tensor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A GPU copy with batching runs a lone call on its caller's thread when the call replays a
 * recorded CUDA graph (#20 item 3: the hand-off to a worker and back was two thread wake-ups),
 * and hands it to a warmed worker when it would run eagerly (cuDNN's plans are per thread). Seen
 * from the thread that called: whether it ran a call on the device ({@link
 * CallStreams#lastOnThisThread}). GPU machine only (scripts/gpu/gpu-tests.sh).
 */
@Tag("gpu")
final class IdleCallerGpuTest {
  private static final int ROWS = 64;

  /**
   * Without batching the same holds for the device's call threads (CallThreads, "Replays run on
   * their callers"): a replay on the caller, an eager call on a warmed call thread.
   */
  @Test
  void plainGraphReplay_runsOnTheCaller_eagerCallsOnACallThread() throws Exception {
    Tensor input = Fixtures.digitBatch(Fixtures.heldOutDigits(), 5, ROWS);
    float[] want = null;
    for (boolean graphs : new boolean[] {false, true}) {
      ModelSpec spec = Fixtures.digitsOn("cuda").toBuilder().id("digits-plain-idle-" + graphs)
          .maxBatchSize(ROWS).build();
      if (graphs) {
        spec = spec.toBuilder().optimize(Optimization.CUDA_GRAPHS).build();
      }
      try (Model m = Nos.load(spec)) {
        float[][] got = new float[1][];
        int stream = onAFreshThread(() -> got[0] = m.infer(input).get("logits").toFloatArray());
        if (want == null) {
          want = got[0];
        }
        double err = Fixtures.relativeError(got[0], want);
        System.out.printf("IdleCallerGpuTest plain graphs=%s: the caller's stream %d, relative"
            + " error %.3g%n", graphs, stream, err);
        assertTrue(err <= 1e-6, "relative error " + err);
        if (graphs) {
          assertTrue(stream >= 0, "a replay runs on its caller's thread");
        } else {
          assertEquals(-1, stream, "an eager call goes to a warmed call thread");
        }
      }
    }
  }

  /** Runs {@code call} on a new thread; the stream that thread's last call on cuda:0 ran on. */
  private static int onAFreshThread(Runnable call) throws Exception {
    AtomicInteger stream = new AtomicInteger(-2);
    AtomicReference<Throwable> failed = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        call.run();
        stream.set(CallStreams.lastOnThisThread(0));
      } catch (Throwable e) {
        failed.set(e);
      }
    }, "idle-caller");
    t.start();
    t.join(60_000);
    if (failed.get() != null) {
      throw new AssertionError("the call failed", failed.get());
    }
    return stream.get();
  }

  @Test
  void batchedGraphReplay_runsOnTheCaller_eagerCallsOnAWorker() throws Exception {
    Tensor input = Fixtures.digitBatch(Fixtures.heldOutDigits(), 3, ROWS);
    float[] want;
    try (Model plain = Nos.load(Fixtures.digitsOn("cuda").toBuilder().id("digits-idle-plain")
        .build())) {
      want = plain.infer(input).get("logits").toFloatArray();
    }
    for (boolean graphs : new boolean[] {true, false}) {
      ModelSpec spec = Fixtures.digitsOn("cuda").toBuilder().id("digits-idle-" + graphs)
          .batching(Batching.ofMaxBatchSize(ROWS)).build();
      if (graphs) {
        spec = spec.toBuilder().optimize(Optimization.CUDA_GRAPHS).build();
      }
      try (Model m = Nos.load(spec)) {
        AtomicInteger stream = new AtomicInteger(-2);
        AtomicReference<float[]> got = new AtomicReference<>();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread caller = new Thread(() -> {
          try {
            got.set(m.infer(input).get("logits").toFloatArray());
            stream.set(CallStreams.lastOnThisThread(0));
          } catch (Throwable t) {
            failed.set(t);
          }
        }, "idle-caller-" + graphs);
        caller.start();
        caller.join(60_000);
        if (failed.get() != null) {
          throw new AssertionError("the call failed", failed.get());
        }
        double err = Fixtures.relativeError(got.get(), want);
        System.out.printf("IdleCallerGpuTest graphs=%s: the caller's stream %d, relative error"
            + " %.3g%n", graphs, stream.get(), err);
        assertTrue(err <= 1e-6, "relative error " + err);
        if (graphs) {
          assertTrue(stream.get() >= 0, "a lone replay runs on its caller's thread");
        } else {
          assertEquals(-1, stream.get(), "an eager call goes to a warmed worker");
        }
      }
    }
  }
}
