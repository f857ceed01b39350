package ai.nos.hub;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.util.concurrent.atomic.AtomicInteger;

/*
 * A HuggingFace tokenizer that the calls and generations of one facade (TextGenerator,
 * SpeechRecognizer) share and its close() frees while they may still use it.
 *
 * DJL reads a tokenizer's native handle and then calls into Rust with it: a close() between the two
 * frees the tokenizer under the running call, a use after free in native code (a JVM crash at
 * worst), and a call after close() got DJL's "Native resource has been released already.". So, as
 * TaskModel does for the task facades, uses are counted: each encode or decode holds a reference
 * while it runs; close() refuses new uses (IllegalStateException naming the facade) and the last
 * use to end frees the tokenizer, on its thread. A reference is held only inside the tokenizer,
 * never while user code runs, so close() never waits and a stuck consumer keeps nothing alive.
 * Lock-free: one CAS per use.
 */
final class SharedTokenizer implements AutoCloseable {
  private static final int CLOSED = 1 << 30;

  private final HuggingFaceTokenizer tokenizer;
  /** What the facade is called in messages, e.g. {@code text generator 'tiny'}. */
  private final String owner;
  /** Uses running, plus {@link #CLOSED} once closed. */
  private final AtomicInteger state = new AtomicInteger();

  SharedTokenizer(HuggingFaceTokenizer tokenizer, String owner) {
    this.tokenizer = tokenizer;
    this.owner = owner;
  }

  /** The ids of {@code text}, without special tokens added. */
  long[] encode(String text) {
    acquire();
    try {
      return tokenizer.encode(text, false, false).getIds();
    } finally {
      release();
    }
  }

  /** The text of {@code ids}, special tokens skipped. */
  String decode(long[] ids) {
    acquire();
    try {
      return tokenizer.decode(ids, true);
    } finally {
      release();
    }
  }

  /** The exception of a use after close. */
  IllegalStateException closedException() {
    return new IllegalStateException(owner + " is closed");
  }

  private void acquire() {
    for (;;) {
      int s = state.get();
      if ((s & CLOSED) != 0) {
        throw closedException();
      }
      if (state.compareAndSet(s, s + 1)) {
        return;
      }
    }
  }

  private void release() {
    if (state.decrementAndGet() == CLOSED) {
      tokenizer.close();
    }
  }

  /** Refuses new uses; frees the tokenizer now, or when the last running use ends. Idempotent. */
  @Override
  public void close() {
    int before = state.getAndUpdate(s -> s | CLOSED);
    if (before == 0) {
      tokenizer.close();
    }
  }
}
