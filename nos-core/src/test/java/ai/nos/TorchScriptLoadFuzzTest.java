package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.ByteMutator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds Nos.load seeded byte mutations of a TorchScript archive (the digits model, a zip that
 * libtorch's own reader opens): headers at both ends of the zip favoured, sizes and offsets set
 * to 0, -1 and the maxima, chunks cut and duplicated. Each must load a model whose call gives
 * logits of the declared shape or an InferenceException, or fail with a ModelLoadException naming
 * the model; never another exception, and the JVM lives (libtorch reads the archive natively).
 */
final class TorchScriptLoadFuzzTest {
  private static final int MUTATIONS = ByteMutator.rounds(1_000);
  private static final long SEED = ByteMutator.seed(0x7057L);
  private static final ByteMutator MUTATOR = new ByteMutator(2_000, 4_000);

  @TempDir Path dir;

  @Test
  void load_byteMutations_modelOrModelLoadException() throws Exception {
    ModelSpec digits = Fixtures.digits();
    byte[] valid = Files.readAllBytes(digits.artifact().localPath().orElseThrow());
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 1_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = MUTATOR.mutate(random, valid);
        Path file = Files.write(dir.resolve("m" + (i % 2) + ".pt"), bytes);
        ModelSpec spec = digits.toBuilder().id("mutant-" + i).artifact(file).build();
        outcomes.merge(check(spec, bytes), 1, Integer::sum);
      }
    });
    System.out.println("TorchScriptLoadFuzzTest: " + MUTATIONS + " mutations: " + outcomes);
    assertTrue(outcomes.getOrDefault("ran", 0) > 50
        && outcomes.getOrDefault("refused", 0) > 200, outcomes.toString());
  }

  private static String check(ModelSpec spec, byte[] bytes) {
    Model model;
    try {
      model = Nos.load(spec);
    } catch (ModelLoadException e) {
      assertTrue(e.getMessage().contains("'" + spec.id() + "'"), e.getMessage());
      return "refused";
    } catch (Throwable t) {
      return fail("Nos.load threw " + t + " for " + ByteMutator.hex(bytes, 200), t);
    }
    try (model) {
      Tensor out = model.infer(Tensor.of(new float[64], 1, 1, 8, 8)).get("logits");
      assertArrayEquals(new long[] {1, 10}, out.shape());
      return "ran";
    } catch (InferenceException e) {
      return "loaded, call failed";
    } catch (Throwable t) {
      return fail("infer threw " + t + " for " + ByteMutator.hex(bytes, 200), t);
    }
  }
}
