package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Fixtures;
import ai.nos.InferenceException;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Optimization;
import ai.nos.PinnedBuffer;
import ai.nos.Precision;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A GPU call's copies (issue #20 item 3, docs/vit-call-path.md): an input in pinned memory goes
 * to the device asynchronously and stays held until the call's stream is done
 * ({@link PendingCopies}), on a failing call too; a call that replays a recorded graph converts
 * its input (dtype, layout) while copying it into the graph's static input, with no cast of its
 * own. GPU machine only (scripts/gpu/gpu-tests.sh).
 */
@Tag("gpu")
final class CallCopiesGpuTest {
  private static final int ROWS = 4096; // 1 MiB of float32 pixels, the digit model's [n,1,8,8]

  private static void fill(PinnedBuffer b, Tensor t) {
    b.buffer().clear();
    b.buffer().put(t.buffer());
  }

  /**
   * Each call refills the same buffer with other digits: an answer read from the bytes of an
   * earlier call, or from bytes released before the copy was done, would differ from the CPU's.
   */
  @Test
  void pinnedInput_isCopiedAsynchronously_withTheCpusAnswers() {
    for (boolean graphs : new boolean[] {false, true}) {
      ModelSpec gpu = Fixtures.digitsOn("cuda").toBuilder().id("digits-async-" + graphs)
          .maxBatchSize(ROWS).build();
      if (graphs) {
        gpu = gpu.toBuilder().optimize(Optimization.CUDA_GRAPHS).build();
      }
      try (Model onGpu = Nos.load(gpu); Model onCpu = Nos.load(Fixtures.digitsOn("cpu"));
          PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, ROWS, 1, 8, 8)) {
        long before = TorchTensors.asyncCopies();
        int calls = 20;
        double worst = 0;
        for (int k = 0; k < calls; k++) {
          Tensor input = Fixtures.digitBatch(Fixtures.heldOutDigits(), 37 * k, ROWS);
          fill(b, input);
          float[] got = onGpu.infer(b.tensor()).get("logits").toFloatArray();
          float[] want = onCpu.infer(input).get("logits").toFloatArray();
          double err = Fixtures.relativeError(got, want);
          worst = Math.max(worst, err);
          assertTrue(err <= 1e-4, "graphs " + graphs + ", call " + k + ": relative error " + err);
        }
        long async = TorchTensors.asyncCopies() - before;
        System.out.printf("CallCopiesGpuTest graphs=%s: %d asynchronous copies in %d calls,"
            + " worst relative error against the CPU %.3g%n", graphs, async, calls, worst);
        assertEquals(calls, async, "every pinned input copied asynchronously");
      }
    }
  }

  /**
   * A call that fails after its asynchronous copy (the model raises on negative inputs, which it
   * can only see once the copy is done) gives its pinned range back: the buffer closes, and the
   * next call from it is right.
   */
  @Test
  void failingCall_givesItsPinnedInputBack() {
    int rows = 1 << 17; // 1 MiB of float32 [n,2]
    ModelSpec spec = Fixtures.raises().toBuilder().device("cuda").build();
    try (Model m = Nos.load(spec)) {
      PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, rows, 2);
      long before = TorchTensors.asyncCopies();
      for (int i = 0; i < 2 * rows; i++) {
        b.buffer().putFloat(4 * i, i == 2 * rows - 1 ? -1f : 0.5f);
      }
      InferenceException e = assertThrows(InferenceException.class, () -> m.infer(b.tensor()));
      assertTrue(e.getMessage().contains("negative input not allowed"), e.getMessage());
      assertEquals(before + 1, TorchTensors.asyncCopies(), "the failed call's copy was async");
      b.buffer().putFloat(4 * (2 * rows - 1), 2f);
      float[] y = m.infer(b.tensor()).get("y").toFloatArray();
      assertEquals(1.5f, y[0], 0f);
      assertEquals(6f, y[2 * rows - 1], 0f);
      // Closing waits for the copies reading the buffer: one left held would hang here.
      assertTimeoutPreemptively(Duration.ofSeconds(20), b::close, "a call left its range held");
    }
  }

  /**
   * A replay converts its float32 input to the model's fp16 in the copy into the graph's static
   * input: the call's device memory is the input as given plus the outputs. Cast first (as
   * before), the call also held an fp16 copy of the batch.
   */
  @Test
  void graphReplay_convertsInItsStaticCopy_withoutACastOfItsOwn() {
    int rows = 1 << 15; // 8 MiB of float32, 4 MiB as fp16
    ModelSpec spec = Fixtures.digitsOn("cuda").toBuilder().id("digits-convert-on-copy")
        .precision(Precision.FP16).maxBatchSize(rows).optimize(Optimization.CUDA_GRAPHS).build();
    try (Model m = Nos.load(spec);
        PinnedBuffer b = PinnedBuffer.allocate(DType.FLOAT32, rows, 1, 8, 8);
        Model onCpu = Nos.load(Fixtures.digitsOn("cpu"))) {
      Tensor input = Fixtures.digitBatch(Fixtures.heldOutDigits(), 11, rows);
      fill(b, input);
      m.infer(b.tensor()); // any first-call work
      long inputBytes = 4L * rows * 64;
      long outputBytes = 4L * rows * 10;
      long base = TorchRuntime.cudaAllocatedBytes(0);
      TorchRuntime.cudaResetPeak(0);
      float[] got = m.infer(b.tensor()).get("logits").toFloatArray();
      long peak = TorchRuntime.cudaPeakAllocatedBytes(0) - base;
      long bound = inputBytes + outputBytes + inputBytes / 4;
      System.out.printf("CallCopiesGpuTest: a replay's device memory %d bytes (input %d, float"
          + " logits %d, bound %d)%n", peak, inputBytes, outputBytes, bound);
      assertTrue(peak <= bound, "a replay held " + peak + " bytes of device memory; at most "
          + bound + " expected (the input as given and the outputs; an fp16 copy of the input"
          + " would add " + inputBytes / 2 + ")");
      float[] want = onCpu.infer(input).get("logits").toFloatArray();
      double err = Fixtures.relativeError(got, want);
      assertTrue(err <= 1e-2, "fp16 against the CPU's fp32: relative error " + err);
    }
  }
}
