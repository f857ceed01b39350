package ai.nos.hub;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * What {@link SpeechRecognizer} heard: segments in time order, each with its token ids and, when
 * the model came with a tokenizer, its text. Immutable.
 */
public final class Transcript {

  /**
   * A stretch of the recording: {@code start} and {@code end} in seconds from its beginning,
   * the decoder's new token ids for it (the end-of-text id included when the decoder wrote it),
   * and its text when a tokenizer is present (special and timestamp tokens left out).
   */
  public record Segment(double start, double end, int[] tokenIds, Optional<String> text) {
    public Segment {
      tokenIds = tokenIds.clone();
    }

    @Override
    public int[] tokenIds() {
      return tokenIds.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Segment s && s.start == start && s.end == end
          && Arrays.equals(s.tokenIds, tokenIds) && s.text.equals(text);
    }

    @Override
    public int hashCode() {
      return Double.hashCode(start) * 31 + Arrays.hashCode(tokenIds);
    }

    @Override
    public String toString() {
      return String.format("[%.2f-%.2f] %s", start, end, text.orElse(Arrays.toString(tokenIds)));
    }
  }

  private final List<Segment> segments;
  private final String language;

  Transcript(List<Segment> segments, String language) {
    this.segments = List.copyOf(segments);
    this.language = language;
  }

  /**
   * The code of the language the recording was decoded in ("en"): the one given, or the one
   * detected ({@link TranscribeOptions.Builder#detectLanguage()}); empty when it was given as a
   * token id the model's vocabulary names no code for.
   */
  public Optional<String> language() {
    return Optional.ofNullable(language);
  }

  public List<Segment> segments() {
    return segments;
  }

  /** The segments' texts joined, or empty without a tokenizer. */
  public Optional<String> text() {
    if (segments.stream().anyMatch(s -> s.text().isEmpty())) {
      return Optional.empty();
    }
    StringBuilder b = new StringBuilder();
    for (Segment s : segments) {
      b.append(s.text().orElseThrow());
    }
    return Optional.of(b.toString().strip());
  }

  /** Every segment's token ids, in order. */
  public int[] tokenIds() {
    return segments.stream().flatMapToInt(s -> Arrays.stream(s.tokenIds)).toArray();
  }

  @Override
  public String toString() {
    return "Transcript" + (language == null ? "" : "(" + language + ")") + segments;
  }
}
