package ai.nos.generate;

import static ai.nos.testing.TinyLlama.greedy;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.ModelManager;
import ai.nos.internal.generate.GenerationEngine;
import ai.nos.testing.TinyLlama;
import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Whose threads a TokenGenerator runs on (CPU, models/llm-tiny): booked with a manager that has
 * an application ThreadFactory, its scheduler, its default callback pool and a delivery's
 * fallback thread are the factory's; standalone, NOS's daemons as before. A factory that gives no
 * scheduler thread fails the build with an exception that says so.
 */
final class TokenGeneratorThreadsTest {

  /** Names its threads app-N, counts them, remembers them; can be told to refuse (null). */
  private static final class AppThreads implements ThreadFactory {
    final Set<Thread> made = ConcurrentHashMap.newKeySet();
    final AtomicInteger count = new AtomicInteger();
    final AtomicBoolean refuse = new AtomicBoolean();
    volatile boolean throwInstead;

    @Override
    public Thread newThread(Runnable r) {
      if (refuse.get()) {
        if (throwInstead) {
          throw new IllegalStateException("no threads today");
        }
        return null;
      }
      Thread t = new Thread(r, "app-" + count.incrementAndGet());
      t.setDaemon(true);
      made.add(t);
      return t;
    }
  }

  private static ModelManager manager(ThreadFactory threads) {
    return ModelManager.builder().devices(Device.cpu()).memoryBudget(Device.cpu(), 100_000_000)
        .noFootprintCatalog().loadTimeout(Duration.ofSeconds(30)).threadFactory(threads).build();
  }

  private static TokenGenerator.Builder generator(String id) {
    return TokenGenerator.builder(TinyLlama.MODEL).id(id).device(Device.cpu()).maxSequences(2)
        .maxLength(64);
  }

  /** The live threads running a generation engine's scheduler loop. */
  private static List<Thread> schedulers() {
    return Thread.getAllStackTraces().entrySet().stream()
        .filter(e -> List.of(e.getValue()).stream().anyMatch(f ->
            f.getClassName().equals(GenerationEngine.class.getName())
                && f.getMethodName().equals("run")))
        .map(java.util.Map.Entry::getKey).toList();
  }

  private static int[] generatesReference(TokenGenerator lm, Set<Thread> consumers) {
    JsonNode c = TinyLlama.reference().get("cases").get(0);
    // A bound, not a hang, if no thread ever delivers (what a refusal other than
    // RejectedExecutionException did: it reached the engine's scheduler and stopped it).
    int[] tokens = lm.stream(ints(c.get("prompt_ids")), greedy(),
        id -> consumers.add(Thread.currentThread())).orTimeout(60, TimeUnit.SECONDS).join()
        .tokens();
    assertArrayEquals(ints(c.get("greedy_ids")), tokens);
    return tokens;
  }

  @Test
  void booked_schedulerAndCallbacks_comeFromTheManagersFactory() {
    AppThreads app = new AppThreads();
    try (ModelManager m = manager(app)) {
      Set<Thread> before = Set.copyOf(schedulers());
      try (TokenGenerator lm = generator("tiny-threads").manager(m).build()) {
        Set<Thread> consumers = ConcurrentHashMap.newKeySet();
        generatesReference(lm, consumers);
        List<Thread> mine = schedulers().stream().filter(t -> !before.contains(t)).toList();
        assertEquals(1, mine.size(), "scheduler threads: " + mine);
        assertTrue(app.made.contains(mine.get(0)),
            "the scheduler " + mine.get(0).getName() + " is not the application's");
        assertFalse(consumers.isEmpty());
        for (Thread t : consumers) {
          assertTrue(app.made.contains(t), "a consumer ran on " + t.getName());
        }
      }
    }
  }

  @Test
  void booked_refusingCallbackExecutor_deliversOnAThreadOfTheManagersFactory() {
    AppThreads app = new AppThreads();
    Executor refusing = task -> {
      throw new RejectedExecutionException("shut down");
    };
    try (ModelManager m = manager(app);
        TokenGenerator lm = generator("tiny-refused").manager(m).executor(refusing).build()) {
      Set<Thread> consumers = ConcurrentHashMap.newKeySet();
      generatesReference(lm, consumers);
      assertFalse(consumers.isEmpty());
      for (Thread t : consumers) {
        assertTrue(app.made.contains(t), "a consumer ran on " + t.getName());
      }
    }
  }

  /**
   * The factory gives nothing once the manager is up: the refusing executor's delivery falls
   * back to a NOS daemon thread (logged) rather than leaving the caller waiting. The executor
   * refuses with another exception than RejectedExecutionException: any exception from execute
   * is a refusal (it reached the engine's scheduler before).
   */
  @Test
  void booked_factoryRefusesTheFallbackToo_deliversOnANosDaemon() {
    AppThreads app = new AppThreads();
    Executor refusing = task -> {
      throw new IllegalStateException("saturated");
    };
    try (ModelManager m = manager(app);
        TokenGenerator lm = generator("tiny-refused-twice").manager(m).executor(refusing)
            .build()) {
      app.refuse.set(true);
      Set<Thread> consumers = ConcurrentHashMap.newKeySet();
      generatesReference(lm, consumers);
      for (Thread t : consumers) {
        assertEquals("nos-generate-delivery", t.getName());
        assertTrue(t.isDaemon());
      }
    }
  }

  @Test
  void booked_factoryGivesNoScheduler_failsTheBuildSayingSo() {
    for (boolean throwing : new boolean[] {false, true}) {
      AppThreads app = new AppThreads();
      app.throwInstead = throwing;
      try (ModelManager m = manager(app)) {
        app.refuse.set(true);
        RuntimeException e = assertThrows(RuntimeException.class,
            () -> generator("tiny-no-thread").manager(m).build());
        Throwable c = e;
        while (c != null && !(c instanceof IllegalStateException
            && String.valueOf(c.getMessage()).contains("thread factory"))) {
          c = c.getCause();
        }
        assertNotNull(c, "no cause names the thread factory: " + e);
        assertTrue(c.getMessage().contains("scheduler"), c.getMessage());
        if (throwing) {
          assertEquals("no threads today", c.getCause().getMessage());
        }
        app.refuse.set(false);
        assertTrue(m.models().isEmpty(), "left booked: " + m.models());
      }
    }
  }

  /** Without a manager, nothing changes: the scheduler is NOS's daemon nos-generate-<id>. */
  @Test
  void standalone_schedulerIsANosDaemon() {
    Set<Thread> before = Set.copyOf(schedulers());
    try (TokenGenerator lm = generator("tiny-alone").build()) {
      generatesReference(lm, ConcurrentHashMap.newKeySet());
      List<Thread> mine = schedulers().stream().filter(t -> !before.contains(t)).toList();
      assertEquals(1, mine.size(), "scheduler threads: " + mine);
      assertEquals("nos-generate-tiny-alone", mine.get(0).getName());
      assertTrue(mine.get(0).isDaemon());
    }
  }

  /**
   * close() from a consumer that the executor runs on the scheduler ({@code Runnable::run})
   * returns at once and leaves the consumer's thread, the scheduler, uninterrupted; the request
   * fails as closed. close() interrupted the scheduler, the caller's own thread, and joined it
   * (the interrupt made the join throw at once, and a warning said the scheduler did not stop
   * within 30 s): the consumer went on interrupted, so its next blocking call threw, or an
   * interruptible channel it wrote to was closed.
   */
  @Test
  void standalone_closeFromAConsumerOnTheScheduler_leavesItsThreadUninterrupted()
      throws Exception {
    TokenGenerator lm = generator("tiny-inline").executor(Runnable::run).build();
    AtomicBoolean interrupted = new AtomicBoolean(true);
    AtomicBoolean closed = new AtomicBoolean();
    CompletableFuture<GeneratedTokens> f = lm.stream(new int[] {1, 2}, greedy(), id -> {
      if (!closed.getAndSet(true)) {
        lm.close();
        interrupted.set(Thread.currentThread().isInterrupted());
      }
    });
    java.util.concurrent.ExecutionException e = assertThrows(
        java.util.concurrent.ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
    assertTrue(e.getCause() instanceof IllegalStateException, String.valueOf(e.getCause()));
    assertFalse(interrupted.get(), "the consumer's thread was left interrupted by close()");
  }

  /**
   * The factory gives no thread once the stream runs (null, or an exception), so the manager's
   * deadline thread never starts: a request whose consumer blocks still gives its copy back when
   * its sequence ends (on a NOS daemon), and close() does not wait for it. The task waited in
   * the deadline pool's queue with no thread to run it: inFlight stayed 1 and close() took its
   * 30 s timeout.
   */
  @Test
  void booked_factoryGivesNoDeadlineThread_blockedConsumerStillGivesItsCopyBack()
      throws Exception {
    for (boolean throwing : new boolean[] {false, true}) {
      AppThreads app = new AppThreads();
      app.throwInstead = throwing;
      try (ModelManager m = manager(app)) {
        TokenGenerator lm = generator("tiny-no-deadlines").manager(m).build();
        CountDownLatch letGo = new CountDownLatch(1);
        CompletableFuture<GeneratedTokens> f =
            TinyLlama.streamBlockedOnFirstToken(lm, letGo, id -> { });
        app.refuse.set(true);
        // a timeout here: the ended sequence kept its copy
        ai.nos.testing.Await.awaitTrue(() -> inFlight(m, "tiny-no-deadlines") == 0);
        long closing = System.nanoTime();
        lm.close();
        assertTrue(System.nanoTime() - closing < TimeUnit.SECONDS.toNanos(10),
            "close waited for a reference not given back");
        assertEquals(0, m.stats().get(0).usedBytes(), m.stats().get(0).toString());
        letGo.countDown();
        assertTrue(f.get(30, TimeUnit.SECONDS).size() > 32, "ran to the cache's end");
      }
    }
  }

  private static long inFlight(ModelManager m, String id) {
    return m.models().stream().filter(i -> i.id().equals(id)).findFirst().orElseThrow()
        .inFlight();
  }
}
