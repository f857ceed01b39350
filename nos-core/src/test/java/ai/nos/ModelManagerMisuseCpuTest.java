package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.internal.Inputs;
import ai.nos.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The public API of the manager on real libtorch (CPU), used carelessly. */
@Timeout(60)
final class ModelManagerMisuseCpuTest {

  /**
   * The same spec twice in one loadAll gives two handles, as two loads do: closing every handle
   * returned unloads the model, and none is leaked.
   */
  @Test
  void loadAll_sameSpecTwice_twoHandles_closingBothUnloads() {
    ModelSpec spec = Fixtures.identity(DType.FLOAT32);
    try (ModelManager manager = ModelManager.builder().devices(Device.cpu())
        .noFootprintCatalog().build()) {
      List<Model> handles = manager.loadAll(List.of(spec, spec));
      assertEquals(2, handles.size());
      assertNotSame(handles.get(0), handles.get(1));
      handles.get(0).close();
      assertEquals(1, manager.models().size(), "the other handle still holds the model");
      handles.get(1).close();
      assertEquals(List.of(), manager.models());
    }
  }

  /**
   * A spec without maxCallBytes whose smallest call is over this machine's default limit would
   * load and then refuse every call: it is refused at load, before its artifact is read (this
   * one does not exist).
   */
  @Test
  void load_smallestCallOverTheDefaultLimit_isRefusedBeforeTheArtifactIsRead() {
    long limit = Inputs.defaultMaxCallBytes();
    Signature.Builder sig = Signature.builder().output("y", DType.UINT8, -1, 1);
    for (long i = 0; i <= limit >> 30; i++) {
      sig.input("x" + i, DType.UINT8, -1, 1L << 30);
    }
    ModelSpec spec = ModelSpec.builder().id("wide").artifact("/no/such/wide.pt")
        .signature(sig.build()).device(Device.cpu()).build();
    try (ModelManager manager = ModelManager.builder().devices(Device.cpu())
        .noFootprintCatalog().build()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> manager.load(spec));
      assertTrue(e.getMessage().startsWith("model 'wide' could take no call: its smallest call"),
          e.getMessage());
      assertTrue(e.getMessage().contains("input 'x0' uint8[-1, 1073741824] takes at least"
          + " 1073741824 bytes), over the limit of " + limit + " bytes per call"), e.getMessage());
      assertEquals(List.of(), manager.models());
    }
  }

  /**
   * Calls queued under a long maxQueueDelay hold their copy, so the copy is freed only when they
   * end: closing the last handle, or unloading, runs them at once instead of leaving their
   * futures pending for the whole delay (ten minutes here; the test's timeout is one).
   */
  @Test
  void closeOrUnload_withCallsQueuedUnderALongDelay_runsThemNow() throws Exception {
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder().id("digits-long-delay")
        .batching(Batching.builder().maxBatchSize(64).maxQueueDelay(Duration.ofMinutes(10))
            .build()).build();
    List<int[]> rows = Fixtures.heldOutDigits();
    try (ModelManager manager = ModelManager.builder().devices(Device.cpu())
        .noFootprintCatalog().build()) {
      for (boolean unload : new boolean[] {false, true}) {
        Model model = manager.load(spec);
        List<CompletableFuture<Map<String, Tensor>>> calls = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          calls.add(model.inferAsync(Fixtures.digitBatch(rows, i, 1)));
        }
        if (unload) {
          manager.unload(spec.id());
        } else {
          model.close();
        }
        for (CompletableFuture<Map<String, Tensor>> call : calls) {
          assertEquals(10, call.get(50, TimeUnit.SECONDS).get("logits").numel(),
              unload ? "unload" : "close");
        }
        assertEquals(List.of(), manager.models());
      }
    }
  }

  /**
   * A synchronous call that waits in a batch queue stops waiting when its thread is interrupted:
   * it throws naming the model, leaves the queue, and the thread keeps its interrupt status.
   */
  @Test
  void infer_interruptedWhileQueued_withdrawsTheCallAndKeepsTheInterrupt() throws Exception {
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder().id("digits-interrupted")
        .batching(Batching.builder().maxBatchSize(64).maxQueueDelay(Duration.ofMinutes(10))
            .build()).build();
    List<int[]> rows = Fixtures.heldOutDigits();
    try (ModelManager manager = ModelManager.builder().devices(Device.cpu())
        .noFootprintCatalog().build(); Model model = manager.load(spec)) {
      CompletableFuture<Map<String, Tensor>> queued =
          model.inferAsync(Fixtures.digitBatch(rows, 0, 1));
      AtomicReference<Throwable> thrown = new AtomicReference<>();
      AtomicReference<Boolean> interrupted = new AtomicReference<>();
      Thread caller = new Thread(() -> {
        try {
          model.infer(Fixtures.digitBatch(rows, 1, 1));
        } catch (RuntimeException e) {
          thrown.set(e);
        }
        interrupted.set(Thread.currentThread().isInterrupted());
      });
      caller.start();
      Await.awaitTrue(() -> queuedCalls(manager, spec.id()) == 2);
      caller.interrupt();
      caller.join(TimeUnit.SECONDS.toMillis(50));
      assertFalse(caller.isAlive(), "infer() ignored the interrupt while its call was queued");
      assertInstanceOf(NosException.class, thrown.get());
      assertTrue(thrown.get().getMessage().contains("'digits-interrupted'"),
          thrown.get().getMessage());
      assertTrue(interrupted.get());
      assertEquals(1, queuedCalls(manager, spec.id()), "the interrupted call left the queue");
      assertFalse(queued.isDone());
    }
  }

  private static int queuedCalls(ModelManager manager, String id) {
    return manager.models().stream().filter(m -> m.id().equals(id)).findFirst().orElseThrow()
        .queued();
  }
}
