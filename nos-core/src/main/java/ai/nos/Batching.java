package ai.nos;

/**
 * How concurrent requests to a model are gathered into batches.
 *
 * <p>Every setting has a builder method; the builder is meant to grow (queue delay, for one)
 * without breaking callers, so construct through {@link #builder()} or {@link #ofMaxBatchSize}.
 * Messages of the exceptions thrown here start with the path of the setting, such as
 * {@code batching.maxBatchSize}.
 *
 * <p>Instances are immutable and thread-safe. Builders are not thread-safe.
 */
public final class Batching {

  private final int maxBatchSize;

  private Batching(Builder builder) {
    this.maxBatchSize = builder.maxBatchSize;
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
    return new Builder().maxBatchSize(maxBatchSize);
  }

  /** The most requests (rows of the batch dimension) run together in one call of the model. */
  public int maxBatchSize() {
    return maxBatchSize;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Batching && ((Batching) o).maxBatchSize == maxBatchSize;
  }

  @Override
  public int hashCode() {
    return Integer.hashCode(maxBatchSize);
  }

  @Override
  public String toString() {
    return "Batching{maxBatchSize=" + maxBatchSize + "}";
  }

  /**
   * Collects batching settings; {@link #build()} leaves it usable. A setting made twice keeps the
   * last value. Not thread-safe.
   */
  public static final class Builder {
    private static final int UNSET = 0;

    private int maxBatchSize = UNSET;

    private Builder() {}

    /**
     * Sets the most requests run together in one call of the model. Required.
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
     * Returns the batching.
     *
     * @throws IllegalArgumentException if {@code maxBatchSize} was not set
     */
    public Batching build() {
      if (maxBatchSize == UNSET) {
        throw new IllegalArgumentException("batching.maxBatchSize is required");
      }
      return new Batching(this);
    }
  }
}
