package ai.nos.internal.manager;

import static ai.nos.testing.Await.awaitTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.ModelState;
import ai.nos.NosException;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The futures {@link ManagerCore#inferAsync} returns, as a caller may treat them: cancelled, timed
 * out or completed by the caller, given callbacks that block, call back, interrupt or throw; and a
 * close while calls wait. The copy's lease must be given back exactly once, after the batcher is
 * done with the call, and no user code may run on a batcher's worker.
 */
@Timeout(60)
final class ManagerFuturesTest {
  static final Map<String, Tensor> INPUT = ManagerCoreTest.INPUT;
  final AtomicLong clock = new AtomicLong();
  final SimulatedBackend sim = new SimulatedBackend();
  final Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());
  ManagerCore core;

  ManagerCore core(long budget) {
    sim.device(Device.cuda(0), budget);
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    slots.put(sim.devices.get(0), budget);
    core = new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(2), null,
        clock::incrementAndGet);
    return core;
  }

  static ai.nos.ModelSpec batched(String id, long bytes, int maxBatchSize, Duration delay) {
    return ManagerCoreTest.spec(id, bytes).toBuilder().batching(Batching.builder()
        .maxBatchSize(maxBatchSize).maxQueueDelay(delay).build()).build();
  }

  @AfterEach
  void noViolations() {
    if (core != null) {
      core.close();
    }
    assertEquals(List.of(), sim.violations);
  }

  /** The ways a caller can settle the future it was given before NOS does. */
  enum CallerSettles {
    CANCEL(f -> f.cancel(true)),
    OR_TIMEOUT(f -> f.orTimeout(1, TimeUnit.MILLISECONDS).handle((v, e) -> null).join()),
    COMPLETE_EXCEPTIONALLY(f -> f.completeExceptionally(new IllegalStateException("gave up"))),
    COMPLETE(f -> f.complete(Map.of()));

    final Consumer<CompletableFuture<Map<String, Tensor>>> action;

    CallerSettles(Consumer<CompletableFuture<Map<String, Tensor>>> action) {
      this.action = action;
    }
  }

  /**
   * A queued call whose future the caller settles leaves the queue and gives its copy back: the
   * copy can be evicted at once, and after close no byte stays booked and no worker stays alive.
   */
  @ParameterizedTest
  @EnumSource(CallerSettles.class)
  void callerSettlesQueuedCall_leavesQueue_copyEvictable_closeFreesAll(CallerSettles how)
      throws Exception {
    core(100);
    Entry a = core.open(batched("a", 60, 8, Duration.ofHours(1)));
    CompletableFuture<Map<String, Tensor>> f = core.inferAsync(a, INPUT, Priority.NORMAL, null);
    assertEquals(1, core.info(a).queued());
    how.action.accept(f);
    assertTrue(f.isDone());
    // orTimeout settles the future on the JDK's timer thread, which may still be withdrawing the
    // call when the test's own dependent wakes it.
    awaitTrue(() -> core.info(a).inFlight() != 1);
    assertEquals(0, core.info(a).queued(), "the call left the queue");
    assertEquals(0, core.info(a).inFlight(), "the copy was given back, once");
    assertEquals(1, core.info(a).requests());
    assertEquals(0, core.info(a).failures(), "the caller's choice is not the model's failure");
    Entry b = core.open(ManagerCoreTest.spec("b", 60));
    assertEquals(ModelState.EVICTED, core.info(a).state());
    assertEquals(ModelState.READY, core.info(b).state());
    assertEquals(0, sim.callCount.get(), "the withdrawn call never ran");
    core.close();
    assertEquals(0, core.stats().get(0).usedBytes());
    assertEquals(List.of(), batcherThreadsLeft());
  }

  /**
   * A call cancelled while its batch runs holds its copy until the run ends, then gives it back.
   */
  @Test
  void cancelWhileRunning_holdsTheCopyUntilTheRunEnds() throws Exception {
    core(100);
    sim.gatedModel = "a";
    Entry a = core.open(batched("a", 60, 8, Duration.ZERO));
    CompletableFuture<Map<String, Tensor>> f = core.inferAsync(a, INPUT, Priority.NORMAL, null);
    awaitTrue(() -> sim.running.get() == 1);
    assertTrue(f.cancel(true));
    assertEquals(1, core.info(a).inFlight(), "the model still runs the call");
    sim.gate.countDown();
    awaitTrue(() -> core.info(a).inFlight() == 0);
    core.open(ManagerCoreTest.spec("b", 60));
    assertEquals(ModelState.EVICTED, core.info(a).state());
    assertEquals(1, core.info(a).requests());
  }

  /**
   * Callbacks never run on a batcher's workers: two callbacks that wait for each other and then
   * call the same model, eight times over, all complete (on the workers, the two would hold both
   * workers and wait for a batch that no worker is left to run).
   */
  @Test
  void callbacksCallingTheSameModel_chainEightDeep_neverOnAWorker() throws Exception {
    core(100);
    Entry a = core.open(batched("a", 60, 1, Duration.ZERO));
    CyclicBarrier together = new CyclicBarrier(2);
    CountDownLatch steps = new CountDownLatch(16);
    Set<String> callbackThreads = ConcurrentHashMap.newKeySet();
    List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
    class Step implements Consumer<Map<String, Tensor>> {
      final int depth;

      Step(int depth) {
        this.depth = depth;
      }

      @Override
      public void accept(Map<String, Tensor> out) {
        callbackThreads.add(Thread.currentThread().getName());
        try {
          together.await(10, TimeUnit.SECONDS);
          core.infer(a, INPUT);
          steps.countDown();
          if (depth < 8) {
            core.inferAsync(a, INPUT, Priority.NORMAL, null).thenAccept(new Step(depth + 1))
                .exceptionally(e -> {
                  failures.add(e);
                  return null;
                });
          }
        } catch (Exception e) {
          failures.add(e);
        }
      }
    }
    // Each chain starts on a thread of its own: a future already complete when thenAccept is
    // called runs the callback on the caller's thread (CompletableFuture's rule), and the two
    // callbacks wait for each other.
    for (int chain = 0; chain < 2; chain++) {
      new Thread(() -> core.inferAsync(a, INPUT, Priority.NORMAL, null)
          .thenAccept(new Step(1)), "chain-" + chain).start();
    }
    assertTrue(steps.await(20, TimeUnit.SECONDS), steps.getCount() + " of 16 steps left; "
        + failures + "; callbacks ran on " + callbackThreads);
    assertEquals(List.of(), failures);
    assertTrue(callbackThreads.stream().noneMatch(n -> n.startsWith("nos-batcher-")),
        callbackThreads.toString());
    assertEquals(1, core.infer(a, INPUT).get("y").numel(), "a fresh call is served");
  }

  /** A callback that leaves its thread interrupted does not stop the model. */
  @Test
  void callbackInterruptsItsThread_modelKeepsServing() {
    core(100);
    Entry a = core.open(batched("a", 60, 4, Duration.ZERO));
    for (int i = 0; i < 4; i++) {
      core.inferAsync(a, INPUT, Priority.NORMAL, null)
          .thenRun(() -> Thread.currentThread().interrupt()).join();
    }
    // A future already complete runs its callback here: this thread is not the model's, and an
    // interrupted thread's synchronous call that must wait for its batch fails (Model.infer).
    Thread.interrupted();
    for (int i = 0; i < 4; i++) {
      assertEquals(1, core.infer(a, INPUT).get("y").numel());
      assertEquals(1, core.inferAsync(a, INPUT, Priority.HIGH, null).join().get("y").numel());
    }
    assertEquals(ModelState.READY, core.info(a).state());
    assertEquals(1, sim.loads.get("a").get(), "the same copy serves on");
  }

  /** A callback that throws, even an Error, does not stop the model either. */
  @Test
  void callbackThrows_modelKeepsServing() {
    core(100);
    Entry a = core.open(batched("a", 60, 4, Duration.ZERO));
    CompletableFuture<Void> thrown = core.inferAsync(a, INPUT, Priority.NORMAL, null)
        .thenRun(() -> {
          throw new StackOverflowError("callback");
        });
    assertInstanceOf(StackOverflowError.class,
        assertThrows(CompletionException.class, thrown::join).getCause());
    core.inferAsync(a, INPUT, Priority.NORMAL, null).thenRun(() -> {
      throw new IllegalStateException("callback");
    }).handle((v, e) -> null).join();
    assertEquals(1, core.infer(a, INPUT).get("y").numel());
    assertEquals(ModelState.READY, core.info(a).state());
    assertEquals(1, sim.loads.get("a").get());
  }

  /**
   * A batcher that stopped under a ready copy (its worker interrupted from outside) is not left
   * behind the copy: the manager retires the copy and serves the next call from a fresh one.
   */
  @Test
  void batcherStoppedUnderReadyCopy_copyReplaced_callsServed() throws Exception {
    core(200);
    Entry a = core.open(batched("a", 60, 4, Duration.ZERO));
    core.infer(a, INPUT);
    List<Thread> workers = Thread.getAllStackTraces().keySet().stream()
        .filter(t -> !before.contains(t) && t.getName().startsWith("nos-batcher-a@")).toList();
    assertEquals(2, workers.size(), workers.toString());
    workers.forEach(Thread::interrupt);
    awaitTrue(() -> batcherThreads().isEmpty());
    assertEquals(1, core.infer(a, INPUT).get("y").numel());
    assertEquals(1, core.inferAsync(a, INPUT, Priority.NORMAL, null).join().get("y").numel());
    assertEquals(2, sim.loads.get("a").get(), "a fresh copy was loaded");
    assertEquals(60, core.stats().get(0).usedBytes(), "the retired copy's bytes were given back");
  }

  /**
   * Closing the manager wakes every caller still waiting, even behind a model that hangs: the
   * calls fail with a NosException after the close timeout; the hung copy is freed only once its
   * runs end.
   */
  @Test
  void close_wakesWaitingCallers_evenBehindAHungModel() throws Exception {
    core(100);
    core.closeTimeout(Duration.ofMillis(200));
    sim.gatedModel = "a";
    Entry a = core.open(batched("a", 60, 1, Duration.ZERO));
    List<CompletableFuture<Map<String, Tensor>>> calls = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      calls.add(core.inferAsync(a, INPUT, Priority.NORMAL, null));
    }
    awaitTrue(() -> sim.running.get() == 2);
    core.close();
    for (CompletableFuture<Map<String, Tensor>> f : calls) {
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> f.get(5, TimeUnit.SECONDS));
      assertInstanceOf(NosException.class, e.getCause());
      assertTrue(e.getCause().getMessage().contains("'a'"), e.getCause().getMessage());
    }
    assertEquals(60, core.stats().get(0).usedBytes(), "booked while the model still runs");
    sim.gate.countDown();
    awaitTrue(() -> core.stats().get(0).usedBytes() == 0);
    awaitTrue(() -> batcherThreads().isEmpty());
  }

  /** An OutOfMemoryError in a call is a failure like any other: counted, passed on, lease back. */
  @Test
  void errorInACall_countedAsFailure_leaseReleased_syncAndAsync() {
    core(200);
    Entry plain = core.open(ManagerCoreTest.spec("plain", 50));
    Entry batched = core.open(batched("batched", 50, 4, Duration.ZERO));
    OutOfMemoryError oom = new OutOfMemoryError("Java heap space (simulated)");
    sim.nextError.put("plain", oom);
    assertSame(oom, assertThrows(OutOfMemoryError.class, () -> core.infer(plain, INPUT)));
    sim.nextError.put("plain", oom);
    CompletableFuture<Map<String, Tensor>> f = null;
    Throwable thrown = null;
    try {
      f = core.inferAsync(plain, INPUT, Priority.NORMAL, null);
    } catch (Throwable t) {
      thrown = t; // JUnit's assertThrows would rethrow an OutOfMemoryError of another type
    }
    assertEquals(null, thrown, "inferAsync threw instead of failing its future");
    assertSame(oom, assertThrows(CompletionException.class, f::join).getCause());
    assertEquals(2, core.info(plain).failures());
    assertEquals(2, core.info(plain).requests());
    assertEquals(0, core.info(plain).inFlight());
    sim.nextError.put("batched", oom);
    NosException e = assertThrows(NosException.class, () -> core.infer(batched, INPUT));
    assertSame(oom, e.getCause());
    sim.nextError.put("batched", oom);
    assertSame(oom, assertThrows(CompletionException.class,
        () -> core.inferAsync(batched, INPUT, Priority.NORMAL, null).join()).getCause()
        .getCause());
    assertEquals(2, core.info(batched).failures());
    assertEquals(0, core.info(batched).inFlight());
    assertEquals(1, core.infer(plain, INPUT).get("y").numel());
    assertEquals(1, core.infer(batched, INPUT).get("y").numel());
  }

  /** An Error while a copy loads gives its room and its handle back, as an exception does. */
  @Test
  void errorWhileLoading_givesTheRoomBack() {
    core(100);
    OutOfMemoryError oom = new OutOfMemoryError("Java heap space (simulated)");
    sim.nextLoadError.put("a", oom);
    assertSame(oom, assertThrows(OutOfMemoryError.class,
        () -> core.open(ManagerCoreTest.spec("a", 60))));
    assertEquals(0, core.stats().get(0).usedBytes(), "the booking was given back");
    assertEquals(List.of(), core.models(), "the handle was dropped");
    Entry a = core.open(ManagerCoreTest.spec("a", 60));
    assertEquals(1, core.infer(a, INPUT).get("y").numel());
  }

  /** Threads started by this test that serve a batcher now. */
  private List<String> batcherThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && !before.contains(t) && t.getName().startsWith("nos-batcher-"))
        .map(Thread::getName).toList();
  }

  /** {@link #batcherThreads()} once none are left, or after 5 s. */
  private List<String> batcherThreadsLeft() throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    for (;;) {
      List<String> left = batcherThreads();
      if (left.isEmpty() || System.nanoTime() > end) {
        return left;
      }
      Thread.sleep(10);
    }
  }
}
