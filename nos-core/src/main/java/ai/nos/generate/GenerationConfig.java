package ai.nos.generate;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * How one request generates: how many tokens, how each is chosen, when to stop. Immutable; made
 * with {@link #builder()}, whose setters validate at once and name the bad value.
 *
 * <p>Choosing a token, in the order transformers applies them: the repetition penalty (a logit of
 * a token already in the prompt or the output is divided by it when positive, multiplied when
 * negative), then greedy ({@code temperature == 0}, the default: the most likely token), or
 * sampling: logits divided by the temperature, cut to the {@code topK} most likely, then to the
 * smallest set of most likely tokens whose probability reaches {@code topP}, and one drawn from
 * what is left. A sampled request is reproducible: the same seed, prompt and model give the same
 * tokens whatever else runs in the batch beside it (see {@link TokenGenerator}).
 *
 * <p>Suppressed tokens ({@link Builder#suppressTokens}) are never chosen; begin-suppressed ones
 * ({@link Builder#beginSuppressTokens}) are never the first generated token (the first after
 * the prompt). Their logits are -inf before anything else chooses, as transformers'
 * {@code SuppressTokensLogitsProcessor} and {@code SuppressTokensAtBeginLogitsProcessor} do for
 * Whisper's {@code suppress_tokens} and {@code begin_suppress_tokens}. Whisper's timestamp rules
 * ({@link Builder#timestampRules}, see {@link TimestampRules}) come after them, on what they
 * leave.
 */
public final class GenerationConfig {
  private static final GenerationConfig DEFAULTS = new Builder().build();

  private final int maxNewTokens;
  /** The smallest sampling temperature (see {@link Builder#temperature}). */
  public static final float MIN_TEMPERATURE = 1e-6f;

  private final float temperature;
  private final int topK;
  private final float topP;
  private final float repetitionPenalty;
  private final Long seed;
  private final int[] eosTokenIds;
  private final List<String> stopStrings;
  private final Duration timeout;
  private final int[] suppressTokens;
  private final int[] beginSuppressTokens;
  private final TimestampRules timestampRules;

  private GenerationConfig(Builder b) {
    this.maxNewTokens = b.maxNewTokens;
    this.temperature = b.temperature;
    this.topK = b.topK;
    this.topP = b.topP;
    this.repetitionPenalty = b.repetitionPenalty;
    this.seed = b.seed;
    this.eosTokenIds = b.eosTokenIds;
    this.stopStrings = List.copyOf(b.stopStrings);
    this.timeout = b.timeout;
    this.suppressTokens = b.suppressTokens;
    this.beginSuppressTokens = b.beginSuppressTokens;
    this.timestampRules = b.timestampRules;
  }

  /** Greedy, 64 new tokens, the model's EOS id, no stop strings, no deadline. */
  public static GenerationConfig defaults() {
    return DEFAULTS;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this config's settings. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.maxNewTokens = maxNewTokens;
    b.temperature = temperature;
    b.topK = topK;
    b.topP = topP;
    b.repetitionPenalty = repetitionPenalty;
    b.seed = seed;
    b.eosTokenIds = eosTokenIds;
    b.stopStrings = new ArrayList<>(stopStrings);
    b.timeout = timeout;
    b.suppressTokens = suppressTokens;
    b.beginSuppressTokens = beginSuppressTokens;
    b.timestampRules = timestampRules;
    return b;
  }

  public int maxNewTokens() {
    return maxNewTokens;
  }

  /** 0 for greedy decoding. */
  public float temperature() {
    return temperature;
  }

  public boolean isGreedy() {
    return temperature == 0f;
  }

  /** 0 when off. */
  public int topK() {
    return topK;
  }

  /** 1 when off. */
  public float topP() {
    return topP;
  }

  /** 1 when off. */
  public float repetitionPenalty() {
    return repetitionPenalty;
  }

  /** The sampling seed, or empty: the generator picks one per request. */
  public OptionalLong seed() {
    return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
  }

  /** The ids that end a sequence; empty: the model's own end-of-sequence id. A copy. */
  public int[] eosTokenIds() {
    return eosTokenIds.clone();
  }

  /** Texts that end a generation (applied by nos-hub's TextGenerator, which has the text). */
  public List<String> stopStrings() {
    return stopStrings;
  }

  /** How long a request may take from submission to its last token, or empty for no limit. */
  public Optional<Duration> timeout() {
    return Optional.ofNullable(timeout);
  }

  /** The ids never generated; empty for none (the default). A copy. */
  public int[] suppressTokens() {
    return suppressTokens.clone();
  }

  /** The ids never generated as the first token after the prompt; empty for none. A copy. */
  public int[] beginSuppressTokens() {
    return beginSuppressTokens.clone();
  }

  /** Whisper's timestamp rules, or empty: none (the default). */
  public Optional<TimestampRules> timestampRules() {
    return Optional.ofNullable(timestampRules);
  }

  @Override
  public String toString() {
    return "GenerationConfig{maxNewTokens=" + maxNewTokens + (isGreedy() ? ", greedy"
        : ", temperature=" + temperature + ", topK=" + topK + ", topP=" + topP)
        + ", repetitionPenalty=" + repetitionPenalty + (seed == null ? "" : ", seed=" + seed)
        + (eosTokenIds.length == 0 ? "" : ", eos=" + Arrays.toString(eosTokenIds))
        + (stopStrings.isEmpty() ? "" : ", stop=" + stopStrings)
        + (timeout == null ? "" : ", timeout=" + timeout)
        + (suppressTokens.length == 0 ? "" : ", suppress=" + Arrays.toString(suppressTokens))
        + (beginSuppressTokens.length == 0 ? ""
            : ", beginSuppress=" + Arrays.toString(beginSuppressTokens))
        + (timestampRules == null ? "" : ", " + timestampRules) + "}";
  }

  /** Builds a {@link GenerationConfig}; reusable after {@link #build()}. Not thread-safe. */
  public static final class Builder {
    private int maxNewTokens = 64;
    private float temperature = 0f;
    private int topK = 0;
    private float topP = 1f;
    private float repetitionPenalty = 1f;
    private Long seed;
    private int[] eosTokenIds = new int[0];
    private List<String> stopStrings = new ArrayList<>();
    private Duration timeout;
    private int[] suppressTokens = new int[0];
    private int[] beginSuppressTokens = new int[0];
    private TimestampRules timestampRules;

    private Builder() {}

    /** At least 1. */
    public Builder maxNewTokens(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("maxNewTokens must be at least 1, was " + n);
      }
      this.maxNewTokens = n;
      return this;
    }

    /**
     * 0 for greedy (the default), else a finite value from {@link #MIN_TEMPERATURE}: sampling.
     * Below that the logits divided by it leave float's range (a logit of 30 over 1e-38 is
     * infinite) and the draw is no longer a sample: ask for 0, the most likely token, instead.
     */
    public Builder temperature(float t) {
      if (!(t >= 0f) || Float.isInfinite(t) || (t > 0f && t < MIN_TEMPERATURE)) {
        throw new IllegalArgumentException("temperature must be 0 (greedy) or a finite value"
            + " of at least " + MIN_TEMPERATURE + ", was " + t);
      }
      this.temperature = t;
      return this;
    }

    /** Keep the k most likely tokens when sampling; 0 (the default) for all. */
    public Builder topK(int k) {
      if (k < 0) {
        throw new IllegalArgumentException("topK must be 0 (off) or more, was " + k);
      }
      this.topK = k;
      return this;
    }

    /** Nucleus sampling: in (0, 1]; 1 (the default) is off. */
    public Builder topP(float p) {
      if (!(p > 0f && p <= 1f)) {
        throw new IllegalArgumentException("topP must be in (0, 1], was " + p);
      }
      this.topP = p;
      return this;
    }

    /** Above 0; 1 (the default) is off, above 1 discourages repeats. */
    public Builder repetitionPenalty(float penalty) {
      if (!(penalty > 0f) || Float.isInfinite(penalty)) {
        throw new IllegalArgumentException("repetitionPenalty must be a finite value above 0,"
            + " was " + penalty);
      }
      this.repetitionPenalty = penalty;
      return this;
    }

    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /** The ids that end a sequence, replacing the model's own; each 0 or more. */
    public Builder eosTokenIds(int... ids) {
      Objects.requireNonNull(ids, "eosTokenIds must not be null");
      for (int id : ids) {
        if (id < 0) {
          throw new IllegalArgumentException("eosTokenIds must be 0 or more, got "
              + Arrays.toString(ids));
        }
      }
      this.eosTokenIds = ids.clone();
      return this;
    }

    /**
     * Ids never generated (Whisper's {@code suppress_tokens}), replacing any set before; none by
     * default. Each 0 or more here; each below the model's vocabulary size when the request is
     * submitted ({@link IllegalArgumentException} naming the id and the size, as is a list that,
     * with the begin-suppressed ids, leaves no token to choose).
     */
    public Builder suppressTokens(int... ids) {
      this.suppressTokens = tokenIds("suppressTokens", ids);
      return this;
    }

    /**
     * Ids never generated as the first token after the prompt (Whisper's
     * {@code begin_suppress_tokens}, e.g. a blank and end-of-text); none by default. Checked as
     * {@link #suppressTokens} are.
     */
    public Builder beginSuppressTokens(int... ids) {
      this.beginSuppressTokens = tokenIds("beginSuppressTokens", ids);
      return this;
    }

    /**
     * Applies Whisper's timestamp rules (see {@link TimestampRules}, which checks the values)
     * from the first generated token on; off by default. Each id must also be inside the
     * model's vocabulary when the request is submitted ({@link IllegalArgumentException}
     * naming it).
     *
     * @param maxInitialIndex the latest first timestamp, in steps of 0.02 s after
     *     {@code timestampBegin} (Whisper's {@code max_initial_timestamp_index}, 50: 1 s); -1
     *     for no bound
     */
    public Builder timestampRules(int timestampBegin, int noTimestampsId, int eosTokenId,
        int maxInitialIndex) {
      this.timestampRules = new TimestampRules(timestampBegin, noTimestampsId, eosTokenId,
          maxInitialIndex);
      return this;
    }

    /** Turns the timestamp rules off (the default). */
    public Builder noTimestampRules() {
      this.timestampRules = null;
      return this;
    }

    private static int[] tokenIds(String name, int[] ids) {
      Objects.requireNonNull(ids, name + " must not be null");
      for (int i = 0; i < ids.length; i++) {
        if (ids[i] < 0) {
          throw new IllegalArgumentException(name + " must be token ids of 0 or more, but "
              + name + "[" + i + "] was " + ids[i]);
        }
      }
      return ids.clone();
    }

    /** Texts that end the generation when they appear in its output; each non-empty. */
    public Builder stopStrings(String... stops) {
      Objects.requireNonNull(stops, "stopStrings must not be null");
      List<String> list = new ArrayList<>();
      for (String s : stops) {
        if (s == null || s.isEmpty()) {
          throw new IllegalArgumentException("stop strings must be non-empty, got "
              + Arrays.toString(stops));
        }
        list.add(s);
      }
      this.stopStrings = list;
      return this;
    }

    /**
     * The request's deadline, counted from submission; positive. One of a long's nanoseconds
     * or more (about 292 years, {@code ChronoUnit.FOREVER}'s duration) means no limit.
     */
    public Builder timeout(Duration timeout) {
      Objects.requireNonNull(timeout, "timeout must not be null");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, was " + timeout);
      }
      this.timeout = timeout;
      return this;
    }

    public GenerationConfig build() {
      return new GenerationConfig(this);
    }
  }
}
