package ai.nos.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DeadlineExceededException;
import ai.nos.Device;
import ai.nos.QueueFullException;
import ai.nos.testing.TinyLlama;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * 200 requests from 8 threads on 4 slots and a queue of 24: streams and plain requests, random
 * cancels (at once or within 3 ms), a full queue (QueueFullException: tried again 1 ms later),
 * deadlines of 1-5 ms, sinks that throw, prompts up to the cache length, and (closing) close() once
 * 10 tokens were delivered or futures settled. Every future settles, and only as one of finished,
 * cancelled, deadline passed, failed by its own sink or closed; no user code runs on the scheduler
 * thread; the counts go back to 0, and a closed generator's threads are gone.
 */
final class TokenGeneratorStormTest {

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void storm_everyFutureSettles_countsBackToZero(boolean closing) throws Exception {
    String id = "storm-" + closing;
    TokenGenerator g = TokenGenerator.builder(TinyLlama.MODEL).id(id).device(Device.cpu())
        .maxSequences(4).maxLength(48).maxQueued(24).build();
    ExecutorService submitters = Executors.newFixedThreadPool(8);
    ScheduledExecutorService cancels = Executors.newSingleThreadScheduledExecutor();
    List<CompletableFuture<GeneratedTokens>> all = new CopyOnWriteArrayList<>();
    Set<String> userThreads = ConcurrentHashMap.newKeySet();
    CountDownLatch events = new CountDownLatch(10); // tokens delivered and futures settled
    CountDownLatch go = new CountDownLatch(1);
    AtomicInteger refused = new AtomicInteger();
    try {
      List<Future<?>> jobs = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        Random rnd = new Random(t);
        jobs.add(submitters.submit(() -> {
          go.await();
          for (int i = 0; i < 25; i++) {
            GenerationConfig.Builder b = GenerationConfig.builder()
                .maxNewTokens(1 + rnd.nextInt(30)).eosTokenIds(NEVER);
            if (rnd.nextBoolean()) {
              b.timeout(Duration.ofMillis(1 + rnd.nextInt(5)));
            }
            if (rnd.nextBoolean()) {
              b.temperature(0.8f).seed(i);
            }
            int[] prompt = new int[1 + rnd.nextInt(48)];
            boolean throwing = rnd.nextInt(20) == 0;
            try {
              CompletableFuture<GeneratedTokens> f = rnd.nextBoolean() ? g.generate(prompt,
                  b.build()) : g.stream(prompt, b.build(), tok -> {
                    userThreads.add(Thread.currentThread().getName());
                    events.countDown();
                    if (throwing) {
                      throw new IllegalArgumentException("sink");
                    }
                  });
              f.whenComplete((r, e) -> {
                userThreads.add(Thread.currentThread().getName());
                events.countDown();
              });
              all.add(f);
              int c = rnd.nextInt(4);
              if (c == 0) {
                f.cancel(true);
              } else if (c == 1) {
                cancels.schedule(() -> f.cancel(true), rnd.nextInt(3000), TimeUnit.MICROSECONDS);
              }
            } catch (QueueFullException e) {
              refused.incrementAndGet();
              Thread.sleep(1);
              i--; // again, once a step has made room
            } catch (IllegalStateException e) {
              return null; // (closing) the generator is closed
            }
          }
          return null;
        }));
      }
      go.countDown();
      if (closing) {
        assertTrue(events.await(30, TimeUnit.SECONDS));
        long started = System.nanoTime();
        g.close();
        assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(10), "close took "
            + (System.nanoTime() - started) / 1_000_000 + " ms");
        assertThrows(IllegalStateException.class, () -> g.generate(new int[] {1},
            GenerationConfig.defaults()));
      }
      for (Future<?> j : jobs) {
        j.get(60, TimeUnit.SECONDS);
      }
      Map<String, Integer> outcomes = new TreeMap<>();
      for (CompletableFuture<GeneratedTokens> f : all) {
        String outcome;
        try {
          f.get(30, TimeUnit.SECONDS);
          outcome = "finished";
        } catch (CancellationException e) {
          outcome = "cancelled";
        } catch (ExecutionException e) {
          Throwable c = e.getCause();
          outcome = c instanceof DeadlineExceededException ? "deadline"
              : c instanceof IllegalArgumentException && "sink".equals(c.getMessage()) ? "sink"
              : closing && c instanceof IllegalStateException
                  && c.getMessage().equals("generator '" + id + "' is closed") ? "closed"
              : "unexpected " + c;
        } catch (TimeoutException e) {
          outcome = "never settled";
        }
        outcomes.merge(outcome, 1, Integer::sum);
      }
      if (!closing) {
        assertEquals(200, all.size(), outcomes + ", " + refused + " refusals");
      }
      assertTrue(outcomes.keySet().stream().noneMatch(o -> o.startsWith("unexpected")
          || o.equals("never settled")), outcomes.toString());
      assertTrue(userThreads.stream().noneMatch(("nos-generate-" + id)::equals),
          userThreads.toString());
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while ((g.activeSequences() != 0 || g.queuedRequests() != 0) && System.nanoTime() < end) {
        Thread.sleep(5);
      }
      assertEquals(0, g.activeSequences(), outcomes.toString());
      assertEquals(0, g.queuedRequests(), outcomes.toString());
    } finally {
      g.close();
      submitters.shutdownNow();
      cancels.shutdownNow();
    }
    // The scheduler and the callback pool end with the generator.
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (generatorThreads(id) > 0 && System.nanoTime() < end) {
      Thread.sleep(10);
    }
    assertEquals(0, generatorThreads(id));
  }

  private static long generatorThreads(String id) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith("nos-generate-" + id)).count();
  }
}
