package ai.nos.hub.audio;

/**
 * One window of a long recording that the encoder sees as its 30 s input: samples
 * {@code [start, start + length)} of the 16 kHz audio (length at most 30 s; the features pad the
 * rest), of which the decoder's output is kept for {@code [keepFrom, keepTo)}: the whole window
 * in sequential long-form, the window less its overlaps in chunked decoding. All in samples.
 */
record AudioWindow(int index, long start, int length, long keepFrom, long keepTo) {

  AudioWindow {
    if (index < 0 || start < 0 || length < 1 || length > LogMel.N_SAMPLES
        || keepFrom < start || keepTo > start + length || keepFrom > keepTo) {
      throw new IllegalArgumentException("inconsistent window: index " + index + ", start "
          + start + ", length " + length + ", keep [" + keepFrom + ", " + keepTo + ")");
    }
  }

  /** The time in seconds of the recording of a time relative to the window's start. */
  double absoluteSeconds(double relativeSeconds) {
    return start / (double) LogMel.SAMPLE_RATE + relativeSeconds;
  }

  /**
   * Whether a segment decoded in this window, from {@code relStart} to {@code relEnd} seconds
   * after the window's start, belongs to it: its midpoint lies in the kept range. Adjacent
   * chunks' kept ranges tile the recording, so a segment in an overlap is kept exactly once.
   */
  boolean keeps(double relStart, double relEnd) {
    double mid = (absoluteSeconds(relStart) + absoluteSeconds(relEnd)) / 2 * LogMel.SAMPLE_RATE;
    return mid >= keepFrom && mid < keepTo;
  }
}
