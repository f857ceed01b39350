package ai.nos.hub;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * One running generation's text as a blocking iterator: {@link #next()} returns the next piece
 * (whole UTF-8 characters, stop strings already cut, as {@link TextGenerator#stream} hands them
 * over) once it is produced, and the iteration ends with the generation.
 *
 * <pre>{@code
 * try (TextPieces pieces = lm.pieces("Once upon a time", config)) {
 *   while (pieces.hasNext()) {
 *     System.out.print(pieces.next());
 *   }
 * }   // closing early stops the generation and frees its sequence slot
 * }</pre>
 *
 * <p>Why an iterator and not a {@link java.util.concurrent.Flow.Publisher}: the consumer's code
 * runs on the consumer's own thread (a plain loop, a virtual thread, a servlet's), never on NOS's
 * threads, and ending early is {@link #close()} in a try-with-resources, which also runs when the
 * loop body throws. A Publisher would call {@code onNext} on NOS's threads and needs a reactive
 * library to be pleasant to use; one that wants it adapts this iterator
 * ({@code Flux.fromStream(pieces.stream())}) or the callback of {@link TextGenerator#stream}.
 *
 * <p>Buffering, no back-pressure: the engine does not wait for a slow consumer (it would stall
 * every sequence sharing the decode step), so pieces produced ahead of the consumer wait here.
 * The buffer is bounded by the generation itself: at most one piece per generated token, so at
 * most {@link ai.nos.generate.GenerationConfig#maxNewTokens()} pieces.
 *
 * <p>{@link #close()} cancels the generation if it still runs: its cache slot is free before the
 * generator's next step, and {@link #hasNext()} returns false from then on (a piece it had
 * already looked ahead at is dropped). If the generation fails (a deadline, a failed step, the
 * generator closed), {@link #hasNext()} throws {@link CompletionException} with the cause, after
 * the pieces produced before the failure.
 *
 * <p>Thread-safety: one consumer thread iterates; {@link #close()} and {@link #result()} may be
 * called from any thread.
 */
public final class TextPieces implements Iterator<String>, AutoCloseable {
  /** Put after the last piece when the generation settles, however it settles. */
  private static final Object END = new Object();

  private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private final AtomicBoolean closed = new AtomicBoolean();
  private CompletableFuture<Generation> result;
  /** The consumer's look-ahead: a piece taken from the queue by hasNext(), or END. */
  private Object next;

  TextPieces() {}

  /** Called on the generator's callback thread, in order, before the result completes. */
  void offer(String piece) {
    queue.add(piece);
  }

  /** Binds the running generation; its settling ends the iteration. */
  void start(CompletableFuture<Generation> generation) {
    this.result = generation;
    generation.whenComplete((g, e) -> queue.add(END));
  }

  /**
   * Waits for the next piece or the end of the generation.
   *
   * @return false when the generation ended (or was closed) and every piece was returned
   * @throws CompletionException if the generation failed; the cause says why
   * @throws CancellationException if the thread is interrupted while waiting (the generation is
   *     cancelled and the interrupt flag set again)
   */
  @Override
  public boolean hasNext() {
    if (closed.get()) {
      // Closed: over, even if a piece was already looked ahead at (it is dropped, as the rest).
      next = END;
    } else if (next == null) {
      try {
        next = queue.take();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        close();
        throw new CancellationException("interrupted while waiting for the next piece of"
            + " the generation; it was cancelled");
      }
    }
    if (next != END) {
      return true;
    }
    if (!closed.get() && result.isCompletedExceptionally() && !result.isCancelled()) {
      result.join();
    }
    return false;
  }

  /**
   * The next piece of text, waiting for it if need be.
   *
   * @throws NoSuchElementException if the generation ended and every piece was returned
   * @throws CompletionException as {@link #hasNext()}
   */
  @Override
  public String next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the generation ended: " + describe());
    }
    String piece = (String) next;
    next = null;
    return piece;
  }

  /**
   * The generation's outcome: its text, tokens and finish reason. Cancelled if closed before it
   * ended.
   */
  public CompletableFuture<Generation> result() {
    return result;
  }

  /**
   * The remaining pieces as a sequential stream; closing the stream closes this (so
   * {@code try (Stream<String> s = pieces.stream())} stops the generation when left).
   */
  public Stream<String> stream() {
    return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this,
        Spliterator.ORDERED | Spliterator.NONNULL), false).onClose(this::close);
  }

  /** Stops the generation if it still runs, freeing its cache slot. Idempotent. */
  @Override
  public void close() {
    if (!closed.getAndSet(true)) {
      result.cancel(false);
    }
  }

  private String describe() {
    if (closed.get() && result.isCancelled()) {
      return "closed before its end";
    }
    return result.isDone() && !result.isCompletedExceptionally()
        ? result.join().finishReason().toString() : "closed";
  }
}
