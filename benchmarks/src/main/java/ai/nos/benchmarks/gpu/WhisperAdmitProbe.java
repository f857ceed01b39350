package ai.nos.benchmarks.gpu;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.internal.audio.MelFilters;
import ai.nos.internal.audio.WhisperLogMel;
import ai.nos.internal.generate.AdmissionSteps;
import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * Where a Whisper admission's time goes inside the JVM (#18). The sixteenth session's
 * WhisperBench put 73-78 ms of a 64-clip fp16 round in encoding (5 admissions of up to 16 PCM
 * windows), while {@code profile_whisper_encode.py} timed the same encoder at 3.65 ms for 16
 * windows and a pinned copy of them at 0.56 ms; writing the windows into a reused pinned block
 * instead of a fresh native buffer (an experiment, docs/speech.md) moved encoding by less than
 * the rounds' noise. This probe runs the engine's admission path (GenerationEngine.encode:
 * EncoderModel.encode, then the decoder's {@code cross_kv}, then a wait for its result) step by
 * step with a wait after each, through NOS's own methods ({@link AdmissionSteps}), so the step
 * that costs is named:
 *
 * <ol>
 *   <li>{@code pack}: a fresh native buffer and the windows copied into it (EncoderModel until
 *       the seventeenth session);
 *   <li>{@code upload}: from that pageable buffer to the device, blocking (as Sampler.floats);
 *       {@code pinned upload}: the windows copied on one thread into a pinned block of libtorch's
 *       caching host allocator, then an asynchronous transfer; {@code staged}: the engine's
 *       upload since the seventeenth session (EncoderModel.upload: the same, with the windows
 *       copied in parallel on NOS's copy threads), which the sum of steps now counts;
 *   <li>{@code features}: {@link WhisperLogMel#features} (stft, power, mel matmul, log, floor);
 *   <li>{@code encoder}: the cast to the model's precision and the encoder's forward;
 *   <li>{@code cross_kv}: every layer's cross keys and values written into a 65-slot
 *       CrossCache;
 *   <li>{@code chained}: all of it as the engine runs it, one wait at the end (its result's copy
 *       to the host).
 * </ol>
 *
 * Each figure is the median of REPS repetitions after 3 warm-up ones, at each batch size, with
 * TorchScript's optimizing executor off on this thread as on the engine's (GenerationEngine),
 * under InferenceMode. It also runs the chained path once at each batch size it has not yet seen
 * (the first call of a shape: cuFFT plans, cuBLAS/cuDNN choices) and prints that time.
 *
 * <p>Args: DIR (make_whisper.py's output: encoder.pt, decoder.pt)
 * [BATCHES, default 1,16] [REPS, default 20] [fp16|fp32, default fp16] [DEVICE, default cuda:0;
 * cpu runs it here, e.g. on models/whisper-micro in fp32, where the waits are no-ops]. Prints
 * lines prefixed {@code WhisperAdmitProbe:}. Runs in under a minute on an H200.
 */
public final class WhisperAdmitProbe {
  private static final int WARM_UP = 3;
  private static final int SLOTS = 65;
  private static boolean onCuda;

  private WhisperAdmitProbe() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: WhisperAdmitProbe DIR [BATCHES] [REPS] [fp16|fp32] [DEVICE]");
      System.exit(2);
    }
    run(args, System.out);
  }

  /** The probe with main's arguments, its lines to {@code out}. */
  static void run(String[] args, java.io.PrintStream out) {
    Path dir = Path.of(args[0]);
    int[] batches = Arrays.stream((args.length > 1 ? args[1] : "1,16").split(","))
        .mapToInt(Integer::parseInt).toArray();
    int reps = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    Precision precision = Precision.of(args.length > 3 ? args[3] : "fp16");
    Device device = Device.parse(args.length > 4 ? args[4] : "cuda:0");
    onCuda = device.isCuda();
    TorchRuntime.ensureLoaded();
    // As the engine's threads run; the flag is thread-local and given back at the end, so a
    // caller's thread (a test's) keeps its own setting for what it runs next.
    boolean optimize = torch.getGraphExecutorOptimize();
    torch.setGraphExecutorOptimize(false);
    try {
      measure(dir, batches, reps, precision, device, out);
    } finally {
      torch.setGraphExecutorOptimize(optimize);
    }
  }

  private static void measure(Path dir, int[] batches, int reps, Precision precision,
      Device device, java.io.PrintStream out) {
    try (InferenceMode guard = new InferenceMode();
        AdmissionSteps steps = new AdmissionSteps(dir, device, precision, SLOTS);
        WhisperLogMel mel = new WhisperLogMel(steps.bins(), device)) {
      out.printf("WhisperAdmitProbe: %s, %s, %d bins, cross cache %s, executor optimization %s%n",
          dir, precision.name().toLowerCase(java.util.Locale.ROOT), steps.bins(),
          Arrays.toString(steps.crossShape()), torch.getGraphExecutorOptimize());
      for (int b : batches) {
        try (PointerScope scope = new PointerScope()) {
          Tensor slots = torch.arange(new Scalar(b), new TensorOptions(torch.ScalarType.Long)
              .device(new DeviceOptional(TorchRuntime.toTorch(device))));
          Stages stages = new Stages(windows(b), mel, steps, slots);
          long first = timed(stages::chained);
          double[][] t = new double[9][reps];
          for (int r = -WARM_UP; r < reps; r++) {
            double[] one = stages.stepByStep();
            double chained = timed(stages::chained) / 1e6;
            if (r >= 0) {
              for (int i = 0; i < one.length; i++) {
                t[i][r] = one[i];
              }
              t[8][r] = chained;
            }
          }
          out.printf("WhisperAdmitProbe: batch %d: first chained call %.2f ms; medians of"
              + " %d: pack %.2f ms, upload %.2f, pinned upload %.2f, staged (the engine's)"
              + " %.2f, features %.2f, encoder %.2f, cross_kv %.2f, sum of steps (staged) %.2f;"
              + " chained %.2f ms (%.3f a window)%n", b, first / 1e6, reps, median(t[0]),
              median(t[1]), median(t[2]), median(t[7]), median(t[3]), median(t[4]),
              median(t[5]), median(t[6]), median(t[8]), median(t[8]) / b);
        }
      }
    }
  }

  /** Speech-like noise, different per window, as many as the batch. */
  private static float[][] windows(int b) {
    Random random = new Random(b);
    float[][] w = new float[b][MelFilters.WINDOW_SAMPLES];
    for (float[] row : w) {
      for (int i = 0; i < row.length; i++) {
        row[i] = (float) (0.1 * random.nextGaussian() * Math.sin(i * 0.002));
      }
    }
    return w;
  }

  private static long timed(Supplier<Long> f) {
    long t0 = System.nanoTime();
    f.get();
    return System.nanoTime() - t0;
  }

  private static void sync() {
    if (!onCuda) {
      return;
    }
    torch_cuda.getCurrentCUDAStream((byte) 0).synchronize();
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  /**
   * The admission's steps on one batch of windows (see the class comment): NOS's own through
   * {@link AdmissionSteps}, except the pack (EncoderModel.encode's first lines, which it does not
   * expose on their own) and the pinned upload (the comparison).
   */
  private record Stages(float[][] windows, WhisperLogMel mel, AdmissionSteps steps,
      Tensor slots) {

    private long[] pcmShape() {
      return new long[] {windows.length, MelFilters.WINDOW_SAMPLES};
    }

    private FloatPointer pack() {
      int n = MelFilters.WINDOW_SAMPLES;
      FloatPointer packed = new FloatPointer((long) windows.length * n);
      for (int r = 0; r < windows.length; r++) {
        packed.position((long) r * n).put(windows[r], 0, n);
      }
      return packed.position(0);
    }

    private Tensor pinnedUpload() {
      TensorOptions o = new TensorOptions(torch.ScalarType.Float)
          .pinned_memory(new org.bytedeco.pytorch.BoolOptional(onCuda));
      Tensor host = torch.empty(pcmShape(), o, new MemoryFormatOptional());
      FloatPointer block = new FloatPointer(host.data_ptr());
      int n = MelFilters.WINDOW_SAMPLES;
      for (int r = 0; r < windows.length; r++) {
        block.position((long) r * n).put(windows[r], 0, n);
      }
      return host.to(slots.device(), torch.ScalarType.Float, onCuda, false,
          new MemoryFormatOptional());
    }

    /**
     * ms of pack, upload, pinned upload, features, encoder, cross_kv, their sum with the
     * engine's staged upload, and the staged upload.
     */
    double[] stepByStep() {
      double[] t = new double[8];
      try (PointerScope scope = new PointerScope()) {
        sync();
        long t0 = System.nanoTime();
        FloatPointer packed = pack();
        long t1 = System.nanoTime();
        Tensor pcm = steps.upload(packed, pcmShape());
        sync();
        long t2 = System.nanoTime();
        pinnedUpload();
        sync();
        long t3 = System.nanoTime();
        Tensor features = mel.features(pcm);
        sync();
        long t4 = System.nanoTime();
        Tensor hidden = steps.encode(features);
        sync();
        long t5 = System.nanoTime();
        steps.crossKv(hidden, slots);
        sync();
        long t6 = System.nanoTime();
        steps.stagedUpload(windows);
        sync();
        long t7 = System.nanoTime();
        t[0] = (t1 - t0) / 1e6;
        t[1] = (t2 - t1) / 1e6;
        t[2] = (t3 - t2) / 1e6;
        t[3] = (t4 - t3) / 1e6;
        t[4] = (t5 - t4) / 1e6;
        t[5] = (t6 - t5) / 1e6;
        t[7] = (t7 - t6) / 1e6;
        t[6] = t[7] + t[3] + t[4] + t[5];
      }
      return t;
    }

    /** GenerationEngine.encode: the admission, then a wait for its result's copy to the host. */
    Long chained() {
      try (PointerScope scope = new PointerScope()) {
        return steps.admit(windows, slots).cpu().numel();
      }
    }
  }
}
