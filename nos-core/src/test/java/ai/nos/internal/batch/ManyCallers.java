package ai.nos.internal.batch;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The batcher stress tests' callers: {@code threads} threads, started together by a latch, each
 * making {@code calls} calls with its own ids (thread k asks for k x calls + i), every fourth
 * thread asynchronous. Counts the calls answered with their own id and the wrong or failed ones.
 */
final class ManyCallers {
  /** One call for {@code id}; returns the id the outputs carry. */
  interface Call {
    float call(boolean async, float id) throws Exception;
  }

  /** What the callers got: answered with their own id, and wrong or failed. */
  record Counts(int answered, int wrong) {}

  private ManyCallers() {}

  static Counts run(int threads, int calls, Call call) throws InterruptedException {
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> callers = new ArrayList<>();
    AtomicInteger wrong = new AtomicInteger();
    AtomicInteger answered = new AtomicInteger();
    for (int k = 0; k < threads; k++) {
      int base = k * calls;
      boolean async = k % 4 == 3;
      Thread t = new Thread(() -> {
        try {
          go.await();
          for (int i = 0; i < calls; i++) {
            float want = base + i;
            (call.call(async, want) == want ? answered : wrong).incrementAndGet();
          }
        } catch (Exception e) {
          wrong.incrementAndGet();
        }
      });
      t.start();
      callers.add(t);
    }
    go.countDown();
    for (Thread t : callers) {
      t.join();
    }
    return new Counts(answered.get(), wrong.get());
  }
}
