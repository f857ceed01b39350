package ai.nos.hub.audio;

/*
 * Whisper's sequential long-form decoding, the window arithmetic of openai-whisper's transcribe()
 * (and transformers' generate for audio over 30 s): a cursor `seek` in mel frames (100 per second,
 * 160 samples each) starts at 0; the encoder sees the 30 s from seek (padded past the end); the
 * decoder, with timestamp tokens on, ends its output in one of two ways:
 *
 *   - the last segment is closed by a single timestamp (the speech runs past the window) or there
 *     are no timestamps: the whole window is consumed, seek += window length (advanceWhole);
 *   - the output ends with two consecutive timestamps (the last segment ended inside the window):
 *     seek moves to that last timestamp, so the next window starts where the speech resumes
 *     (advanceTo; timestamps come in steps of 0.02 s, two frames).
 *
 * Segment times in the window are relative to seek: absolute = seek / 100 + relative
 * (AudioWindow.absoluteSeconds). Progress is guaranteed: a timestamp at or before 0 (a decoder that
 * closed nothing) advances by the whole window as openai-whisper's callers would otherwise loop,
 * and a timestamp past the window's content is clamped to it.
 *
 * Not thread-safe: one decode loop owns one cursor.
 */
final class SeekCursor {

  static final int SAMPLES_PER_FRAME = LogMel.HOP;
  static final int FRAMES_PER_SECOND = LogMel.SAMPLE_RATE / LogMel.HOP;

  private final long totalFrames;
  private final long totalSamples;
  private long seek; // in frames
  private int windows;

  SeekCursor(long totalSamples) {
    if (totalSamples < 1) {
      throw new IllegalArgumentException("audio must have at least one sample but has "
          + totalSamples);
    }
    this.totalSamples = totalSamples;
    // openai-whisper: content_frames = mel frames of the unpadded audio, n // hop.
    this.totalFrames = Math.max(1, totalSamples / SAMPLES_PER_FRAME);
  }

  boolean hasNext() {
    return seek < totalFrames;
  }

  /** The window from the cursor: up to 30 s of content, all of it kept. */
  AudioWindow window() {
    if (!hasNext()) {
      throw new IllegalStateException("no audio left: seek " + seek + " of " + totalFrames
          + " frames");
    }
    long start = seek * SAMPLES_PER_FRAME;
    int length = (int) Math.min(LogMel.N_SAMPLES, totalSamples - start);
    return new AudioWindow(windows, start, length, start, start + length);
  }

  /** The frames of content in the current window (segment_size in openai-whisper). */
  int windowFrames() {
    return (int) Math.min(LogMel.FRAMES, totalFrames - seek);
  }

  /** Consumes the whole window (no timestamps, or a single timestamp at the end). */
  void advanceWhole() {
    seek += windowFrames();
    windows++;
  }

  /** Moves to the last timestamp the decoder closed, in seconds after the window's start. */
  void advanceTo(double relativeSeconds) {
    if (!Double.isFinite(relativeSeconds)) {
      throw new IllegalArgumentException("timestamp must be finite but was " + relativeSeconds);
    }
    long frames = Math.round(relativeSeconds * FRAMES_PER_SECOND);
    if (frames <= 0 || frames >= windowFrames()) {
      advanceWhole();
      return;
    }
    seek += frames;
    windows++;
  }

  long seekFrames() {
    return seek;
  }
}
