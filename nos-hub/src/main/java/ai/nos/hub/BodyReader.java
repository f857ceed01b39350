package ai.nos.hub;

import java.io.IOException;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/*
 * A response body read on the calling thread, with a timeout on every read.
 *
 * Why not BodyHandlers.ofInputStream: java.net.http has no read timeout (HttpRequest.timeout
 * only covers the wait for the response headers), so a server that stalls mid-body would block
 * the reader forever. Subscribing to the body publisher ourselves puts each chunk in a queue the
 * reader polls with a timeout, and asks for the next chunk only when the reader took one, so at
 * most one chunk is buffered. No thread is started.
 */
final class BodyReader implements Flow.Subscriber<List<ByteBuffer>> {

  private static final Object END = new Object();

  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private final Deque<ByteBuffer> pending = new ArrayDeque<>();
  private volatile Flow.Subscription subscription;
  private volatile boolean cancelled;

  @Override
  public void onSubscribe(Flow.Subscription s) {
    subscription = s;
    if (cancelled) {
      s.cancel();
    } else {
      s.request(1);
    }
  }

  @Override
  public void onNext(List<ByteBuffer> item) {
    queue.add(item);
  }

  @Override
  public void onError(Throwable t) {
    queue.add(t);
  }

  @Override
  public void onComplete() {
    queue.add(END);
  }

  /**
   * Returns the next non-empty chunk, or null at the end of the body.
   *
   * @throws HttpTimeoutException if nothing arrived within {@code timeout}; the body is cancelled
   * @throws IOException if the connection failed
   */
  ByteBuffer next(Duration timeout) throws IOException, InterruptedException {
    while (pending.isEmpty()) {
      Object item = queue.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
      if (item == null) {
        cancel();
        throw new HttpTimeoutException(
            "no data for " + timeout.toMillis() + " ms (the read timeout)");
      }
      if (item == END) {
        return null;
      }
      if (item instanceof Throwable) {
        Throwable t = (Throwable) item;
        throw t instanceof IOException ? (IOException) t : new IOException(t.toString(), t);
      }
      for (Object buffer : (List<?>) item) {
        ByteBuffer b = (ByteBuffer) buffer;
        if (b.hasRemaining()) {
          pending.add(b);
        }
      }
      subscription.request(1);
    }
    return pending.poll();
  }

  /** Stops the body; the connection is released. Safe to call more than once. */
  void cancel() {
    cancelled = true;
    Flow.Subscription s = subscription;
    if (s != null) {
      s.cancel();
    }
  }
}
