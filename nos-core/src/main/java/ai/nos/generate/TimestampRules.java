package ai.nos.generate;

/**
 * Whisper's timestamp rules ({@link GenerationConfig.Builder#timestampRules}), as transformers'
 * {@code WhisperTimeStampLogitsProcessor} applies them when {@code return_timestamps} is on.
 * Timestamp tokens are the ids from {@code timestampBegin} to the end of the vocabulary (id
 * {@code timestampBegin + i} is {@code i x 0.02} s); before each draw, in this order:
 *
 * <ol>
 *   <li>{@code noTimestampsId} is never generated;
 *   <li>after a timestamp that follows a timestamp (or is the first generated token), no
 *       timestamp comes next; after a timestamp that follows text, only a timestamp or an id
 *       from {@code eosTokenId} on (so timestamps come in pairs, except just before the end);
 *   <li>timestamps do not decrease: none below the last one generated, and none equal to it
 *       either unless it closes a pair (it may then open the next segment at the same time);
 *   <li>the first generated token is a timestamp, at most {@code timestampBegin +
 *       maxInitialIndex} (-1: no bound);
 *   <li>when the probabilities of all timestamps together exceed the most likely other token
 *       (log-softmax of the logits left by the rules above), only timestamps remain.
 * </ol>
 *
 * @param timestampBegin the first timestamp id ({@code <|0.00|>})
 * @param noTimestampsId {@code <|notimestamps|>}; below {@code timestampBegin}
 * @param eosTokenId end of text; below {@code timestampBegin}
 * @param maxInitialIndex the latest first timestamp, in timestamp steps; -1 for no bound
 */
public record TimestampRules(int timestampBegin, int noTimestampsId, int eosTokenId,
    int maxInitialIndex) {
  /**
   * @throws IllegalArgumentException if an id is negative, {@code noTimestampsId} or
   *     {@code eosTokenId} is not below {@code timestampBegin}, or {@code maxInitialIndex} is
   *     below -1 (ids are checked against the model's vocabulary when a request is submitted)
   */
  public TimestampRules {
    if (noTimestampsId < 0 || eosTokenId < 0 || timestampBegin <= Math.max(noTimestampsId,
        eosTokenId)) {
      throw new IllegalArgumentException("timestamp rules need token ids of 0 or more with"
          + " noTimestampsId and eosTokenId below timestampBegin, got timestampBegin="
          + timestampBegin + ", noTimestampsId=" + noTimestampsId + ", eosTokenId="
          + eosTokenId);
    }
    if (maxInitialIndex < -1) {
      throw new IllegalArgumentException("maxInitialIndex must be -1 (no bound) or more, was "
          + maxInitialIndex);
    }
  }
}
