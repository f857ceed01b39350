package ai.nos.hub.audio;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Mono audio: float samples at a sample rate, the input of speech recognition.
 *
 * <p>Read one from a WAV file or its bytes ({@link #read(Path)}, {@link #read(byte[])}): RIFF/WAVE
 * with PCM samples of 8 (unsigned), 16, 24 or 32 bits or IEEE float samples of 32 or 64 bits,
 * plain or as {@code WAVE_FORMAT_EXTENSIBLE}, any number of channels (averaged to one) and a
 * sample rate from {@value #MIN_SAMPLE_RATE} Hz to {@value #MAX_SAMPLE_RATE} Hz. Integer samples
 * are scaled by 2<sup>bits-1</sup> into [-1, 1) as soundfile and librosa do; float samples are
 * taken as they are, but not a NaN or an infinity nor one beyond {@link #MAX_ABS_SAMPLE} (nor a
 * mean of channels beyond it). Or wrap raw float PCM ({@link #of(float[], int)}).
 *
 * <p>Other formats (MP3, FLAC, Ogg, MP4, A-law, ADPCM), corrupt or truncated headers and
 * zero-length audio are refused with an {@link IllegalArgumentException} that names the input,
 * what was expected and what was found. Sizes in a header are checked against the bytes that
 * exist before anything is allocated.
 *
 * <p>{@link #resample(int)} converts the rate with a band-limited polyphase filter (a windowed
 * sinc with a Kaiser window, the filter and arithmetic of {@code scipy.signal.resample_poly});
 * Whisper wants {@value #WHISPER_RATE} Hz.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Audio {

  /** The sample rate Whisper's feature extractor expects, in Hz. */
  public static final int WHISPER_RATE = 16_000;

  /** The highest sample rate accepted, in Hz (the highest rate audio interfaces offer). */
  public static final int MAX_SAMPLE_RATE = 768_000;

  /**
   * The lowest sample rate accepted, in Hz. Audio below it holds nothing above 500 Hz, no speech
   * (telephone speech, the narrowest in use, is sampled at 8 kHz), so such a rate is a damaged or
   * hostile header: a WAV declaring 2 Hz grew 8,000 times on its way to Whisper's 16 kHz, bounded
   * only by the half-heap rule of {@link #resample}. From this rate it grows 16 times at most.
   */
  public static final int MIN_SAMPLE_RATE = 1_000;

  /**
   * The largest sample magnitude accepted. PCM is nominally in [-1, 1] (integer PCM passed
   * unscaled reaches 2.1e9); Whisper's float32 features overflow from about 9.2e16 and came out
   * NaN, silently, for samples of 1e18. This bound leaves room for the overshoot of resampling.
   */
  public static final float MAX_ABS_SAMPLE = 1e15f;

  private final float[] samples;
  private final int sampleRate;

  private Audio(float[] samples, int sampleRate) {
    this.samples = samples;
    this.sampleRate = sampleRate;
  }

  /** Wraps an array this package made and nobody else holds; the arguments are checked. */
  static Audio ofTrusted(float[] samples, int sampleRate) {
    return new Audio(samples, sampleRate);
  }

  /**
   * Wraps mono float PCM (copied), nominally in [-1, 1].
   *
   * @throws IllegalArgumentException if {@code samples} is null or empty or holds a NaN, an
   *     infinity or a magnitude over {@link #MAX_ABS_SAMPLE} (the message gives its index and
   *     value), or {@code sampleRate} is not in
   *     {@value #MIN_SAMPLE_RATE} to {@value #MAX_SAMPLE_RATE}
   */
  public static Audio of(float[] samples, int sampleRate) {
    if (samples == null) {
      throw new IllegalArgumentException("samples must not be null");
    }
    if (samples.length == 0) {
      throw new IllegalArgumentException("samples must not be empty (zero-length audio)");
    }
    checkRate(sampleRate, "sampleRate");
    for (int i = 0; i < samples.length; i++) {
      if (!Float.isFinite(samples[i])) {
        throw new IllegalArgumentException("samples must be finite but samples[" + i + "] is "
            + samples[i]);
      }
      if (Math.abs(samples[i]) > MAX_ABS_SAMPLE) {
        throw new IllegalArgumentException(String.format("samples must have a magnitude of at"
            + " most %.6g (nominally in [-1, 1]) but samples[%d] is %.6g", MAX_ABS_SAMPLE, i,
            samples[i]));
      }
    }
    return new Audio(samples.clone(), sampleRate);
  }

  /**
   * Reads a WAV file.
   *
   * @throws IllegalArgumentException if {@code file} is null or does not exist, or is not a WAV
   *     file NOS reads (see the class comment); the message names the file
   * @throws UncheckedIOException if the file cannot be read
   */
  public static Audio read(Path file) {
    if (file == null) {
      throw new IllegalArgumentException("audio file must not be null");
    }
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      return WavReader.read(WavReader.Source.of(channel), "audio file " + file);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("audio file " + file + " does not exist", e);
    } catch (IOException e) {
      throw new UncheckedIOException("audio file " + file + " cannot be read: " + e, e);
    }
  }

  /**
   * Reads the bytes of a WAV file.
   *
   * @throws IllegalArgumentException if {@code wav} is null or not a WAV file NOS reads
   */
  public static Audio read(byte[] wav) {
    if (wav == null) {
      throw new IllegalArgumentException("audio bytes must not be null");
    }
    try {
      return WavReader.read(WavReader.Source.of(wav), "audio bytes (" + wav.length + " bytes)");
    } catch (IOException e) {
      throw new UncheckedIOException(e); // an array does not fail to read
    }
  }

  /** The sample rate in Hz. */
  public int sampleRate() {
    return sampleRate;
  }

  /** The number of samples. */
  public int length() {
    return samples.length;
  }

  /** The duration in seconds. */
  public double seconds() {
    return samples.length / (double) sampleRate;
  }

  /** A copy of the samples. */
  public float[] samples() {
    return samples.clone();
  }

  /** The samples without a copy, for this package's own readers (they must not write). */
  float[] samplesShared() {
    return samples;
  }

  /**
   * This audio at another sample rate, band-limited (see {@link Resampler}); this instance when
   * the rate is already {@code sampleRate}.
   *
   * @throws IllegalArgumentException if {@code sampleRate} is not in {@value #MIN_SAMPLE_RATE}
   *     to {@value #MAX_SAMPLE_RATE}, or the resampled samples would take more than half of the
   *     JVM's maximum heap (long audio resampled to a much higher rate)
   */
  public Audio resample(int sampleRate) {
    checkRate(sampleRate, "target sample rate");
    if (sampleRate == this.sampleRate) {
      return this;
    }
    return new Audio(Resampler.resample(samples, this.sampleRate, sampleRate), sampleRate);
  }

  /** Samples in one Whisper window: 30 s at {@value #WHISPER_RATE} Hz. */
  public static final int WHISPER_WINDOW = 30 * WHISPER_RATE;

  private static final java.util.concurrent.ConcurrentHashMap<Integer, LogMel> MELS =
      new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * Whisper's log-mel features of the window of {@value #WHISPER_WINDOW} samples from sample
   * {@code from} (zero-padded past the end), {@code [melBins, 3000]} row-major, as transformers'
   * {@code WhisperFeatureExtractor} computes them for that window (within 1e-4; see
   * docs/speech.md). Computed here in plain Java on the calling thread;
   * {@code SpeechRecognizer} sends {@link #whisperWindow} to the model's device instead.
   *
   * @throws IllegalStateException if this audio is not at {@value #WHISPER_RATE} Hz (resample
   *     first)
   * @throws IllegalArgumentException if {@code from} is not in [0, length) or {@code melBins}
   *     not in 1 to 512 (Whisper uses 80 or 128)
   */
  public float[] whisperFeatures(long from, int melBins) {
    float[] window = whisperWindow(from);
    return MELS.computeIfAbsent(melBins, LogMel::new).compute(window);
  }

  /**
   * The window of {@value #WHISPER_WINDOW} samples from sample {@code from}, zero-padded past
   * the end of the audio as Whisper pads to 30 s: a Whisper model's input when its features are
   * computed on its device (a new array).
   *
   * @throws IllegalStateException if this audio is not at {@value #WHISPER_RATE} Hz (resample
   *     first)
   * @throws IllegalArgumentException if {@code from} is not in [0, length)
   */
  public float[] whisperWindow(long from) {
    if (sampleRate != WHISPER_RATE) {
      throw new IllegalStateException("Whisper windows need " + WHISPER_RATE + " Hz audio but"
          + " this is " + sampleRate + " Hz: resample(" + WHISPER_RATE + ") first");
    }
    if (from < 0 || from >= samples.length) {
      throw new IllegalArgumentException("window start must be in [0, " + samples.length
          + ") but was " + from);
    }
    int n = (int) Math.min(WHISPER_WINDOW, samples.length - from);
    float[] window = new float[WHISPER_WINDOW];
    System.arraycopy(samples, (int) from, window, 0, n);
    return window;
  }

  private static void checkRate(int rate, String what) {
    if (rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
      throw new IllegalArgumentException(what + " must be " + MIN_SAMPLE_RATE + " to "
          + MAX_SAMPLE_RATE + " Hz but was " + rate);
    }
  }

  @Override
  public String toString() {
    return String.format("Audio[%d samples at %d Hz, %.3f s]", samples.length, sampleRate,
        seconds());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Audio && ((Audio) o).sampleRate == sampleRate
        && Arrays.equals(((Audio) o).samples, samples);
  }

  @Override
  public int hashCode() {
    return 31 * sampleRate + Arrays.hashCode(samples);
  }
}
