package ai.nos.hub;

import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.IntFunction;

/*
 * Feeds one recording's 30 s windows to the generator a few at a time: at most `inFlight` of
 * them queued or decoding, the next queued as one ends, so a recording of any length fits the
 * generator's bounded queue and holds the PCM copies of those few windows only (a window's copy
 * is dropped once the engine admits it). Queuing every window at once, as SpeechRecognizer did,
 * refused a recording of more windows than the queue holds (2 h 16 min with the default 16
 * slots and 256 queued: QueueFullException on an idle recognizer) and copied the whole
 * recording once more before its first window ran (a 45 min WAV ran out of a 256 MB heap that
 * held its audio). With inFlight twice the slots, a recording alone still fills every slot, a
 * window waits in the queue for each slot that frees, and recordings of up to that many
 * windows are queued whole at once as before.
 *
 * The first windows are queued on the caller's thread, and a refusal there (a full queue, the
 * generator closed) is thrown to the caller; the later ones on the thread that completes a
 * window (the generator's callback threads), where a refusal fails the result. The result
 * completes with each window's tokens in order once all are done; it fails with the first
 * window's failure; cancelled or failed, it cancels every window queued (a window queued while
 * it settles is cancelled by its queuer, which looks again after publishing it).
 */
final class WindowFeed {
  private final TokenGenerator generator;
  private final int[] prompt;
  private final GenerationConfig config;
  /** Window i's encoder input (its PCM, or its features). */
  private final IntFunction<float[]> input;
  private final int count;
  private final CompletableFuture<GeneratedTokens>[] windows;
  private final int[][] tokens;
  private final CompletableFuture<List<int[]>> result = new CompletableFuture<>();
  /** The next window to queue, and the windows done; guarded by this. */
  private int next;
  private int done;

  @SuppressWarnings("unchecked")
  private WindowFeed(TokenGenerator generator, int[] prompt, GenerationConfig config, int count,
      IntFunction<float[]> input) {
    this.generator = generator;
    this.prompt = prompt;
    this.config = config;
    this.count = count;
    this.input = input;
    this.windows = new CompletableFuture[count];
    this.tokens = new int[count][];
  }

  /**
   * Queues the first {@code inFlight} of {@code count} windows (at least one) and returns the
   * windows' tokens in order, to come; cancelling it stops them.
   *
   * @throws RuntimeException what the generator throws for one of the first windows (they are
   *     cancelled)
   */
  static CompletableFuture<List<int[]>> start(TokenGenerator generator, int[] prompt,
      GenerationConfig config, int count, int inFlight, IntFunction<float[]> input) {
    WindowFeed feed = new WindowFeed(generator, prompt, config, count, input);
    feed.result.whenComplete((t, failure) -> {
      if (failure != null) {
        feed.cancelAll();
      }
    });
    try {
      for (int k = 0; k < Math.min(inFlight, count); k++) {
        feed.queueNext();
      }
    } catch (RuntimeException | Error e) {
      feed.result.cancel(false);
      throw e;
    }
    return feed.result;
  }

  /** Queues the next window, if any is left and the result is open; throws a refusal. */
  private void queueNext() {
    int i;
    synchronized (this) {
      if (result.isDone() || next == count) {
        return;
      }
      i = next++;
    }
    CompletableFuture<GeneratedTokens> w = generator.generate(prompt, input.apply(i), config);
    synchronized (this) {
      windows[i] = w;
    }
    if (result.isDone()) {
      w.cancel(false); // settled meanwhile: cancelAll may not have seen this window
      return;
    }
    w.whenComplete((t, failure) -> ended(i, t, failure));
  }

  private void ended(int i, GeneratedTokens t, Throwable failure) {
    if (failure != null) {
      result.completeExceptionally(failure instanceof CompletionException c
          && c.getCause() != null ? c.getCause() : failure);
      return;
    }
    boolean all;
    synchronized (this) {
      tokens[i] = t.tokens();
      all = ++done == count;
    }
    if (all) {
      result.complete(Arrays.asList(tokens));
      return;
    }
    try {
      queueNext();
    } catch (RuntimeException | Error e) {
      result.completeExceptionally(e);
    }
  }

  private void cancelAll() {
    CompletableFuture<?>[] queued;
    synchronized (this) {
      queued = windows.clone();
    }
    for (CompletableFuture<?> w : queued) {
      if (w != null) {
        w.cancel(false);
      }
    }
  }
}
