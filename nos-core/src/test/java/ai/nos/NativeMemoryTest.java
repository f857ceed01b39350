package ai.nos;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/**
 * 20,000 inferences keep native memory flat: every call frees what it made.
 *
 * <p>The JVM heap is fixed and pre-touched by the build ({@code -Xms256m -Xmx256m
 * -XX:+AlwaysPreTouch}), so the process's RSS moves mostly with native memory. A call of batch 64
 * allocates about 90 KB of native tensors (input copy, activations, output): leaking even the
 * 16 KB input copy would add 160 MB over each half of the run. The RSS of a healthy process still
 * settles for a while (JIT code, malloc arenas, direct buffers awaiting GC), so the test measures
 * at start, middle and end and bounds the growth of the second half by 24 MB and of the whole run
 * by 64 MB. JavaCPP's own count of live native allocations must not grow at all.
 *
 * <p>The length is {@code nos.test.calls}: 20,000 by default (the GPU script, {@code -Psoak}); the
 * build runs 4,000, where the exact JavaCPP counts still catch any leaked tensor and a leaked
 * input copy still adds 32 MB to a half (over the 24 MB bound).
 */
final class NativeMemoryTest {
  private static final int CALLS = Integer.getInteger("nos.test.calls", 20_000);
  private static final long SECOND_HALF_BOUND = 24L << 20;
  private static final long WHOLE_RUN_BOUND = 64L << 20;

  @Test
  void manyInferences_rssAndJavaCppBytesStayFlat() throws InterruptedException {
    var rows = Fixtures.heldOutDigits();
    Tensor input = Fixtures.digitBatch(rows, 0, 64);
    try (Model model = Nos.load(Fixtures.digitsOn("cpu"))) {
      run(model, input, 2_000);
      long[] start = snapshot();
      run(model, input, CALLS / 2);
      long[] middle = snapshot();
      run(model, input, CALLS - CALLS / 2);
      long[] end = snapshot();
      String report = String.format("%d calls: RSS start %d MB, middle %d MB, end %d MB;"
          + " JavaCPP bytes %d/%d/%d; JavaCPP live pointers %d/%d/%d", CALLS, start[0] >> 20,
          middle[0] >> 20, end[0] >> 20, start[1], middle[1], end[1], start[2], middle[2],
          end[2]);
      System.out.println("NativeMemoryTest: " + report);
      assertTrue(end[0] - middle[0] < SECOND_HALF_BOUND, report);
      assertTrue(end[0] - start[0] < WHOLE_RUN_BOUND, report);
      assertTrue(end[1] <= start[1], report);
      assertTrue(end[2] <= start[2], report);
    }
  }

  private static void run(Model model, Tensor input, int calls) {
    for (int i = 0; i < calls; i++) {
      model.infer(input);
    }
  }

  /** RSS, JavaCPP bytes and JavaCPP live pointers, after a GC has run the buffers' cleaners. */
  private static long[] snapshot() throws InterruptedException {
    System.gc();
    Thread.sleep(200);
    return new long[] {Pointer.physicalBytes(), Pointer.totalBytes(), Pointer.totalCount()};
  }
}
