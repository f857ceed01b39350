package ai.nos.internal.generate;

import ai.nos.generate.FinishReason;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;

/** One request's state, read and written by the engine's scheduler thread only. */
final class Sequence {
  final int[] prompt;
  final GenerationConfig config;
  final int[] eos;
  final long seed;
  final long submittedNanos;
  /** {@link Long#MAX_VALUE} when the request has no deadline. */
  final long deadlineNanos;
  final CompletableFuture<GeneratedTokens> future;
  final Delivery delivery;
  /** The config's suppressed ids, and those with its begin-suppressed ones: the first draw's. */
  final int[] suppressed;
  final int[] suppressedFirst;
  int slot = -1;
  /** The encoder input of an encoder-decoder request until its admission sends it; else null. */
  float[] encoderInput;
  private int[] generated = new int[16];
  private int count;

  Sequence(int[] prompt, GenerationConfig config, int[] eos, long seed, long submittedNanos,
      long deadlineNanos, CompletableFuture<GeneratedTokens> future, Delivery delivery) {
    this.prompt = prompt;
    this.config = config;
    this.eos = eos;
    this.seed = seed;
    this.submittedNanos = submittedNanos;
    this.deadlineNanos = deadlineNanos;
    this.future = future;
    this.delivery = delivery;
    this.suppressed = config.suppressTokens();
    int[] begin = config.beginSuppressTokens();
    this.suppressedFirst = begin.length == 0 ? suppressed : java.util.stream.IntStream.concat(
        Arrays.stream(suppressed), Arrays.stream(begin)).distinct().toArray();
  }

  /** The ids the next draw may not choose (see Sampler). */
  int[] suppressedNow() {
    return count == 0 ? suppressedFirst : suppressed;
  }

  /** The timestamp rules' bounds of the next draw (TimestampBounds), or null without rules. */
  long[] timestampBounds(int vocab) {
    return config.timestampRules().map(r -> TimestampBounds.of(r, generated, count, vocab))
        .orElse(null);
  }

  /**
   * Records a new token and hands it to the caller; returns why the sequence ends with it, or
   * null if it goes on. {@code cacheLength}: positions a slot holds.
   */
  FinishReason add(int token, int cacheLength) {
    if (count == generated.length) {
      generated = Arrays.copyOf(generated, count * 2);
    }
    generated[count++] = token;
    delivery.token(token);
    for (int e : eos) {
      if (e == token) {
        return FinishReason.EOS_TOKEN;
      }
    }
    if (count >= config.maxNewTokens()) {
      return FinishReason.MAX_NEW_TOKENS;
    }
    // The next step writes this token at position(); a full slot cannot take it.
    if (position() >= cacheLength) {
      return FinishReason.MAX_LENGTH;
    }
    return null;
  }

  /** Tokens generated so far, which is also the index of the next draw. */
  int count() {
    return count;
  }

  /** The tokens generated so far, a copy (the slot probe of the tests compares seen rows). */
  int[] tokens() {
    return Arrays.copyOf(generated, count);
  }

  int last() {
    return generated[count - 1];
  }

  /** The position the last token is written at by the next decode step. */
  int position() {
    return prompt.length + count - 1;
  }

  GeneratedTokens result(FinishReason reason) {
    return new GeneratedTokens(Arrays.copyOf(generated, count), reason, prompt.length);
  }
}
