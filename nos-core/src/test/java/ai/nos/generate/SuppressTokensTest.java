package ai.nos.generate;

import static ai.nos.testing.TinyLlama.NEVER;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.testing.TinyLlama;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Suppressed and begin-suppressed ids through the engine on the committed tiny Llama (CPU): the
 * ids suppressed are taken from an unsuppressed run first, so each test fails if suppression
 * does nothing.
 */
final class SuppressTokensTest {
  private static TokenGenerator lm;
  private static int[] prompt;
  private static GenerationConfig plain;
  /** The unsuppressed greedy tokens of {@link #prompt}. */
  private static int[] free;

  @BeforeAll
  static void load() {
    lm = TokenGenerator.builder(TinyLlama.MODEL).id("tiny").device(Device.cpu()).maxSequences(3)
        .maxLength(128).build();
    prompt = ints(TinyLlama.reference().get("cases").get(0).get("prompt_ids"));
    plain = GenerationConfig.builder().maxNewTokens(40).eosTokenIds(NEVER).build();
    free = lm.generate(prompt, plain).join().tokens();
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  private static long count(int[] tokens, int id) {
    return Arrays.stream(tokens).filter(t -> t == id).count();
  }

  /** The id the unsuppressed run produces most often. */
  private static int mostFrequent() {
    return IntStream.of(free).boxed().max((a, b) -> Long.compare(count(free, a), count(free, b)))
        .orElseThrow();
  }

  @Test
  void suppressed_neverGenerated_whileABatchNeighbourStillGeneratesIt() {
    int id = mostFrequent();
    assertTrue(count(free, id) >= 2, "unsuppressed run: " + Arrays.toString(free));
    GenerationConfig config = plain.toBuilder().suppressTokens(id).build();
    // Together in one batch: the rows differ, the neighbour keeps its tokens.
    CompletableFuture<GeneratedTokens> suppressed = lm.generate(prompt, config);
    CompletableFuture<GeneratedTokens> neighbour = lm.generate(prompt, plain);
    int[] out = suppressed.join().tokens();
    assertEquals(40, out.length);
    assertEquals(0, count(out, id), "suppressed " + id + ": " + Arrays.toString(out));
    assertArrayEquals(free, neighbour.join().tokens());
    // Alone it gives the same as in the batch.
    assertArrayEquals(out, lm.generate(prompt, config).join().tokens());
  }

  @Test
  void beginSuppressed_notTheFirstToken_butLaterOnes() {
    // A prompt whose first free token comes back later: find one among the references' prompts
    // and their unsuppressed runs.
    int[] p = null;
    int[] tokens = null;
    for (var c : TinyLlama.reference().get("cases")) {
      int[] candidate = ints(c.get("prompt_ids"));
      int[] run = lm.generate(candidate, plain).join().tokens();
      if (count(run, run[0]) >= 2) {
        p = candidate;
        tokens = run;
        break;
      }
    }
    assertTrue(p != null, "no reference prompt repeats its first generated token");
    int first = tokens[0];
    int[] out = lm.generate(p, plain.toBuilder().beginSuppressTokens(first).build()).join()
        .tokens();
    assertNotEquals(first, out[0], Arrays.toString(out));
    assertFalse(Arrays.equals(tokens, out));
    // Begin suppression is the first token only: a greedy run that starts with the token the
    // begin-suppressed run started with is the same run from there on.
    int[] resumed = Arrays.copyOf(p, p.length + 1);
    resumed[p.length] = out[0];
    int[] rest = lm.generate(resumed, plain.toBuilder().maxNewTokens(39).build()).join()
        .tokens();
    assertArrayEquals(rest, Arrays.copyOfRange(out, 1, 40));
  }

  @Test
  void suppressed_andSampled_neverDrawn() {
    int id = mostFrequent();
    GenerationConfig config = plain.toBuilder().temperature(0.01f).seed(5).suppressTokens(id)
        .build();
    for (int i = 0; i < 3; i++) {
      int[] out = lm.generate(prompt, config.toBuilder().seed(i).build()).join().tokens();
      assertEquals(0, count(out, id), "seed " + i + ": " + Arrays.toString(out));
    }
  }

  @Test
  void badIds_refusedAtSubmission_namingTheIdAndTheVocabulary() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> lm.generate(prompt, plain.toBuilder().suppressTokens(3, 512).build()));
    assertTrue(e.getMessage().contains("suppressTokens[1] is token id 512")
        && e.getMessage().contains("vocabulary of 512"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> lm.generate(prompt, plain.toBuilder().beginSuppressTokens(1000).build()));
    assertTrue(e.getMessage().contains("beginSuppressTokens[0] is token id 1000")
        && e.getMessage().contains("vocabulary of 512"), e.getMessage());
    int[] half = IntStream.range(0, 256).toArray();
    int[] rest = IntStream.range(256, 512).toArray();
    e = assertThrows(IllegalArgumentException.class, () -> lm.generate(prompt,
        plain.toBuilder().suppressTokens(half).beginSuppressTokens(rest).build()));
    assertTrue(e.getMessage().contains("cover the whole vocabulary of 512"), e.getMessage());
    // All but one id: the one left is generated every time.
    int[] allBut7 = IntStream.range(0, 512).filter(i -> i != 7).toArray();
    int[] out = lm.generate(prompt, plain.toBuilder().maxNewTokens(5).suppressTokens(allBut7)
        .build()).join().tokens();
    assertArrayEquals(new int[] {7, 7, 7, 7, 7}, out);
  }

  @Test
  void builder_negativeOrNullIds_refusedAtOnce() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().suppressTokens(1, -2));
    assertEquals("suppressTokens must be token ids of 0 or more, but suppressTokens[1] was -2",
        e.getMessage());
    NullPointerException n = assertThrows(NullPointerException.class,
        () -> GenerationConfig.builder().beginSuppressTokens((int[]) null));
    assertEquals("beginSuppressTokens must not be null", n.getMessage());
    int[] ids = {4, 5};
    GenerationConfig c = GenerationConfig.builder().suppressTokens(ids).build();
    ids[0] = 9;
    assertArrayEquals(new int[] {4, 5}, c.suppressTokens());
    assertArrayEquals(new int[] {4, 5}, c.toBuilder().build().suppressTokens());
    assertArrayEquals(new int[0], c.beginSuppressTokens());
  }
}
