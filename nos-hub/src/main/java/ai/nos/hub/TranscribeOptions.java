package ai.nos.hub;

import java.util.List;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * How {@link SpeechRecognizer} transcribes: language, task, timestamps, temperature, length.
 * Immutable; {@link #builder()} validates each setting as it is made.
 */
public final class TranscribeOptions {
  /**
   * Whisper's language codes in the order of their tokens in the multilingual vocabulary
   * (openai-whisper's LANGUAGES): {@code <|en|>} is the first; whisper-tiny to large-v2 have the
   * first 99, large-v3 all 100 ("yue", Cantonese, last).
   */
  static final List<String> LANGUAGES = List.of("en", "zh", "de", "es", "ru", "ko", "fr", "ja",
      "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi", "fi", "vi", "he", "uk", "el",
      "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la", "mi", "ml",
      "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is",
      "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
      "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk",
      "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw",
      "su", "yue");

  /** Whether the model writes what is said or its English translation. */
  public enum Task { TRANSCRIBE, TRANSLATE }

  private static final TranscribeOptions DEFAULTS = builder().build();

  private final String language;
  private final int languageTokenId;
  private final boolean detectLanguage;
  private final Task task;
  private final boolean timestamps;
  private final float temperature;
  private final Long seed;
  private final int maxNewTokens;
  /** Null: the model's (its generation_config.json's, or none). */
  private final int[] suppressTokens;
  private final int[] beginSuppressTokens;

  private TranscribeOptions(Builder b) {
    this.language = b.language;
    this.languageTokenId = b.languageTokenId;
    this.detectLanguage = b.detectLanguage;
    this.task = b.task;
    this.timestamps = b.timestamps;
    this.temperature = b.temperature;
    this.seed = b.seed;
    this.maxNewTokens = b.maxNewTokens;
    this.suppressTokens = b.suppressTokens;
    this.beginSuppressTokens = b.beginSuppressTokens;
  }

  /**
   * English, transcribe, no timestamps, greedy, 224 new tokens per window, the model's
   * suppressed tokens.
   */
  public static TranscribeOptions defaults() {
    return DEFAULTS;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The language code, or null when a token id was given instead or it is detected. */
  public String language() {
    return language;
  }

  /** The language token id given, or -1 when a code was or it is detected. */
  public int languageTokenId() {
    return languageTokenId;
  }

  /** Whether the language is detected from the recording's first 30 s. */
  public boolean detectLanguage() {
    return detectLanguage;
  }

  public Task task() {
    return task;
  }

  public boolean timestamps() {
    return timestamps;
  }

  public float temperature() {
    return temperature;
  }

  public OptionalLong seed() {
    return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
  }

  public int maxNewTokens() {
    return maxNewTokens;
  }

  /**
   * The ids never generated, or empty: the model's, its {@code generation_config.json}'s
   * {@code suppress_tokens} (none without the file). A copy.
   */
  public Optional<int[]> suppressTokens() {
    return Optional.ofNullable(suppressTokens).map(int[]::clone);
  }

  /**
   * The ids never generated as a window's first token, or empty: the model's
   * {@code begin_suppress_tokens} (none without the file). A copy.
   */
  public Optional<int[]> beginSuppressTokens() {
    return Optional.ofNullable(beginSuppressTokens).map(int[]::clone);
  }

  @Override
  public String toString() {
    return "TranscribeOptions{language=" + (detectLanguage ? "detect" : language != null
        ? language : "#" + languageTokenId)
        + ", task=" + task + ", timestamps=" + timestamps + ", temperature=" + temperature
        + ", seed=" + seed + ", maxNewTokens=" + maxNewTokens
        + (suppressTokens == null ? "" : ", suppress=" + Arrays.toString(suppressTokens))
        + (beginSuppressTokens == null ? ""
            : ", beginSuppress=" + Arrays.toString(beginSuppressTokens)) + "}";
  }

  /** Settings of {@link TranscribeOptions}; not thread-safe, reusable after build. */
  public static final class Builder {
    private String language = "en";
    private int languageTokenId = -1;
    private boolean detectLanguage;
    private Task task = Task.TRANSCRIBE;
    private boolean timestamps;
    private float temperature;
    private Long seed;
    private int maxNewTokens = 224;
    private int[] suppressTokens;
    private int[] beginSuppressTokens;

    private Builder() {}

    /**
     * A Whisper language code ("en", "de", ...; see openai-whisper's list; "yue" is large-v3's
     * only, and a model without it refuses it when transcribing). "en" by default; replaces
     * {@link #detectLanguage()} and {@link #languageTokenId}.
     */
    public Builder language(String code) {
      Objects.requireNonNull(code, "language must not be null");
      if (!LANGUAGES.contains(code)) {
        throw new IllegalArgumentException("language must be one of Whisper's codes "
            + LANGUAGES + " but was '" + code + "'");
      }
      this.language = code;
      this.languageTokenId = -1;
      this.detectLanguage = false;
      return this;
    }

    /** The language as a token id of the model's vocabulary (for a language token that no
     * code of {@link #language} names in the model). */
    public Builder languageTokenId(int id) {
      if (id < 0) {
        throw new IllegalArgumentException("language token id must not be negative, was " + id);
      }
      this.languageTokenId = id;
      this.language = null;
      this.detectLanguage = false;
      return this;
    }

    /**
     * Detects the language from the recording's first 30 s (the most likely language token
     * after {@code <|startoftranscript|>}, as transformers' {@code detect_language}) and decodes
     * every window in it; replaces {@link #language} and {@link #languageTokenId}.
     */
    public Builder detectLanguage() {
      this.detectLanguage = true;
      this.language = null;
      this.languageTokenId = -1;
      return this;
    }

    public Builder task(Task task) {
      this.task = Objects.requireNonNull(task, "task must not be null");
      return this;
    }

    /**
     * Whether the prompt lets the model write timestamp tokens (it leaves out
     * {@code <|notimestamps|>}); segments then follow them. Off by default.
     */
    public Builder timestamps(boolean on) {
      this.timestamps = on;
      return this;
    }

    /**
     * 0 (the default) decodes greedily; from
     * {@link ai.nos.generate.GenerationConfig#MIN_TEMPERATURE} on, finite, samples with this
     * temperature (the generator's bounds, see {@code GenerationConfig.Builder.temperature}).
     */
    public Builder temperature(float t) {
      if (!(t >= 0) || Float.isInfinite(t)
          || (t > 0 && t < ai.nos.generate.GenerationConfig.MIN_TEMPERATURE)) {
        throw new IllegalArgumentException("temperature must be 0 (greedy) or a finite value"
            + " of at least " + ai.nos.generate.GenerationConfig.MIN_TEMPERATURE + ", was " + t);
      }
      this.temperature = t;
      return this;
    }

    /** The seed of sampled decoding: the same seed gives the same tokens. */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /** New tokens per 30 s window, 1 to 440 (Whisper's 448 positions less the prompt). */
    public Builder maxNewTokens(int n) {
      if (n < 1 || n > 440) {
        throw new IllegalArgumentException("maxNewTokens must be 1 to 440, was " + n);
      }
      this.maxNewTokens = n;
      return this;
    }

    /**
     * Ids never generated, replacing the model's {@code suppress_tokens} (an empty list: none);
     * each 0 or more, and inside the model's vocabulary when transcribed.
     */
    public Builder suppressTokens(int... ids) {
      this.suppressTokens = ai.nos.generate.GenerationConfig.builder().suppressTokens(ids).build()
          .suppressTokens();
      return this;
    }

    /**
     * Ids never generated as a window's first token, replacing the model's
     * {@code begin_suppress_tokens} (an empty list: none); checked as {@link #suppressTokens}.
     */
    public Builder beginSuppressTokens(int... ids) {
      this.beginSuppressTokens = ai.nos.generate.GenerationConfig.builder().beginSuppressTokens(ids)
          .build().beginSuppressTokens();
      return this;
    }


    public TranscribeOptions build() {
      return new TranscribeOptions(this);
    }
  }
}
