package ai.nos.testing;

import ai.nos.Fixtures;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * The committed tiny Llama (models/llm-tiny, made by scripts/models/make_tiny_llama.py) and its
 * Python references, for the generation tests of nos-core (CPU and GPU) and nos-hub. Found
 * through {@code nos.models.dir}, as every fixture: the GPU run starts from another folder.
 */
public final class TinyLlama {
  public static final Path DIR = Fixtures.modelsDir().resolve("llm-tiny");
  public static final Path MODEL = DIR.resolve("model.pt");
  public static final Path TOKENIZER = DIR.resolve("tokenizer.json");
  /** A token id the model never produces: a generation runs to its length limit. */
  public static final int NEVER = 1 << 20;

  private static JsonNode reference;

  private TinyLlama() {}

  /** reference.json: the prompts and the greedy tokens Python generated for them. */
  public static synchronized JsonNode reference() {
    if (reference == null) {
      try {
        reference = new ObjectMapper().readTree(DIR.resolve("reference.json").toFile());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return reference;
  }

  /** A JSON array of integers. */
  public static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  /** Greedy decoding for as many tokens as the references hold. */
  public static GenerationConfig greedy() {
    return GenerationConfig.builder().maxNewTokens(reference().get("max_new_tokens").asInt())
        .build();
  }

  /**
   * A stream of prompt [1, 2] that runs to the cache's end (no EOS) and whose consumer, after
   * handing each token to {@code seen}, blocks on its first token until {@code letGo} opens;
   * returns once it blocks. The engine's sequence goes on without it.
   */
  public static CompletableFuture<GeneratedTokens> streamBlockedOnFirstToken(TokenGenerator lm,
      CountDownLatch letGo, IntConsumer seen) throws InterruptedException {
    CountDownLatch blocking = new CountDownLatch(1);
    CompletableFuture<GeneratedTokens> f = lm.stream(new int[] {1, 2},
        GenerationConfig.builder().maxNewTokens(10_000).eosTokenIds(NEVER).build(), id -> {
          seen.accept(id);
          blocking.countDown();
          try {
            letGo.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
    if (!blocking.await(30, TimeUnit.SECONDS)) {
      throw new AssertionError("no first token within 30 s");
    }
    return f;
  }
}
