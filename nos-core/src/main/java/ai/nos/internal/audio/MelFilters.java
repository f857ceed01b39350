package ai.nos.internal.audio;

/**
 * Whisper's framing constants and mel filter bank: transformers'
 * {@code mel_filter_bank(201, bins, 0, 8000, 16000, "slaney", "slaney")}, triangles on the
 * Slaney mel scale (linear below 1 kHz, logarithmic above) from 0 to 8 kHz, each scaled to unit
 * area. One definition for both feature paths (nos-hub's plain-Java {@code LogMel}, the CPU
 * reference, and {@link WhisperLogMel} on the model's device), so they cannot drift apart.
 *
 * <p>Stateless; thread-safe.
 */
public final class MelFilters {
  /** Whisper's sample rate, Hz. */
  public static final int SAMPLE_RATE = 16_000;
  public static final int N_FFT = 400;
  public static final int HOP = 160;
  /** Frames of one window: 30 s at {@value #HOP} samples a frame. */
  public static final int FRAMES = 3000;
  /** Samples of one window: 30 s. */
  public static final int WINDOW_SAMPLES = FRAMES * HOP;
  /** Frequency bins of a real DFT of {@value #N_FFT}. */
  public static final int FREQ_BINS = N_FFT / 2 + 1;
  /** The most mel bins accepted (Whisper uses 80 or 128). */
  public static final int MAX_BINS = 512;

  private MelFilters() {}

  /**
   * The filter bank {@code [bins][201]} row-major, in double.
   *
   * @throws IllegalArgumentException if {@code bins} is not 1 to {@value #MAX_BINS}
   */
  public static double[] slaney(int bins) {
    checkBins(bins);
    double melMin = hzToMel(0.0);
    double melMax = hzToMel(SAMPLE_RATE / 2.0);
    double[] hz = new double[bins + 2];
    double step = (melMax - melMin) / (bins + 1);
    for (int i = 0; i < bins + 2; i++) {
      hz[i] = melToHz(i == bins + 1 ? melMax : melMin + i * step); // np.linspace
    }
    double[] out = new double[bins * FREQ_BINS];
    double fftStep = (SAMPLE_RATE / 2) / (double) (FREQ_BINS - 1);
    for (int m = 0; m < bins; m++) {
      double enorm = 2.0 / (hz[m + 2] - hz[m]);
      for (int f = 0; f < FREQ_BINS; f++) {
        double freq = f * fftStep;
        double down = -(hz[m] - freq) / (hz[m + 1] - hz[m]);
        double up = (hz[m + 2] - freq) / (hz[m + 2] - hz[m + 1]);
        out[m * FREQ_BINS + f] = Math.max(0, Math.min(down, up)) * enorm;
      }
    }
    return out;
  }

  /** Refuses a bin count outside 1 to {@value #MAX_BINS}, naming it. */
  public static void checkBins(int bins) {
    if (bins < 1 || bins > MAX_BINS) {
      throw new IllegalArgumentException("mel bins must be 1 to " + MAX_BINS + " (Whisper uses 80"
          + " or 128) but was " + bins);
    }
  }

  /** The Slaney mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above. */
  public static double hzToMel(double hz) {
    if (hz < 1000.0) {
      return 3.0 * hz / 200.0;
    }
    return 15.0 + Math.log(hz / 1000.0) * (27.0 / Math.log(6.4));
  }

  public static double melToHz(double mel) {
    if (mel < 15.0) {
      return 200.0 * mel / 3.0;
    }
    return 1000.0 * Math.exp(Math.log(6.4) / 27.0 * (mel - 15.0));
  }
}
