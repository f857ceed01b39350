package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.Device;
import ai.nos.ModelInfo;
import ai.nos.ModelSpec;
import ai.nos.Placement;
import ai.nos.Priority;
import ai.nos.Tensor;
import ai.nos.internal.batch.BatchBuckets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A batched copy with batch buckets, on the simulated machine: every bucket warmed on each batch
 * worker before the copy is ready, and on every reload; calls only ever run bucket sizes.
 */
@Timeout(60)
final class BatchWarmUpTest {
  static final int[] BUCKETS = {1, 2, 4, 8};
  final SimulatedBackend sim = new SimulatedBackend();
  final ExecutorService pool = Executors.newCachedThreadPool();
  ManagerCore core;

  @AfterEach
  void close() {
    pool.shutdownNow();
    if (core != null) {
      core.close();
    }
    assertEquals(List.of(), sim.violations);
  }

  ManagerCore core(long budget) {
    sim.device(Device.cuda(0), budget);
    core = new ManagerCore(sim, Map.of(sim.devices.get(0), budget), Placement.BEST_FIT,
        Duration.ofSeconds(20), null, System::nanoTime);
    return core;
  }

  static ModelSpec batched(String id, long bytes) {
    return ManagerCoreTest.spec(id, bytes).toBuilder().batching(Batching.builder()
        .maxBatchSize(8).maxQueueDelay(Duration.ofMillis(2)).build()).build();
  }

  /** The warm-up calls of a model per worker thread, in order. */
  Map<String, List<Integer>> warmUps(String model) {
    return sim.calls.stream().filter(c -> c.warmUp() && c.model().equals(model))
        .collect(Collectors.groupingBy(SimulatedBackend.Call::thread, TreeMap::new,
            Collectors.mapping(SimulatedBackend.Call::rows, Collectors.toList())));
  }

  @Test
  void open_returnsOnlyOnceEachWorkerRanEveryBucket_largestFirst() throws Exception {
    core(100);
    sim.buckets.put("a", BatchBuckets.of(BUCKETS));
    sim.warmUpGate = new CountDownLatch(1);
    Future<Entry> opening = pool.submit(() -> core.open(batched("a", 60)));
    // The workers wait at the gate; the copy must not be published meanwhile.
    assertFalse(waitFor(opening, 200), "open returned while the workers were still cold");
    assertEquals(0, core.models().stream().filter(i -> i.state() == ai.nos.ModelState.READY)
        .count());
    sim.warmUpGate.countDown();
    Entry a = opening.get(30, TimeUnit.SECONDS);
    Map<String, List<Integer>> warm = warmUps("a");
    assertEquals(Map.of("nos-batcher-a@cuda:0-0", List.of(8, 4, 2, 1),
        "nos-batcher-a@cuda:0-1", List.of(8, 4, 2, 1)), warm);
    ModelInfo info = core.info(a);
    assertEquals(List.of(1, 2, 4, 8), info.batchBuckets());
    assertTrue(info.warmUp().compareTo(Duration.ofMillis(1)) >= 0, info.warmUp().toString());
  }

  private static boolean waitFor(Future<?> f, long millis) throws Exception {
    try {
      f.get(millis, TimeUnit.MILLISECONDS);
      return true;
    } catch (java.util.concurrent.TimeoutException e) {
      return false;
    }
  }

  @Test
  void callsAfterLoad_runBucketSizesOnly_andGetTheirOwnRows() throws Exception {
    core(100);
    sim.buckets.put("a", BatchBuckets.of(BUCKETS));
    Entry a = core.open(batched("a", 60));
    List<CompletableFuture<Map<String, Tensor>>> calls = new ArrayList<>();
    List<Integer> rows = new ArrayList<>();
    java.util.Random random = new java.util.Random(7);
    for (int i = 0; i < 300; i++) {
      int n = 1 + random.nextInt(3);
      float[] x = new float[n];
      for (int r = 0; r < n; r++) {
        x[r] = i * 10 + r;
      }
      rows.add(n);
      calls.add(core.inferAsync(a, Map.of("x", Tensor.of(x, n, 1)), Priority.NORMAL, null));
    }
    for (int i = 0; i < calls.size(); i++) {
      float[] echo = calls.get(i).get(30, TimeUnit.SECONDS).get("echo").toFloatArray();
      assertEquals(rows.get(i), echo.length, "call " + i);
      for (int r = 0; r < echo.length; r++) {
        assertEquals(i * 10 + r, echo[r], "call " + i + " row " + r);
      }
    }
    List<Integer> served = sim.calls.stream().filter(c -> !c.warmUp()).map(c -> c.rows())
        .toList();
    assertFalse(served.isEmpty());
    for (int n : served) {
      assertTrue(java.util.Arrays.binarySearch(BUCKETS, n) >= 0, "ran " + n + ": " + served);
    }
  }

  @Test
  void everyReloadAfterEviction_warmsUpAgain() {
    core(100);
    sim.buckets.put("a", BatchBuckets.of(BUCKETS));
    sim.buckets.put("b", BatchBuckets.of(BUCKETS));
    Entry a = core.open(batched("a", 60));
    Entry b = core.open(batched("b", 60));
    Map<String, Tensor> one = Map.of("x", Tensor.of(new float[] {5}, 1, 1));
    for (int i = 0; i < 6; i++) {
      core.inferAsync(i % 2 == 0 ? a : b, one, Priority.NORMAL, null).join();
    }
    for (String id : List.of("a", "b")) {
      int loads = sim.loads.get(id).get();
      assertTrue(loads >= 3, id + " loaded " + loads + " times");
      long warmCalls = sim.calls.stream().filter(c -> c.warmUp() && c.model().equals(id))
          .count();
      assertEquals(loads * 2L * BUCKETS.length, warmCalls,
          id + ": every load warms each of its 2 workers at each bucket");
    }
  }

  @Test
  void withoutBuckets_theCopyRunsBatchesAsTheyCome() {
    core(100);
    Entry a = core.open(batched("a", 60));
    assertEquals(List.of(), core.info(a).batchBuckets());
    assertTrue(sim.calls.stream().noneMatch(c -> c.warmUp()), sim.calls.toString());
    float[] x = {1, 2, 3};
    assertArrayEquals(x, core.inferAsync(a, Map.of("x", Tensor.of(x, 3, 1)), Priority.NORMAL,
        null).join().get("echo").toFloatArray());
    assertEquals(List.of(3), sim.calls.stream().filter(c -> !c.warmUp()).map(c -> c.rows())
        .toList());
  }
}
