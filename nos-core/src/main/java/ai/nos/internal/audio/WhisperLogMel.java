package ai.nos.internal.audio;

import ai.nos.Device;
import ai.nos.internal.torch.TorchRuntime;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/*
 * Whisper's log-mel features on the model's device, as transformers' WhisperFeatureExtractor
 * computes them with torch (_torch_extract_fbank_features), for a batch of 30 s windows of
 * 16 kHz mono PCM at once:
 *
 *   1. torch.stft: n_fft 400, hop 160, a periodic Hann window of 400, centered (reflect-padded by
 *      200 on each side), complex output [B, 201, 3001];
 *   2. power re^2 + im^2, the last frame dropped: [B, 201, 3000];
 *   3. the mel filter bank (MelFilters.slaney, built once on the host in double, uploaded once as
 *      float32) times the power: [B, bins, 3000];
 *   4. log10 of max(x, 1e-10); each window floored at its own maximum (over its bins and frames)
 *      minus 8; then (x + 4) / 4.
 *
 * All in float32 whatever the model's precision (the encoder's cast follows), so an FP16 model
 * sees the same features as an FP32 one. The input must already be padded to exactly 480,000
 * samples: Whisper pads every window to 30 s, and a caller that cut the window knows best where
 * its audio ends (nos-hub's Audio.whisperWindow). Against nos-hub's plain-Java LogMel (double
 * precision, bit-equal to a numpy transcription of the extractor) the difference on the
 * committed clips is below 1e-4 (WhisperLogMelTest; float32 FFT rounding).
 *
 * Why on the device: the Java path costs about 60 ms per window on a fast host core, more than
 * Whisper-tiny's encoder on a GPU; here the FFTs of a batch of 16 windows are one cuFFT call and
 * the mel projection one batched matmul, and the features never cross to the host.
 *
 * Ownership and concurrency: the window and the filter bank are device tensors owned by this
 * object, made at construction and freed by close(); features() allocates only in the caller's
 * open PointerScope. Not thread-safe (no locking): one owner, the generation engine's scheduler
 * (or a test), calls it. Validation happens before any native call (checkWindow, the shape check
 * in features()).
 */
public final class WhisperLogMel implements AutoCloseable {
  /**
   * The largest sample magnitude {@link #checkWindow} accepts. A frame's DFT is at most 200
   * times its largest sample (the Hann window of 400 sums to 200) and its power is computed in
   * float32, which overflows to infinity above 3.4e38: from samples of about 9.2e16 on the
   * features came out NaN, silently (a window of 1e18 gave 240,000 NaNs on the CPU).
   */
  public static final float MAX_ABS_SAMPLE = 1e16f;

  private final int bins;
  private final Tensor window;
  private final Tensor filters;

  /**
   * The filter bank of {@code bins} and the Hann window on {@code device} (concrete: cpu or
   * cuda:N).
   *
   * @throws IllegalArgumentException if {@code bins} is not 1 to {@value MelFilters#MAX_BINS}
   *     or {@code device} is not concrete
   */
  public WhisperLogMel(int bins, Device device) {
    MelFilters.checkBins(bins);
    if (device == null || device.isAuto() || (device.isCuda() && device.index().isEmpty())) {
      throw new IllegalArgumentException("the log-mel device must be cpu or cuda:N but was "
          + device);
    }
    this.bins = bins;
    double[] bank = MelFilters.slaney(bins);
    float[] f = new float[bank.length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) bank[i];
    }
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      org.bytedeco.pytorch.Device dev = TorchRuntime.toTorch(device);
      Tensor w = torch.hann_window(MelFilters.N_FFT, true, new TensorOptions(
          torch.ScalarType.Float).device(new DeviceOptional(dev)));
      Tensor m = upload(f, new long[] {bins, MelFilters.FREQ_BINS}, dev);
      w.retainReference();
      m.retainReference();
      this.window = w;
      this.filters = m;
    }
  }

  /** Mel bins of the output. */
  public int bins() {
    return bins;
  }

  /**
   * The features {@code [B, bins, 3000]} float32 of {@code pcm} {@code [B, 480000]} float32 on
   * this object's device; in the caller's open PointerScope.
   *
   * @throws IllegalArgumentException if {@code pcm} is not {@code [B, 480000]} float32 (B at
   *     least 1)
   */
  public Tensor features(Tensor pcm) {
    long[] shape = pcm.sizes().vec().get();
    if (shape.length != 2 || shape[0] < 1 || shape[1] != MelFilters.WINDOW_SAMPLES
        || pcm.scalar_type().value != torch.ScalarType.Float.value) {
      throw new IllegalArgumentException("the log-mel input must be [windows, "
          + MelFilters.WINDOW_SAMPLES + "] float32 PCM (30 s at 16 kHz, zero-padded) but was "
          + java.util.Arrays.toString(shape) + " " + pcm.scalar_type());
    }
    Tensor spectrum = torch.stft(pcm, MelFilters.N_FFT, new LongOptional(MelFilters.HOP),
        new LongOptional(MelFilters.N_FFT), new TensorOptional(window), true, "reflect", false,
        new BoolOptional(true), new BoolOptional(true), new BoolOptional());
    Tensor parts = torch.view_as_real(spectrum.narrow(2, 0, MelFilters.FRAMES));
    Tensor power = parts.mul(parts).sum(-1);
    Tensor log = torch.matmul(filters, power).clamp_min(new Scalar(1e-10)).log10();
    Tensor floor = log.amax(new long[] {1, 2}, true).sub(new Scalar(8.0));
    return torch.maximum(log, floor).add(new Scalar(4.0)).div(new Scalar(4.0));
  }

  /**
   * Refuses a window that is not {@value MelFilters#WINDOW_SAMPLES} finite samples of magnitude
   * at most {@value #MAX_ABS_SAMPLE}; the message names {@code what} (e.g. the request), the
   * first bad index and its value.
   */
  public static void checkWindow(String what, float[] pcm) {
    if (pcm == null || pcm.length != MelFilters.WINDOW_SAMPLES) {
      throw new IllegalArgumentException(what + " must be " + MelFilters.WINDOW_SAMPLES
          + " samples of 16 kHz mono PCM (one 30 s window, zero-padded) but was "
          + (pcm == null ? "null" : pcm.length + " samples"));
    }
    for (int i = 0; i < pcm.length; i++) {
      if (!Float.isFinite(pcm[i])) {
        throw new IllegalArgumentException(what + " must hold finite samples but sample " + i
            + " is " + pcm[i]);
      }
      if (Math.abs(pcm[i]) > MAX_ABS_SAMPLE) {
        throw new IllegalArgumentException(String.format("%s must hold samples of magnitude at"
            + " most %.6g (beyond it the float32 log-mel power overflows) but sample %d is %.6g;"
            + " PCM is nominally in [-1, 1]", what, MAX_ABS_SAMPLE, i, pcm[i]));
      }
    }
  }

  /**
   * The features of {@code windows} computed together on {@code device}, back on the host: one
   * {@code [bins, 3000]} row-major array per window. For tests and one-off use; the engine keeps
   * its features on the device.
   *
   * @throws IllegalArgumentException if there is no window or a window fails
   *     {@link #checkWindow}, or {@code bins} or {@code device} is refused as by the constructor
   */
  public static float[][] compute(float[][] windows, int bins, Device device) {
    if (windows == null || windows.length == 0) {
      throw new IllegalArgumentException("windows must hold at least one window but was "
          + (windows == null ? "null" : "empty"));
    }
    int n = MelFilters.WINDOW_SAMPLES;
    float[] packed = new float[windows.length * n];
    for (int i = 0; i < windows.length; i++) {
      checkWindow("window " + i, windows[i]);
      System.arraycopy(windows[i], 0, packed, i * n, n);
    }
    Device concrete = TorchRuntime.resolve(device, "log-mel");
    try (WhisperLogMel mel = new WhisperLogMel(bins, concrete);
        PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor pcm = upload(packed, new long[] {windows.length, n}, TorchRuntime.toTorch(concrete));
      Tensor host = mel.features(pcm).to(new org.bytedeco.pytorch.Device(torch.DeviceType.CPU),
          torch.ScalarType.Float, false, false, new MemoryFormatOptional()).contiguous();
      float[] all = new float[windows.length * bins * MelFilters.FRAMES];
      new FloatPointer(host.data_ptr()).capacity(all.length).get(all);
      float[][] out = new float[windows.length][];
      int size = bins * MelFilters.FRAMES;
      for (int i = 0; i < out.length; i++) {
        out[i] = java.util.Arrays.copyOfRange(all, i * size, (i + 1) * size);
      }
      return out;
    }
  }

  /**
   * A float32 copy of {@code values} shaped {@code shape} on {@code dev}; in the caller's scope.
   */
  private static Tensor upload(float[] values, long[] shape, org.bytedeco.pytorch.Device dev) {
    Tensor host = torch.from_blob(new FloatPointer(values), shape,
        new TensorOptions(torch.ScalarType.Float));
    return host.to(dev, torch.ScalarType.Float, false, true, new MemoryFormatOptional());
  }

  @Override
  public void close() {
    window.releaseReference();
    filters.releaseReference();
  }
}
