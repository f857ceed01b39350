package ai.nos.internal.generate;

import ai.nos.generate.TimestampRules;

/**
 * Whisper's timestamp rules for one row's next draw, reduced on the host to five bounds the
 * sampler turns into a mask on the device (Sampler.timestamps): the rules depend on the row's
 * generated ids only through its last two tokens and its last timestamp, which the engine holds
 * on the host anyway (every drawn id comes back to it), so no state per slot lives on the
 * device and nothing of the logits comes to the host. transformers'
 * {@code WhisperTimeStampLogitsProcessor}, rule by rule:
 *
 * <pre>
 *   ids[NO_TIMESTAMPS] = -inf                                  -> NO_TIMESTAMPS
 *   last ts, penultimate ts (or none): ids[begin:] = -inf      -> TS_FROM = V
 *   last ts, penultimate text:         ids[:eos] = -inf        -> TEXT_BELOW = eos
 *   timestamps so far: ids[begin:last(+1)] = -inf              -> TS_FROM >= last (+1)
 *   first token: ids[:begin] = -inf, ids[begin+max+1:] = -inf  -> TEXT_BELOW = begin, TS_TO
 * </pre>
 *
 * The last rule (timestamps' summed probability above the best text token) needs the logits and
 * runs on the device with BEGIN.
 */
final class TimestampBounds {
  static final int BEGIN = 0;
  static final int NO_TIMESTAMPS = 1;
  /** Ids below it are -inf. */
  static final int TEXT_BELOW = 2;
  /** Timestamp ids outside [TS_FROM, TS_TO) are -inf. */
  static final int TS_FROM = 3;
  static final int TS_TO = 4;
  static final int SIZE = 5;

  private TimestampBounds() {}

  /** A row without the rules: nothing masked, no timestamp ids (BEGIN = V). */
  static long[] none(int vocab) {
    return new long[] {vocab, -1, 0, 0, vocab};
  }

  /** The bounds of the draw after {@code generated[0 .. count)} (see the class notes). */
  static long[] of(TimestampRules rules, int[] generated, int count, int vocab) {
    int begin = rules.timestampBegin();
    long textBelow = 0;
    long from = begin;
    long to = vocab;
    boolean lastTs = count >= 1 && generated[count - 1] >= begin;
    boolean penultimateTs = count < 2 || generated[count - 2] >= begin;
    if (lastTs) {
      if (penultimateTs) {
        from = vocab;
      } else {
        textBelow = rules.eosTokenId();
      }
    }
    for (int i = count - 1; i >= 0; i--) {
      if (generated[i] >= begin) {
        from = Math.max(from, lastTs && !penultimateTs ? generated[i] : generated[i] + 1L);
        break;
      }
    }
    if (count == 0) {
      textBelow = begin;
      if (rules.maxInitialIndex() >= 0) {
        to = Math.min(to, (long) begin + rules.maxInitialIndex() + 1);
      }
    }
    return new long[] {begin, rules.noTimestampsId(), textBelow, from, to};
  }
}
