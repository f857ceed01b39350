package ai.nos.hub.audio;

import ai.nos.internal.audio.MelFilters;

/*
 * Whisper's log-mel features, as transformers' WhisperFeatureExtractor computes them (its numpy
 * path, _np_extract_fbank_features over audio_utils.spectrogram; followed from transformers
 * 4.46-4.57, written out in scripts/audio/make_audio_fixtures.py, whose outputs the tests match):
 *
 *   1. the 16 kHz samples padded with zeros or cut to 30 s (480,000 samples);
 *   2. reflect-padded by n_fft/2 = 200 on each side (center=True), framed with hop 160;
 *   3. each frame times a periodic Hann window of 400, real DFT (201 bins), kept as complex64
 *      (transformers stores the frames in a complex64 array), power |X|^2 in double;
 *   4. a mel filter bank of 80 or 128 triangles on the Slaney mel scale (linear below 1 kHz,
 *      logarithmic above) from 0 to 8 kHz, each scaled to unit area ("slaney" normalization;
 *      nos-core's MelFilters, which the device path shares);
 *   5. log10 of max(mel, 1e-10), rounded to float; the last of the 3001 frames dropped;
 *   6. clamped from below at the maximum minus 8 (80 dB of range), then (x + 4) / 4.
 *
 * The CPU reference: plain Java in double, exact, no native state, run on the caller's thread.
 * Transcription no longer uses it by default: SpeechRecognizer sends PCM windows and nos-core's
 * WhisperLogMel computes the features on the model's device (torch.stft and a matmul, float32,
 * a batch of windows at once), held to this class within 1e-4 by WhisperLogMelTest. Here the
 * cost is the 3000 FFTs of 400 points: 0.2 to 0.6 s per full 30 s window on one core of a shared
 * machine at load 12, about 60 ms on the H200 host; less for short audio (frames of pure padding
 * are skipped: their power is 0). See docs/speech.md.
 *
 * Immutable and thread-safe: the tables are built once per bin count; compute() allocates its own
 * scratch.
 */
final class LogMel {

  static final int SAMPLE_RATE = MelFilters.SAMPLE_RATE;
  static final int N_FFT = MelFilters.N_FFT;
  static final int HOP = MelFilters.HOP;
  static final int FRAMES = MelFilters.FRAMES;
  static final int N_SAMPLES = MelFilters.WINDOW_SAMPLES; // 30 s
  static final int FREQ_BINS = MelFilters.FREQ_BINS;

  private final int bins;
  private final double[] window;
  /** filters[m * FREQ_BINS + f], with each filter's nonzero range [lo[m], hi[m]). */
  private final double[] filters;
  private final int[] lo;
  private final int[] hi;
  private final Fft fft = new Fft(N_FFT);

  LogMel(int bins) {
    MelFilters.checkBins(bins);
    this.bins = bins;
    window = new double[N_FFT];
    for (int i = 0; i < N_FFT; i++) {
      window[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / N_FFT); // np.hanning(401)[:-1]
    }
    filters = MelFilters.slaney(bins);
    lo = new int[bins];
    hi = new int[bins];
    for (int m = 0; m < bins; m++) {
      int f = 0;
      while (f < FREQ_BINS && filters[m * FREQ_BINS + f] == 0) {
        f++;
      }
      lo[m] = f;
      int g = FREQ_BINS;
      while (g > f && filters[m * FREQ_BINS + g - 1] == 0) {
        g--;
      }
      hi[m] = g;
    }
  }

  int bins() {
    return bins;
  }

  /** Features [bins, 3000] row-major of 16 kHz mono samples (padded or cut to 30 s). */
  float[] compute(float[] pcm) {
    int n = Math.min(pcm.length, N_SAMPLES);
    int pad = N_FFT / 2;
    // x is pcm padded/cut to N_SAMPLES; w is x reflect-padded by `pad` on both sides.
    double[] w = new double[N_SAMPLES + 2 * pad];
    for (int i = 0; i < n; i++) {
      w[pad + i] = pcm[i];
    }
    for (int j = 1; j <= pad; j++) {
      w[pad - j] = w[pad + j];
      w[pad + N_SAMPLES - 1 + j] = w[pad + N_SAMPLES - 1 - j];
    }
    float[] out = new float[bins * FRAMES];
    double[] re = new double[N_FFT];
    double[] im = new double[N_FFT];
    double[] xRe = new double[N_FFT];
    double[] xIm = new double[N_FFT];
    double[] power = new double[FREQ_BINS];
    float max = Float.NEGATIVE_INFINITY;
    for (int frame = 0; frame < FRAMES; frame++) {
      int start = frame * HOP;
      boolean silent = true;
      for (int i = 0; i < N_FFT; i++) {
        re[i] = w[start + i] * window[i];
        silent &= re[i] == 0;
      }
      if (silent) {
        java.util.Arrays.fill(power, 0);
      } else {
        fft.transform(re, im, xRe, xIm);
        for (int f = 0; f < FREQ_BINS; f++) {
          double r = (float) xRe[f]; // complex64, as transformers stores the frames
          double i = (float) xIm[f];
          power[f] = r * r + i * i;
        }
      }
      for (int m = 0; m < bins; m++) {
        double sum = 0;
        for (int f = lo[m]; f < hi[m]; f++) {
          sum += filters[m * FREQ_BINS + f] * power[f];
        }
        float v = (float) Math.log10(Math.max(1e-10, sum));
        out[m * FRAMES + frame] = v;
        max = Math.max(max, v);
      }
    }
    float floor = max - 8.0f;
    for (int i = 0; i < out.length; i++) {
      out[i] = (Math.max(out[i], floor) + 4.0f) / 4.0f;
    }
    return out;
  }
}
