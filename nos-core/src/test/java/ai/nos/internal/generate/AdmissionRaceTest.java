package ai.nos.internal.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.nos.Device;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * A request the scheduler has seen at the head of the queue can leave it before the scheduler
 * takes it: a submit that finds the engine closed right after queueing takes its request back
 * (and throws to its caller). Admission must then take nothing in its place; it used to poll()
 * the head regardless, which removed the next request, and that request was neither waiting nor
 * admitted: its future never completed and close() did not fail it.
 */
final class AdmissionRaceTest {

  @Test
  void requestTakenBackBetweenPeekAndTake_theNextOneIsStillServed() throws Exception {
    GenerationConfig four = GenerationConfig.builder().maxNewTokens(4).eosTokenIds(NEVER).build();
    try (GenerationEngine engine =
        PipelinedDecodeTest.tiny("admission-race", Device.cpu(), 4, 64, false)) {
      CompletableFuture<GeneratedTokens> a = engine.submit(new int[] {1, 2, 3}, four, null);
      CompletableFuture<GeneratedTokens> b = engine.submit(new int[] {4, 5}, four, null);
      CompletableFuture<GeneratedTokens> c = engine.submit(new int[] {6, 7, 8, 9}, four, null);
      AtomicBoolean once = new AtomicBoolean();
      // a is the scheduler's first (taken by its poll); b is then seen at the head, and taken
      // back as a submit racing close() would
      engine.afterPeekForTest(s -> {
        if (once.compareAndSet(false, true)) {
          assertEquals(true, engine.takeBackForTest(s));
        }
      });
      engine.start();
      assertEquals(4, a.get(30, TimeUnit.SECONDS).size());
      assertEquals(4, c.get(30, TimeUnit.SECONDS).size(), "the request after the one taken back");
      assertFalse(b.isDone(), "the request taken back was served");
    }
  }
}
