package ai.nos.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.QueueFullException;
import ai.nos.testing.TinyLlama;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Admission control: {@code maxQueued} bounds the requests that wait for a slot, not the
 * requests that find one free. The engine's queue used to hold every request between submit
 * and admission and refused once {@code maxQueued} were in it: {@code maxQueued(0)} refused
 * every request of an idle generator, and a burst on free slots was refused beyond
 * {@code maxQueued} although no request of it would have waited.
 */
final class TokenGeneratorAdmissionTest {
  private static final GenerationConfig ENDLESS = GenerationConfig.builder().maxNewTokens(10_000)
      .eosTokenIds(NEVER).build();

  @Test
  void maxQueuedZero_freeSlotServes_fullSlotsRefuse() throws Exception {
    try (TokenGenerator g = TokenGenerator.builder(TinyLlama.MODEL).id("no-queue")
        .device(Device.cpu()).maxSequences(1).maxLength(64).maxQueued(0).build()) {
      assertEquals(3, g.generate(new int[] {1, 2}, GenerationConfig.builder().maxNewTokens(3)
          .eosTokenIds(NEVER).build()).get(30, TimeUnit.SECONDS).size());
      CountDownLatch started = new CountDownLatch(1);
      CompletableFuture<GeneratedTokens> running = g.stream(new int[] {1, 2}, ENDLESS,
          id -> started.countDown());
      assertTrue(started.await(30, TimeUnit.SECONDS));
      QueueFullException e = assertThrows(QueueFullException.class,
          () -> g.generate(new int[] {3}, ENDLESS));
      assertTrue(e.getMessage().contains("0 of 0"), e.getMessage());
      running.cancel(false);
    }
  }

  /**
   * A request's slot is free for the next request once its caller hears the outcome. The
   * scheduler published the free slots only at the compaction after the step, so a next request
   * submitted by a caller woken by the result (or a deadline) was refused while the slot stood
   * free: always from a callback the executor runs on the scheduler, and 909 of 2,000
   * sequential calls with the default executor ("queue is full (0 of 0 requests waiting)").
   */
  @Test
  void maxQueuedZero_nextRequestOnceTheLastEnded_findsItsSlotFree() throws Exception {
    GenerationConfig three = GenerationConfig.builder().maxNewTokens(3).eosTokenIds(NEVER)
        .build();
    AtomicLong now = new AtomicLong();
    try (TokenGenerator g = TokenGenerator.builder(TinyLlama.MODEL).id("inline")
        .device(Device.cpu()).maxSequences(1).maxLength(64).maxQueued(0)
        .executor(Runnable::run).clock(now::get).build()) {
      assertEquals(3, g.generate(new int[] {1, 2}, three)
          .thenCompose(done -> g.generate(new int[] {3}, three))
          .get(30, TimeUnit.SECONDS).size());
      // A deadline passed while generating: the slot is free when the caller hears of it.
      CountDownLatch generating = new CountDownLatch(1);
      CompletableFuture<GeneratedTokens> late = g.stream(new int[] {1, 2}, ENDLESS.toBuilder()
          .timeout(Duration.ofSeconds(1)).build(), id -> {
            now.set(Duration.ofSeconds(2).toNanos());
            generating.countDown();
          });
      assertTrue(generating.await(30, TimeUnit.SECONDS));
      assertEquals(3, late.handle((done, failure) -> g.generate(new int[] {3}, three))
          .thenCompose(next -> next).get(30, TimeUnit.SECONDS).size());
      assertThrows(CompletionException.class, late::join);
    }
    try (TokenGenerator g = TokenGenerator.builder(TinyLlama.MODEL).id("sequential")
        .device(Device.cpu()).maxSequences(1).maxLength(64).maxQueued(0).build()) {
      for (int i = 0; i < 200; i++) {
        assertEquals(3, g.generate(new int[] {1, 2}, three).get(30, TimeUnit.SECONDS).size());
      }
    }
  }

  @Test
  void burstOnFreeSlots_allServed_thenMaxQueuedWait_thenRefused() throws Exception {
    int slots = 6;
    try (TokenGenerator g = TokenGenerator.builder(TinyLlama.MODEL).id("burst")
        .device(Device.cpu()).maxSequences(slots).maxLength(64).maxQueued(1).build()) {
      CountDownLatch started = new CountDownLatch(slots);
      List<CompletableFuture<GeneratedTokens>> all = new ArrayList<>();
      for (int i = 0; i < slots; i++) { // none of these waits for a slot
        CountDownLatch first = new CountDownLatch(1);
        all.add(g.stream(new int[] {1 + i}, ENDLESS, id -> {
          if (first.getCount() == 1) {
            first.countDown();
            started.countDown();
          }
        }));
      }
      assertTrue(started.await(30, TimeUnit.SECONDS));
      all.add(g.generate(new int[] {9}, ENDLESS)); // the one that may wait
      QueueFullException e = assertThrows(QueueFullException.class,
          () -> g.generate(new int[] {9}, ENDLESS));
      assertTrue(e.getMessage().contains("1 of 1"), e.getMessage());
      all.forEach(f -> f.cancel(false));
      for (CompletableFuture<GeneratedTokens> f : all) {
        assertThrows(CancellationException.class, f::join);
      }
    }
  }
}
