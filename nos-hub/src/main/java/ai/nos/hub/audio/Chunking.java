package ai.nos.hub.audio;

import java.util.ArrayList;
import java.util.List;

/*
 * Cutting a long recording into overlapping 30 s chunks that can be decoded independently (so
 * concurrently, sharing the engine's decode steps), and stitching their segments back by time.
 *
 * The arithmetic is transformers' ASR pipeline (chunk_iter with chunk_length_s=30 and its default
 * stride of chunk/6 = 5 s on each side): chunks start every chunk - left - right samples; the first
 * chunk has no left stride and the last no right stride; a chunk no longer than its left stride
 * adds nothing and is not emitted. Each chunk keeps [start + left, start + length - right), so the
 * kept ranges tile [0, total) exactly: every sample in one chunk, none in two. A segment is given
 * to the chunk whose kept range holds its midpoint (AudioWindow.keeps), which keeps a word said in
 * an overlap once, from the chunk that saw it with the most context.
 *
 * This is the fallback. The primary strategy for audio longer than 30 s is Whisper's sequential
 * long-form decoding (SeekCursor): better at the seams, but each window waits for the one before.
 */
final class Chunking {

  private Chunking() {}

  /** Chunks of at most {@code chunk} samples, with strides {@code left} and {@code right}. */
  static List<AudioWindow> plan(long total, int chunk, int left, int right) {
    if (total < 1) {
      throw new IllegalArgumentException("audio must have at least one sample but has " + total);
    }
    if (chunk < 1 || chunk > LogMel.N_SAMPLES || left < 0 || right < 0
        || left + right >= chunk) {
      throw new IllegalArgumentException("chunk " + chunk + " must be 1 to " + LogMel.N_SAMPLES
          + " samples and longer than its strides (left " + left + ", right " + right + ")");
    }
    int step = chunk - left - right;
    List<AudioWindow> out = new ArrayList<>();
    for (long start = 0; start < total; start += step) {
      long end = Math.min(start + chunk, total);
      int length = (int) (end - start);
      boolean last = start + chunk >= total;
      int l = start == 0 ? 0 : left;
      int r = last ? 0 : right;
      if (length > l) {
        out.add(new AudioWindow(out.size(), start, length, start + l, end - r));
      }
      if (last) {
        break;
      }
    }
    return out;
  }

  /** Whisper's chunks: 30 s, 5 s of context on each side, at 16 kHz. */
  static List<AudioWindow> whisper(long total) {
    int s = LogMel.SAMPLE_RATE;
    return plan(total, 30 * s, 5 * s, 5 * s);
  }
}
