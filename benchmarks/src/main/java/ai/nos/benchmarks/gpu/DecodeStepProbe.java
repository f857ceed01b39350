package ai.nos.benchmarks.gpu;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.internal.generate.DecodeSteps;
import ai.nos.internal.torch.TorchRuntime;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.pytorch.global.torch;

/**
 * Where a decode step's time goes in NOS (#17 and #18: pipelined steps gained 0.05 ms of the
 * ~0.3 ms of host work at one sequence, and Whisper's 64-row step took 0.94 ms against 0.58 ms of
 * a captured step in Python). On the decoder export {@code FILE}, for each row count (a bucket
 * size), it times with NOS's own code ({@link DecodeSteps}):
 * <ul>
 *   <li>{@code replay}: the recorded step alone, replays back to back: NOS's device time of the
 *       graph, to set beside profile_step.py's for the same export (Python's capture);
 *   <li>{@code steps back to back}: the engine's work of a greedy step (pinned upload, replay,
 *       sampler, seen update, ids into pinned memory behind an event), waited for once at the
 *       end: the device's time for all of it, if the host keeps ahead;
 *   <li>{@code launched ahead}: step i+1 launched (its ids copied on the device from step i's
 *       draws) before step i is waited for, as the pipelined engine;
 *   <li>{@code waited each}: each step waited for before the next, as the unpipelined engine;
 *   <li>{@code launch}: the host's milliseconds per step inside the launches (back to back).
 * </ul>
 * If {@code launched ahead} is near {@code steps back to back}, pipelining works in isolation and
 * the engine's loop loses the time elsewhere (its bookkeeping, the delivery); if it is near
 * {@code waited each}, something in a launch waits for the step in flight; if {@code replay} is
 * above Python's device time for the same export, the graph NOS records is slower.
 *
 * <pre>
 * DecodeStepProbe FILE [ROWS=1,8,64] [STEPS=200] [fp16|fp32] [DEVICE=cuda:0] [SLOTS=128]
 *     [LENGTH=257] [POSITION=128]
 * </pre>
 */
public final class DecodeStepProbe {
  private DecodeStepProbe() {}

  public static void main(String[] args) {
    if (args.length < 1) {
      System.err.println("usage: DecodeStepProbe FILE [ROWS] [STEPS] [fp16|fp32] [DEVICE] [SLOTS]"
          + " [LENGTH] [POSITION]");
      System.exit(2);
    }
    run(args, System.out);
  }

  /** The probe with main's arguments, its lines to {@code out}. */
  static void run(String[] args, PrintStream out) {
    Path file = Path.of(args[0]);
    int[] rows = Arrays.stream((args.length > 1 ? args[1] : "1,8,64").split(","))
        .mapToInt(Integer::parseInt).toArray();
    int steps = args.length > 2 ? Integer.parseInt(args[2]) : 200;
    Precision precision = Precision.of(args.length > 3 ? args[3] : "fp16");
    Device device = Device.parse(args.length > 4 ? args[4] : "cuda:0");
    int slots = args.length > 5 ? Integer.parseInt(args[5]) : 128;
    int length = args.length > 6 ? Integer.parseInt(args[6]) : 257;
    int position = args.length > 7 ? Integer.parseInt(args[7]) : 128;
    TorchRuntime.ensureLoaded();
    out.println("DecodeStepProbe: SDPA priority " + SdpOrder.applyFromProperty());
    // This thread is the probe's scheduler. The flag is thread-local: it is given back at the
    // end, so a caller's thread (a test's) keeps its own setting for what it runs next.
    boolean optimize = torch.getGraphExecutorOptimize();
    torch.setGraphExecutorOptimize(false);
    try {
      measure(file, rows, steps, precision, device, slots, length, position, out);
    } finally {
      torch.setGraphExecutorOptimize(optimize);
    }
  }

  private static void measure(Path file, int[] rows, int steps, Precision precision,
      Device device, int slots, int length, int position, PrintStream out) {
    if (device.isCuda()) {
      TorchRuntime.prepareEngineThread(device.index().orElse(0));
    }
    try (DecodeSteps s = new DecodeSteps(file, device, precision, slots, length)) {
      out.printf("DecodeStepProbe: %s, %s, %d slots of %d positions at position %d, graphs for"
          + " %s, %d steps a measurement%n", file,
          precision.name().toLowerCase(java.util.Locale.ROOT), slots, length, position,
          Arrays.toString(s.buckets()), steps);
      for (int b : rows) {
        double replay = s.replayMs(b, position, steps);
        double[] launch = new double[1];
        double[] ignored = new double[1];
        long[] ids = new long[b];
        double end = s.stepsMs(b, position, steps, DecodeSteps.Wait.END, launch, ids);
        double ahead = s.stepsMs(b, position, steps, DecodeSteps.Wait.AHEAD, ignored, ids);
        double each = s.stepsMs(b, position, steps, DecodeSteps.Wait.EACH, ignored, ids);
        for (long id : ids) {
          if (id < 0 || id >= s.vocab()) {
            throw new IllegalStateException("rows " + b + ": a step drew id " + id
                + ", outside the vocabulary of " + s.vocab());
          }
        }
        out.printf(java.util.Locale.ROOT, "DecodeStepProbe: rows %d: replay %.3f ms, steps back"
            + " to back %.3f ms, launched ahead %.3f ms, waited each %.3f ms; launch %.3f ms of"
            + " host a step%n", b, replay, end, ahead, each, launch[0]);
      }
    }
  }
}
