package ai.nos.hub;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.nos.internal.Lease;

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
 * Lock-free: ai.nos.internal.Lease, one CAS per use.
 */
final class SharedTokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;
  /** What the facade is called in messages, e.g. {@code text generator 'tiny'}. */
  private final String owner;
  /** The uses running; frees the tokenizer once closed and the last use has ended. */
  private final Lease lease;

  SharedTokenizer(HuggingFaceTokenizer tokenizer, String owner) {
    this.tokenizer = tokenizer;
    this.owner = owner;
    this.lease = new Lease(tokenizer::close);
  }

  /** The ids of {@code text}, without special tokens added. */
  long[] encode(String text) {
    acquire();
    try {
      return tokenizer.encode(text, false, false).getIds();
    } finally {
      lease.release();
    }
  }

  /** The text of {@code ids}, special tokens skipped. */
  String decode(long[] ids) {
    acquire();
    try {
      return tokenizer.decode(ids, true);
    } finally {
      lease.release();
    }
  }

  /** The exception of a use after close. */
  IllegalStateException closedException() {
    return new IllegalStateException(owner + " is closed");
  }

  private void acquire() {
    if (!lease.tryAcquire()) {
      throw closedException();
    }
  }

  /** Refuses new uses; frees the tokenizer now, or when the last running use ends. Idempotent. */
  @Override
  public void close() {
    lease.close();
  }
}
