package ai.nos;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * How concurrent requests to a model are gathered into batches.
 *
 * <p>Requests wait in a queue of at most {@link #maxQueueSize()} requests. A batch is sent when
 * the compatible requests waiting add up to {@link #maxBatchSize()} rows (or to the largest of the
 * {@link #preferredBatchSizes()}, when some are set), or when the oldest waiting request has
 * waited {@link #maxQueueDelay()} since it arrived. Requests are compatible when their inputs
 * agree in every dimension but the batch dimension, or differ only in dimensions that a
 * {@link Padding} rule pads.
 *
 * <p>Every setting has a builder method; construct through {@link #builder()} or
 * {@link #ofMaxBatchSize}. Messages of the exceptions thrown here start with the path of the
 * setting, such as {@code batching.maxBatchSize}; the padding rules are checked against the
 * signature when the {@link ModelSpec} is built.
 *
 * <p>Instances are immutable and thread-safe. Builders are not thread-safe.
 */
public final class Batching {

  /** The queue limit unless one is set. */
  public static final int DEFAULT_MAX_QUEUE_SIZE = 1024;

  /** The longest queue delay: the most nanoseconds a {@code long} holds, in whole microseconds. */
  private static final Duration MAX_DELAY =
      Duration.ofNanos(Long.MAX_VALUE).truncatedTo(ChronoUnit.MICROS);

  private final int maxBatchSize;
  private final Duration maxQueueDelay;
  private final List<Integer> preferredBatchSizes;
  private final int maxQueueSize;
  private final List<Padding> padding;
  private final List<Padding.Unpad> unpad;

  private Batching(Builder builder) {
    this.maxBatchSize = builder.maxBatchSize;
    this.maxQueueDelay = builder.maxQueueDelay;
    this.preferredBatchSizes = List.copyOf(builder.preferredBatchSizes);
    this.maxQueueSize = builder.maxQueueSize;
    this.padding = List.copyOf(builder.padding);
    this.unpad = List.copyOf(builder.unpad);
  }

  /** Returns a builder with no settings made yet. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns batching with the given largest batch and every other setting at its default.
   *
   * @param maxBatchSize the most requests in one batch, {@code >= 1}
   * @throws IllegalArgumentException if {@code maxBatchSize < 1}
   */
  public static Batching ofMaxBatchSize(int maxBatchSize) {
    return builder().maxBatchSize(maxBatchSize).build();
  }

  /** Returns a builder holding the settings of this batching. */
  public Builder toBuilder() {
    Builder b = new Builder().maxBatchSize(maxBatchSize).maxQueueDelay(maxQueueDelay)
        .maxQueueSize(maxQueueSize);
    b.preferredBatchSizes.addAll(preferredBatchSizes);
    b.padding.addAll(padding);
    b.unpad.addAll(unpad);
    return b;
  }

  /** The most rows (of the batch dimension) run together in one call of the model. */
  public int maxBatchSize() {
    return maxBatchSize;
  }

  /**
   * How long the oldest waiting request may wait, from its arrival, for a batch to fill before
   * the batch is sent as it is; {@link Duration#ZERO} (the default) sends at once.
   */
  public Duration maxQueueDelay() {
    return maxQueueDelay;
  }

  /**
   * Batch sizes to aim for, strictly increasing, each at most {@link #maxBatchSize()}; empty (the
   * default) aims for {@link #maxBatchSize()}. Unmodifiable.
   *
   * <p>With {@link #maxBatchSize()} they are also the batch sizes a copy runs, on any device, when
   * the model's batch is the only dimension of its signature that varies: a batch is padded with
   * zero rows up to the smallest of them that holds it (the padding rows are dropped from the
   * outputs), and each is run once before the copy is ready. Without them, a copy on a CUDA device
   * runs the powers of two up to {@code maxBatchSize} and {@code maxBatchSize} itself; a copy on
   * the CPU runs batches at their own size. {@link ModelInfo#batchBuckets()} reports the sizes.
   */
  public List<Integer> preferredBatchSizes() {
    return preferredBatchSizes;
  }

  /** The most requests that may wait; one more is refused at once. 1024 unless set. */
  public int maxQueueSize() {
    return maxQueueSize;
  }

  /** The inputs padded so that requests of different lengths share a batch; unmodifiable. */
  public List<Padding> padding() {
    return padding;
  }

  /** The outputs cut back to each request's own length; unmodifiable. */
  public List<Padding.Unpad> unpad() {
    return unpad;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Batching b && maxBatchSize == b.maxBatchSize
        && maxQueueDelay.equals(b.maxQueueDelay)
        && preferredBatchSizes.equals(b.preferredBatchSizes) && maxQueueSize == b.maxQueueSize
        && padding.equals(b.padding) && unpad.equals(b.unpad);
  }

  @Override
  public int hashCode() {
    return Objects.hash(maxBatchSize, maxQueueDelay, preferredBatchSizes, maxQueueSize, padding,
        unpad);
  }

  /** The settings that differ from their defaults, e.g. {@code Batching{maxBatchSize=64}}. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("Batching{maxBatchSize=").append(maxBatchSize);
    if (!maxQueueDelay.isZero()) {
      sb.append(", maxQueueDelay=").append(maxQueueDelay);
    }
    if (!preferredBatchSizes.isEmpty()) {
      sb.append(", preferredBatchSizes=").append(preferredBatchSizes);
    }
    if (maxQueueSize != DEFAULT_MAX_QUEUE_SIZE) {
      sb.append(", maxQueueSize=").append(maxQueueSize);
    }
    if (!padding.isEmpty()) {
      sb.append(", padding=").append(padding);
    }
    if (!unpad.isEmpty()) {
      sb.append(", unpad=").append(unpad);
    }
    return sb.append('}').toString();
  }

  /**
   * Collects batching settings; {@link #build()} leaves it usable. A setting made twice keeps the
   * last value, except padding and unpad rules, which are appended. Not thread-safe.
   */
  public static final class Builder {
    private static final int UNSET = 0;

    private int maxBatchSize = UNSET;
    private Duration maxQueueDelay = Duration.ZERO;
    private final List<Integer> preferredBatchSizes = new ArrayList<>();
    private int maxQueueSize = DEFAULT_MAX_QUEUE_SIZE;
    private final List<Padding> padding = new ArrayList<>();
    private final List<Padding.Unpad> unpad = new ArrayList<>();

    private Builder() {}

    /**
     * Sets the most rows run together in one call of the model. Required.
     *
     * @param maxBatchSize {@code >= 1}
     * @throws IllegalArgumentException if {@code maxBatchSize < 1}
     */
    public Builder maxBatchSize(int maxBatchSize) {
      if (maxBatchSize < 1) {
        throw new IllegalArgumentException(
            "batching.maxBatchSize must be >= 1 but was " + maxBatchSize);
      }
      this.maxBatchSize = maxBatchSize;
      return this;
    }

    /**
     * Sets how long the oldest waiting request may wait, from its arrival, before its batch is
     * sent unfilled; zero by default (send at once). JSON keeps it in microseconds, so it must be a
     * whole number of them.
     *
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code delay} is negative, not a whole number of
     *     microseconds, or more nanoseconds than a {@code long} holds
     */
    public Builder maxQueueDelay(Duration delay) {
      Objects.requireNonNull(delay, "batching.maxQueueDelay must not be null");
      if (delay.isNegative()) {
        throw new IllegalArgumentException("batching.maxQueueDelay must be >= 0 but was " + delay);
      }
      if (!delay.truncatedTo(ChronoUnit.MICROS).equals(delay)) {
        throw new IllegalArgumentException(
            "batching.maxQueueDelay must be a whole number of microseconds but was " + delay);
      }
      if (delay.compareTo(MAX_DELAY) > 0) {
        throw new IllegalArgumentException(
            "batching.maxQueueDelay must be at most " + MAX_DELAY + " but was " + delay);
      }
      this.maxQueueDelay = delay;
      return this;
    }

    /**
     * Sets the batch sizes to aim for, replacing any set before; none by default. When some are
     * set, a batch is sent as soon as the largest can be filled, and a batch sent by the delay is
     * cut to the largest preferred size it reaches. Each must be at most {@code maxBatchSize},
     * which {@link #build()} checks.
     *
     * @param sizes strictly increasing, each {@code >= 1}; none clears them
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if a size is {@code < 1} or the
     *     sizes are not strictly increasing
     */
    public Builder preferredBatchSizes(int... sizes) {
      Objects.requireNonNull(sizes, "batching.preferredBatchSizes must not be null");
      for (int i = 0; i < sizes.length; i++) {
        if (sizes[i] < 1) {
          throw new IllegalArgumentException("batching.preferredBatchSizes[" + i
              + "] must be >= 1 but was " + sizes[i]);
        }
        if (i > 0 && sizes[i] <= sizes[i - 1]) {
          throw new IllegalArgumentException("batching.preferredBatchSizes must be strictly "
              + "increasing but was " + Arrays.toString(sizes));
        }
      }
      preferredBatchSizes.clear();
      for (int size : sizes) {
        preferredBatchSizes.add(size);
      }
      return this;
    }

    /**
     * Sets the most requests that may wait; 1024 by default.
     *
     * @param maxQueueSize {@code >= 1}
     * @throws IllegalArgumentException if {@code maxQueueSize < 1}
     */
    public Builder maxQueueSize(int maxQueueSize) {
      if (maxQueueSize < 1) {
        throw new IllegalArgumentException(
            "batching.maxQueueSize must be >= 1 but was " + maxQueueSize);
      }
      this.maxQueueSize = maxQueueSize;
      return this;
    }

    /**
     * Appends a padding rule.
     *
     * @throws NullPointerException if {@code rule} is null
     */
    public Builder padding(Padding rule) {
      Objects.requireNonNull(rule, () -> "batching.padding[" + padding.size()
          + "] must not be null");
      padding.add(rule);
      return this;
    }

    /**
     * Appends an unpad rule; its input dimension must be padded by a padding rule.
     *
     * @throws NullPointerException if {@code rule} is null
     */
    public Builder unpad(Padding.Unpad rule) {
      Objects.requireNonNull(rule, () -> "batching.unpad[" + unpad.size() + "] must not be null");
      unpad.add(rule);
      return this;
    }

    /**
     * Returns the batching.
     *
     * @throws IllegalArgumentException if {@code maxBatchSize} was not set, a preferred size is
     *     above it, two padding rules pad the same input dimension, two unpad rules cut the same
     *     output dimension, or an unpad rule follows an input dimension no padding rule pads
     */
    public Batching build() {
      if (maxBatchSize == UNSET) {
        throw new IllegalArgumentException("batching.maxBatchSize is required");
      }
      for (int i = 0; i < preferredBatchSizes.size(); i++) {
        if (preferredBatchSizes.get(i) > maxBatchSize) {
          throw new IllegalArgumentException("batching.preferredBatchSizes[" + i + "] must be <= "
              + "batching.maxBatchSize (" + maxBatchSize + ") but was "
              + preferredBatchSizes.get(i));
        }
      }
      for (int i = 0; i < padding.size(); i++) {
        Padding p = padding.get(i);
        for (int j = 0; j < i; j++) {
          if (padding.get(j).input().equals(p.input()) && padding.get(j).dim() == p.dim()) {
            throw new IllegalArgumentException("batching.padding[" + i + "] pads input '"
                + p.input() + "' dim " + p.dim() + " again, like batching.padding[" + j + "]");
          }
        }
      }
      for (int i = 0; i < unpad.size(); i++) {
        Padding.Unpad u = unpad.get(i);
        for (int j = 0; j < i; j++) {
          if (unpad.get(j).output().equals(u.output()) && unpad.get(j).dim() == u.dim()) {
            throw new IllegalArgumentException("batching.unpad[" + i + "] cuts output '"
                + u.output() + "' dim " + u.dim() + " again, like batching.unpad[" + j + "]");
          }
        }
        if (padding.stream().noneMatch(
            p -> p.input().equals(u.input()) && p.dim() == u.inputDim())) {
          throw new IllegalArgumentException("batching.unpad[" + i + "] follows input '"
              + u.input() + "' dim " + u.inputDim() + ", which no batching.padding rule pads");
        }
      }
      return new Batching(this);
    }
  }
}
