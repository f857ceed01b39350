package ai.nos.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Fixtures;
import ai.nos.InferenceException;
import ai.nos.Model;
import ai.nos.ModelInfo;
import ai.nos.ModelLoadException;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Inputs and artifacts an attacker or a careless caller could hand to NOS: each runs, or fails
 * with the documented exception and a message naming what was wrong, and the manager keeps
 * serving a healthy model with the same outputs as before. (ModelSpec JSON is fuzzed by
 * {@code SpecJsonFuzzTest}.)
 */
@Timeout(120)
final class HostileInputTest {
  private static final int FUZZ_TRIES = 5_000;

  private ModelManager manager;
  private Model digits;
  private Tensor image;
  private float[] reference;

  @BeforeEach
  void loadHealthyModel() {
    manager = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog().build();
    digits = manager.load(Fixtures.digitsOn("cpu"));
    image = Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 2);
    reference = digits.infer(image).get("logits").toFloatArray();
  }

  @AfterEach
  void stillHealthy() {
    assertArrayEquals(reference, digits.infer(image).get("logits").toFloatArray(),
        "the healthy model serves as before");
    manager.close();
  }

  @Test
  void nanAndInfinity_runOrFailCleanly_andDoNotLeakIntoOtherRowsOfABatch() {
    float[] px = new float[2 * 64];
    Arrays.fill(px, 0, 64, Float.NaN);
    Arrays.fill(px, 64, 128, Float.POSITIVE_INFINITY);
    px[70] = Float.NEGATIVE_INFINITY;
    float[] out = digits.infer(Tensor.of(px, 2, 1, 8, 8)).get("logits").toFloatArray();
    long nonFinite = countNonFinite(out);
    ModelSpec batchedSpec = Fixtures.digitsOn("cpu").toBuilder().id("digits_batched")
        .batching(Batching.builder().maxBatchSize(16).maxQueueDelay(Duration.ofMillis(50))
            .build()).build();
    Model batched = manager.load(batchedSpec);
    Tensor nanRow = Tensor.of(Arrays.copyOf(px, 64), 1, 1, 8, 8);
    CompletableFuture<Map<String, Tensor>> poisoned = batched.inferAsync(nanRow);
    CompletableFuture<Map<String, Tensor>> clean = batched.inferAsync(image);
    float[] shared = clean.join().get("logits").toFloatArray();
    assertArrayEquals(reference, shared, 1e-4f, "a NaN row does not touch its batch mates");
    assertTrue(countNonFinite(poisoned.join().get("logits").toFloatArray()) > 0);
    assertTrue(batched.spec().batching().isPresent()
        && info("digits_batched").batches() < info("digits_batched").requests(),
        "the two calls shared a batch");
    batched.close();

    Model tokens = manager.load(Fixtures.tokens());
    int outOfRange = 0;
    for (long id : new long[] {100, -101, Long.MAX_VALUE, Long.MIN_VALUE}) {
      var e = assertThrows(InferenceException.class,
          () -> tokens.infer(Tensor.of(new long[] {1, id}, 1, 2)));
      assertTrue(e.getMessage().contains("tokens"), e.getMessage());
      outOfRange++;
    }
    assertEquals(8, tokens.infer(Tensor.of(new long[] {1, 99}, 1, 2)).get("embedding").dim(1));
    tokens.close();
    System.out.printf("HostileInputTest: NaN/Inf image batch -> %d non-finite logits of %d,"
        + " served; %d out-of-range token ids -> InferenceException%n", nonFinite, out.length,
        outOfRange);
  }

  @Test
  void zeroSizeHugeAndWrongDtypeInputs_areRejectedNamingTheInput_beforeTheModelRuns() {
    long requestsBefore = info("digits").requests();
    Map<String, Tensor> bad = new LinkedHashMap<>();
    bad.put("zero batch", Tensor.zeros(DType.FLOAT32, 0, 1, 8, 8));
    bad.put("zero height", Tensor.zeros(DType.FLOAT32, 1, 1, 0, 8));
    bad.put("huge width", Tensor.zeros(DType.FLOAT32, 1, 1, 8, 800_000));
    bad.put("huge rank", Tensor.zeros(DType.FLOAT32, 1, 1, 1, 1, 1, 1, 8, 8));
    bad.put("int64", Tensor.zeros(DType.INT64, 2, 1, 8, 8));
    bad.put("float16", Tensor.zeros(DType.FLOAT16, 2, 1, 8, 8));
    bad.put("bool", Tensor.zeros(DType.BOOL, 2, 1, 8, 8));
    bad.put("uint8", Tensor.zeros(DType.UINT8, 2, 1, 8, 8));
    bad.put("scalar", Tensor.zeros(DType.FLOAT32));
    for (var e : bad.entrySet()) {
      var thrown = assertThrows(IllegalArgumentException.class, () -> digits.infer(e.getValue()),
          e.getKey());
      assertTrue(thrown.getMessage().contains("input 'image' of model 'digits'"),
          e.getKey() + ": " + thrown.getMessage());
      assertThrows(IllegalArgumentException.class, () -> digits.inferAsync(e.getValue()),
          e.getKey());
    }
    assertEquals(requestsBefore, info("digits").requests(), "no call reached the model");
    var tooBig = assertThrows(IllegalArgumentException.class,
        () -> Tensor.zeros(DType.FLOAT32, 1, 1, 8, 8_000_000_000L));
    assertTrue(tooBig.getMessage().contains("at most"), tooBig.getMessage());
    Model tokens = manager.load(Fixtures.tokens());
    var floatIds = assertThrows(IllegalArgumentException.class,
        () -> tokens.infer(Tensor.zeros(DType.FLOAT32, 1, 3)));
    assertTrue(floatIds.getMessage().contains("input 'ids'"), floatIds.getMessage());
    String empty;
    try {
      empty = "ran, embedding " + Arrays.toString(tokens.infer(Tensor.zeros(DType.INT64, 1, 0))
          .get("embedding").shape());
    } catch (InferenceException e) {
      empty = "InferenceException";
    }
    tokens.close();
    System.out.printf("HostileInputTest: %d bad digit inputs rejected with"
        + " IllegalArgumentException, 0 reached the model; tokens of length 0: %s%n", bad.size(),
        empty);
  }

  @Test
  void brokenArtifacts_failWithModelLoadException_andLeaveTheBooksClean(@TempDir Path dir)
      throws IOException {
    byte[] good = Files.readAllBytes(Fixtures.fixture("tokens.pt"));
    byte[] garbage = new byte[4096];
    new java.util.Random(3).nextBytes(garbage);
    byte[] corrupt = good.clone();
    for (int i = good.length / 3; i < good.length / 3 + 256 && i < good.length; i++) {
      corrupt[i] ^= 0x5a;
    }
    Map<String, Path> files = new LinkedHashMap<>();
    files.put("empty", Files.write(dir.resolve("empty.pt"), new byte[0]));
    files.put("truncated", Files.write(dir.resolve("truncated.pt"),
        Arrays.copyOf(good, good.length / 2)));
    files.put("header only", Files.write(dir.resolve("header.pt"), Arrays.copyOf(good, 64)));
    files.put("corrupt", Files.write(dir.resolve("corrupt.pt"), corrupt));
    files.put("garbage", Files.write(dir.resolve("garbage.pt"), garbage));
    files.put("json", Fixtures.modelsDir().resolve("digits/digits.json"));
    files.put("directory", Files.createDirectory(dir.resolve("model.pt")));
    files.put("missing", dir.resolve("missing.pt"));
    Map<String, String> outcomes = new LinkedHashMap<>();
    for (var f : files.entrySet()) {
      ModelSpec spec = Fixtures.tokens().toBuilder().id("broken_" + outcomes.size())
          .artifact(f.getValue()).build();
      String outcome;
      try (Model m = manager.load(spec)) {
        outcome = "loaded";
        if (!f.getKey().equals("corrupt")) {
          throw new AssertionError(f.getKey() + " loaded");
        }
        m.infer(Tensor.of(new long[] {1, 2}, 1, 2));
      } catch (ModelLoadException e) {
        assertTrue(e.getMessage().contains(spec.id()) && e.getMessage().contains(
            f.getValue().getFileName().toString()), f.getKey() + ": " + e.getMessage());
        outcome = "ModelLoadException";
      } catch (InferenceException e) {
        outcome = "loaded, InferenceException";
      }
      outcomes.put(f.getKey(), outcome);
      assertEquals(List.of("digits"), manager.models().stream().map(ModelInfo::id).toList(),
          f.getKey());
      assertEquals(info("digits").bytes(), manager.stats().get(0).usedBytes(), f.getKey());
    }
    System.out.println("HostileInputTest: broken artifacts " + outcomes);
    outcomes.forEach((k, v) -> assertTrue(k.equals("corrupt") || v.equals("ModelLoadException"),
        k + " -> " + v));
  }

  @Test
  void randomFromBufferCalls_onlyEverThrowIllegalArgumentException() {
    SplittableRandom random = new SplittableRandom(20240611);
    long[] dims = {-2, -1, 0, 1, 2, 3, 4, 7, 64, 1 << 20, Integer.MAX_VALUE, Long.MAX_VALUE};
    DType[] dtypes = DType.values();
    Model identity = manager.load(Fixtures.identity(DType.FLOAT32));
    int made = 0;
    int rejected = 0;
    int refusedBySignature = 0;
    int ran = 0;
    for (int i = 0; i < FUZZ_TRIES; i++) {
      boolean fitsIdentity = random.nextInt(8) == 0;
      DType dtype = fitsIdentity ? DType.FLOAT32 : dtypes[random.nextInt(dtypes.length)];
      long[] shape = new long[fitsIdentity ? 2 : random.nextInt(11)];
      for (int d = 0; d < shape.length; d++) {
        shape[d] = random.nextInt(4) == 0 ? dims[random.nextInt(dims.length)]
            : 1 + random.nextInt(4);
      }
      if (fitsIdentity) {
        shape[1] = 3;
      }
      long want = 1;
      for (long d : shape) {
        want = d < 0 || want > 4096 ? -1 : want * d;
      }
      int size = want >= 0 && want <= 4096 && random.nextBoolean()
          ? (int) want * dtype.byteSize() : random.nextInt(300);
      int pad = random.nextInt(3);
      ByteBuffer buf = random.nextBoolean() ? ByteBuffer.allocate(size + 2 * pad)
          : ByteBuffer.allocateDirect(size + 2 * pad);
      buf.order(random.nextBoolean() ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
      for (int b = 0; b < buf.capacity(); b++) {
        buf.put(b, (byte) random.nextInt(256));
      }
      buf.position(pad).limit(pad + size);
      String what = "try " + i + ": " + dtype + " " + Arrays.toString(shape) + " over " + size
          + " bytes";
      Tensor t;
      try {
        t = Tensor.fromBuffer(dtype, buf, shape);
      } catch (IllegalArgumentException e) {
        rejected++;
        continue;
      } catch (RuntimeException | Error e) {
        throw new AssertionError(what + " threw " + e, e);
      }
      made++;
      assertEquals(size, t.byteSize(), what);
      assertArrayEquals(shape, t.shape(), what);
      assertEquals(pad, buf.position(), what + ": the source position is left unchanged");
      try {
        assertEquals(t, identity.infer(t).get("y"), what);
        ran++;
      } catch (IllegalArgumentException e) {
        refusedBySignature++;
      } catch (RuntimeException | Error e) {
        throw new AssertionError(what + " ran and threw " + e, e);
      }
    }
    identity.close();
    System.out.printf("HostileInputTest: %d random fromBuffer calls: %d IllegalArgumentException,"
        + " %d tensors made, 0 other; of those, %d ran through identity unchanged and %d were"
        + " refused by its signature (IllegalArgumentException)%n", FUZZ_TRIES, rejected, made,
        ran, refusedBySignature);
    assertTrue(made > 100 && ran > 50 && made < FUZZ_TRIES, "the fuzzer reaches every path");
  }

  private ModelInfo info(String id) {
    return manager.models().stream().filter(i -> i.id().equals(id)).findFirst().orElseThrow();
  }

  private static long countNonFinite(float[] v) {
    long n = 0;
    for (float f : v) {
      n += Float.isFinite(f) ? 0 : 1;
    }
    return n;
  }
}
