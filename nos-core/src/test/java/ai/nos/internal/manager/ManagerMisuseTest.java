package ai.nos.internal.manager;

import static ai.nos.testing.Await.awaitTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.ModelSpec;
import ai.nos.NosException;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The manager as a careless or hostile application treats it: callbacks that never return,
 * timeouts shorter than a hung model's run, a close while a load is on its way.
 */
@Timeout(60)
final class ManagerMisuseTest {
  static final Map<String, Tensor> INPUT = ManagerCoreTest.INPUT;
  final SimulatedBackend sim = new SimulatedBackend();
  final Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());
  ManagerCore core;

  ManagerCore core(long budget, Duration closeTimeout) {
    sim.device(Device.cuda(0), budget);
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    slots.put(sim.devices.get(0), budget);
    core = new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(5), null,
        System::nanoTime);
    core.closeTimeout(closeTimeout);
    return core;
  }

  static ModelSpec batched(String id, long bytes, int maxBatchSize) {
    return ManagerCoreTest.spec(id, bytes).toBuilder().batching(Batching.builder()
        .maxBatchSize(maxBatchSize).maxQueueDelay(Duration.ZERO).build()).build();
  }

  @AfterEach
  void noViolations() {
    sim.gate.countDown();
    CountDownLatch g = sim.loadGate;
    if (g != null) {
      g.countDown();
    }
    if (core != null) {
      core.close();
    }
    assertEquals(List.of(), sim.violations);
  }

  /**
   * A callback that never returns holds one callback thread, not the close: with no call left,
   * close returns at once rather than wait its whole timeout for the application's code.
   */
  @Test
  void callbackBlocksForever_closeDoesNotWaitForIt() throws Exception {
    core(100, Duration.ofSeconds(20));
    Entry a = core.open(batched("a", 60, 4));
    CountDownLatch never = new CountDownLatch(1);
    CountDownLatch inCallback = new CountDownLatch(1);
    AtomicReference<String> where = new AtomicReference<>();
    // Held in flight, so that the future is not complete when the callback is added (a complete
    // one runs it on this thread, as documented).
    CountDownLatch held = new CountDownLatch(1);
    sim.gates.put("a", held);
    CompletableFuture<Map<String, Tensor>> call = core.inferAsync(a, INPUT, Priority.NORMAL, null);
    assertTrue(!call.isDone());
    call.thenRun(() -> {
      where.set(Thread.currentThread().getName());
      inCallback.countDown();
      try {
        never.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    sim.gates.remove("a");
    held.countDown();
    assertTrue(inCallback.await(10, TimeUnit.SECONDS));
    assertTrue(where.get().startsWith("nos-callback-"), where.get());
    // The model keeps serving while the callback blocks.
    assertEquals(1, core.inferAsync(a, INPUT, Priority.NORMAL, null).get(5, TimeUnit.SECONDS)
        .get("y").numel());
    long t0 = System.nanoTime();
    core.close();
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    never.countDown();
    assertTrue(ms < 5_000, "close waited " + ms + " ms for a callback of the application");
    assertEquals(0, core.stats().get(0).usedBytes());
  }
  /**
   * A call's timeout is how long it may wait to start. Behind a model whose runs hang (every
   * worker busy), a queued call with a short timeout fails at its deadline, not whenever a worker
   * frees up, and gives its copy back then.
   */
  @Test
  void shortTimeout_behindAHungModel_failsAtItsDeadline_andGivesTheCopyBack() throws Exception {
    core(100, Duration.ofMillis(200));
    sim.gatedModel = "a";
    Entry a = core.open(batched("a", 60, 1));
    core.inferAsync(a, INPUT, Priority.NORMAL, null);
    core.inferAsync(a, INPUT, Priority.NORMAL, null);
    awaitTrue(() -> sim.running.get() == 2);
    CompletableFuture<Map<String, Tensor>> late =
        core.inferAsync(a, INPUT, Priority.NORMAL, Duration.ofMillis(50));
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> late.get(5, TimeUnit.SECONDS), "the hung runs still hold both workers");
    assertInstanceOf(DeadlineExceededException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("'a'"), e.getCause().getMessage());
    awaitTrue(() -> core.info(a).inFlight() == 2);
    assertEquals(0, core.info(a).queued());
    sim.gate.countDown();
    awaitTrue(() -> core.info(a).inFlight() == 0);
  }

  /**
   * The same with an application thread factory that stops giving threads once the workers run
   * (returns null, which a pool takes silently): the deadline timer still gets a thread (a NOS
   * daemon), so the call still fails at its deadline. Before, its timer waited in the pool's
   * queue with no thread, and the call until a worker freed up.
   */
  @Test
  void shortTimeout_applicationFactoryGivesNoMoreThreads_stillFailsAtItsDeadline()
      throws Exception {
    java.util.concurrent.atomic.AtomicBoolean refuse =
        new java.util.concurrent.atomic.AtomicBoolean();
    sim.device(Device.cuda(0), 100);
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    slots.put(sim.devices.get(0), 100L);
    core = new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(5), null,
        System::nanoTime, r -> {
          if (refuse.get()) {
            return null;
          }
          Thread t = new Thread(r, "app-thread");
          t.setDaemon(true);
          return t;
        });
    core.closeTimeout(Duration.ofMillis(200));
    sim.gatedModel = "a";
    Entry a = core.open(batched("a", 60, 1));
    core.inferAsync(a, INPUT, Priority.NORMAL, null);
    core.inferAsync(a, INPUT, Priority.NORMAL, null);
    awaitTrue(() -> sim.running.get() == 2);
    refuse.set(true);
    CompletableFuture<Map<String, Tensor>> late =
        core.inferAsync(a, INPUT, Priority.NORMAL, Duration.ofMillis(50));
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> late.get(5, TimeUnit.SECONDS), "the hung runs still hold both workers");
    assertInstanceOf(DeadlineExceededException.class, e.getCause());
    sim.gate.countDown();
    awaitTrue(() -> core.info(a).inFlight() == 0);
  }

  /** Calls that end well before their timeout leave no timer behind: a long run stays flat. */
  @Test
  void callsWithLongTimeouts_leaveNoTimerOnceSettled() throws Exception {
    core(100, Duration.ofSeconds(5));
    Entry a = core.open(batched("a", 60, 4));
    for (int i = 0; i < 2_000; i++) {
      CompletableFuture<Map<String, Tensor>> f =
          core.inferAsync(a, INPUT, Priority.NORMAL, Duration.ofHours(1));
      if (i % 2 == 0) {
        f.cancel(false);
      }
      f.handle((v, e) -> null).get(5, TimeUnit.SECONDS);
    }
    awaitTrue(() -> core.pendingDeadlines() == 0);
    assertEquals(0, core.info(a).inFlight());
  }

  /** A user callback that throws an Error stops neither the model nor the callback pool. */
  @Test
  void callbackThrowsAnError_modelAndPoolGoOn() throws Exception {
    core(100, Duration.ofSeconds(5));
    Entry a = core.open(batched("a", 60, 4));
    for (int i = 0; i < 20; i++) {
      CompletableFuture<Void> bad = core.inferAsync(a, INPUT, Priority.NORMAL, null)
          .thenRun(() -> {
            throw new StackOverflowError("application bug");
          });
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> bad.get(5, TimeUnit.SECONDS));
      assertInstanceOf(StackOverflowError.class, e.getCause());
    }
    assertEquals(1, core.inferAsync(a, INPUT, Priority.NORMAL, null).get(5, TimeUnit.SECONDS)
        .get("y").numel());
    assertEquals(0, core.info(a).failures());
    assertEquals(0, core.info(a).inFlight());
  }

  /**
   * A close while a load is on its way: close returns without waiting for the load; the loader
   * then fails saying the manager closed, and gives its booking back; no worker is left.
   */
  @Test
  void closeWhileLoading_loaderFailsNamingTheClose_booksEmpty() throws Exception {
    for (boolean batchedModel : new boolean[] {true, false}) {
      if (sim.devices.isEmpty()) {
        sim.device(Device.cuda(0), 100);
      }
      ManagerCore c = new ManagerCore(sim, Map.of(sim.devices.get(0), 100L), Placement.BEST_FIT,
          Duration.ofSeconds(5), null, System::nanoTime);
      c.closeTimeout(Duration.ofMillis(200));
      CountDownLatch gate = new CountDownLatch(1);
      sim.loadGate = gate;
      ModelSpec spec = batchedModel ? batched("a", 60, 4) : ManagerCoreTest.spec("a", 60);
      CompletableFuture<Entry> opening = CompletableFuture.supplyAsync(() -> c.open(spec));
      assertTrue(sim.loadsStarted.tryAcquire(10, TimeUnit.SECONDS));
      long t0 = System.nanoTime();
      c.close();
      assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3), "close waited");
      gate.countDown();
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> opening.get(10, TimeUnit.SECONDS));
      assertInstanceOf(IllegalStateException.class, e.getCause(), e.getCause().toString());
      assertTrue(e.getCause().getMessage().contains("'a'")
          && e.getCause().getMessage().contains("closed"), e.getCause().getMessage());
      assertEquals(0, c.stats().get(0).usedBytes());
      assertEquals(List.of(), c.models());
      sim.loadGate = null;
    }
    awaitTrue(() -> batcherThreads().isEmpty());
  }

  /**
   * Eight threads load, release, unload, rescale and call six models (half batched) on two small
   * devices with the host tier on, with timeouts of 0-2 ms and cancels racing completion; then
   * the manager closes under them. Every future completes, every failure is one a caller is told
   * to expect, the books and the host tier end empty and the devices are never over budget.
   */
  @Test
  void storm_loadUnloadScaleCallCancel_thenCloseUnderIt() throws Exception {
    sim.parks = true;
    Map<Backend.DeviceInfo, Long> slots = new LinkedHashMap<>();
    for (int i = 0; i < 2; i++) {
      sim.device(Device.cuda(i), 150);
      slots.put(sim.devices.get(i), 150L);
    }
    core = new ManagerCore(sim, slots, Placement.BEST_FIT, Duration.ofSeconds(2), null,
        System::nanoTime, null, 130);
    core.closeTimeout(Duration.ofSeconds(2));
    List<ModelSpec> specs = new java.util.ArrayList<>();
    for (int i = 0; i < 6; i++) {
      specs.add(i % 2 == 0 ? batched("m" + i, 60, 4) : ManagerCoreTest.spec("m" + i, 60));
    }
    List<CompletableFuture<Map<String, Tensor>>> futures =
        new java.util.concurrent.CopyOnWriteArrayList<>();
    List<Throwable> unexpected = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicBoolean stop =
        new java.util.concurrent.atomic.AtomicBoolean();
    java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(9);
    List<Thread> threads = new java.util.ArrayList<>();
    for (int t = 0; t < 8; t++) {
      long seed = t;
      Thread th = new Thread(() -> {
        java.util.Random rnd = new java.util.Random(seed);
        List<Entry> mine = new java.util.ArrayList<>();
        try {
          start.await();
        } catch (Exception e) {
          return;
        }
        for (int n = 0; !stop.get() || n < 50; n++) {
          ModelSpec spec = specs.get(rnd.nextInt(specs.size()));
          try {
            switch (rnd.nextInt(10)) {
              case 0, 1 -> mine.add(core.open(spec));
              case 2 -> {
                if (!mine.isEmpty()) {
                  core.release(mine.remove(rnd.nextInt(mine.size())));
                }
              }
              case 3 -> core.unload(spec.id());
              case 4 -> core.scale(spec.id(), 1 + rnd.nextInt(2));
              case 5 -> {
                if (!mine.isEmpty()) {
                  core.infer(mine.get(rnd.nextInt(mine.size())), INPUT);
                }
              }
              default -> {
                if (!mine.isEmpty()) {
                  CompletableFuture<Map<String, Tensor>> f = core.inferAsync(
                      mine.get(rnd.nextInt(mine.size())), INPUT, Priority.NORMAL,
                      rnd.nextBoolean() ? null : Duration.ofNanos(rnd.nextInt(2_000_000)));
                  futures.add(f);
                  if (rnd.nextInt(3) == 0) {
                    f.cancel(true);
                  }
                }
              }
            }
          } catch (IllegalStateException | IllegalArgumentException | NosException e) {
            // What a caller is told to expect: unloaded, closed, unknown id, no room in time.
          } catch (Throwable e) {
            unexpected.add(e);
          }
        }
        mine.forEach(e -> {
          try {
            core.release(e);
          } catch (Throwable x) {
            unexpected.add(x);
          }
        });
      }, "storm-" + t);
      th.start();
      threads.add(th);
    }
    start.await();
    Thread.sleep(1_500);
    core.close();
    stop.set(true);
    for (Thread th : threads) {
      th.join(20_000);
      assertTrue(!th.isAlive(), th.getName() + " stuck: "
          + java.util.Arrays.toString(th.getStackTrace()));
    }
    for (CompletableFuture<Map<String, Tensor>> f : futures) {
      try {
        f.get(10, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof NosException
            || e.getCause() instanceof IllegalStateException)) {
          unexpected.add(e.getCause());
        }
      } catch (java.util.concurrent.CancellationException e) {
        // the caller's own
      }
    }
    assertEquals(List.of(), unexpected);
    for (int i = 0; i < 2; i++) {
      int d = i;
      awaitTrue(() -> core.stats().get(d).usedBytes() == 0);
    }
    assertEquals(0, sim.hostLive.get(), "host tier empty");
    assertEquals(List.of(), core.models());
    System.out.printf("storm: %d calls%n", futures.size());
  }

  private List<String> batcherThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && !before.contains(t) && t.getName().startsWith("nos-batcher-"))
        .map(Thread::getName).toList();
  }
}
