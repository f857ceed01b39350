package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.nos.internal.torch.TorchRuntime;
import ai.nos.testing.TorchScriptArchives;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input, bad files and bad devices: each gets a clear exception and nothing breaks. */
final class NosErrorsTest {
  private static Model digits;
  private static Model twoIn;

  @BeforeAll
  static void load() {
    digits = Nos.load(Fixtures.digitsOn("cpu"));
    twoIn = Nos.load(Fixtures.twoInTwoOut());
  }

  @AfterAll
  static void close() {
    digits.close();
    twoIn.close();
  }

  @Test
  void infer_wrongDtype_namesInputExpectedAndGiven() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> digits.infer(Tensor.of(new long[64], 1, 1, 8, 8)));
    assertMessage(e, "input 'image'", "'digits'", "must be float32", "was int64");
  }

  @Test
  void infer_wrongRank_namesShapes() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> digits.infer(Tensor.of(new float[64], 1, 64)));
    assertMessage(e, "input 'image'", "rank 4", "[-1, 1, 8, 8]", "rank 2", "[1, 64]");
  }

  @Test
  void infer_wrongFixedDim_namesDimAndSizes() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> digits.infer(Tensor.of(new float[56], 1, 1, 7, 8)));
    assertMessage(e, "input 'image'", "size 8 in dim 2", "has 7");
  }

  @Test
  void infer_zeroBatch_isRejected() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> digits.infer(Tensor.of(new float[0], 0, 1, 8, 8)));
    assertMessage(e, "batch size 0");
  }

  @Test
  void infer_unknownOrMissingInput_listsTheSignature() {
    var unknown = assertThrows(IllegalArgumentException.class,
        () -> digits.infer(Map.of("img", Tensor.of(new float[64], 1, 1, 8, 8))));
    assertMessage(unknown, "no input 'img'", "[image]");
    var missing = assertThrows(IllegalArgumentException.class,
        () -> twoIn.infer(Map.of("a", Tensor.of(new float[4], 1, 4))));
    assertMessage(missing, "needs input 'b'", "not given");
    Map<String, Tensor> withNull = new HashMap<>();
    withNull.put("a", Tensor.of(new float[4], 1, 4));
    withNull.put("b", null);
    assertMessage(assertThrows(IllegalArgumentException.class, () -> twoIn.infer(withNull)),
        "'b'", "null");
    assertMessage(assertThrows(IllegalArgumentException.class,
        () -> twoIn.infer(Tensor.of(new float[4], 1, 4))), "2 inputs", "[a, b]");
  }

  @Test
  void infer_nulls_areNamedIllegalArguments_notNullPointerExceptions() {
    Tensor one = Tensor.of(new float[64], 1, 1, 8, 8);
    assertMessage(assertThrows(IllegalArgumentException.class, () -> digits.infer((Tensor) null)),
        "'digits'", "input 'image'", "null");
    assertMessage(assertThrows(IllegalArgumentException.class,
        () -> digits.inferAsync((Tensor) null)), "'digits'", "input 'image'", "null");
    assertMessage(assertThrows(IllegalArgumentException.class,
        () -> digits.infer((Map<String, Tensor>) null)), "inputs of model 'digits'", "null");
    assertMessage(assertThrows(IllegalArgumentException.class,
        () -> digits.inferAsync((Map<String, Tensor>) null)), "inputs of model 'digits'", "null");
    Map<String, Tensor> nullName = new HashMap<>();
    nullName.put("image", one);
    nullName.put(null, one);
    assertMessage(assertThrows(IllegalArgumentException.class, () -> digits.infer(nullName)),
        "model 'digits'", "null name", "[image]");
    assertMessage(assertThrows(IllegalArgumentException.class, () -> digits.inferAll(null)),
        "calls", "null");
    assertMessage(assertThrows(IllegalArgumentException.class,
        () -> digits.inferAll(java.util.Arrays.asList(Map.of("image", one), null))),
        "calls[1] of 2", "inputs of model 'digits'", "null", "calls[0..0] were submitted");
    try (Model batched = Nos.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-batched-nulls")
        .maxBatchSize(4).build())) {
      assertMessage(assertThrows(IllegalArgumentException.class,
          () -> batched.inferAsync((Tensor) null)), "input 'image'", "null");
      assertMessage(assertThrows(IllegalArgumentException.class,
          () -> batched.inferAsync(nullName)), "null name");
      assertEquals(1, batched.inferAsync(one).join().get("logits").dim(0));
    }
    assertEquals(1, digits.infer(one).get("logits").dim(0), "still serving");
  }

  @Test
  void infer_batchSizesDiffer_namesBothInputs() {
    var e = assertThrows(IllegalArgumentException.class, () -> twoIn.infer(Map.of(
        "a", Tensor.of(new float[4], 1, 4), "b", Tensor.of(new float[8], 2, 4))));
    assertMessage(e, "'a' has 1", "'b' has 2");
  }

  @Test
  void infer_overMaxBatchSize_isRejected() {
    try (Model m = Nos.load(Fixtures.digitsOn("cpu").toBuilder().id("digits-max4").maxBatchSize(4)
        .build())) {
      var e = assertThrows(IllegalArgumentException.class,
          () -> m.infer(Tensor.of(new float[5 * 64], 5, 1, 8, 8)));
      assertMessage(e, "batch size 5", "maxBatchSize is 4");
      assertEquals(4, m.infer(Tensor.of(new float[4 * 64], 4, 1, 8, 8)).get("logits").dim(0));
    }
  }

  @Test
  void infer_overMaxCallBytes_isRefusedBeforeTheModelRuns_atTheLimitRuns() {
    // 4 digit rows: 1024 bytes in, 160 bytes of logits out.
    ModelSpec atLimit = Fixtures.digitsOn("cpu").toBuilder().id("digits-call-limit")
        .maxCallBytes(1184).build();
    try (Model m = Nos.load(atLimit);
        Model under = Nos.load(atLimit.toBuilder().id("digits-call-under").maxCallBytes(1183)
            .build());
        Model batched = Nos.load(atLimit.toBuilder().id("digits-call-batched").maxCallBytes(1183)
            .maxBatchSize(8).build())) {
      Tensor four = Tensor.of(new float[4 * 64], 4, 1, 8, 8);
      assertEquals(4, m.infer(four).get("logits").dim(0));
      for (Model over : new Model[] {under, batched}) {
        assertMessage(assertThrows(IllegalArgumentException.class, () -> over.infer(four)),
            "input 'image'", "1024 bytes", "limit of 1183 bytes", "maxCallBytes");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> over.inferAsync(four)),
            "limit of 1183 bytes");
        assertEquals(0, ModelManager.getDefault().models().stream()
            .filter(i -> i.id().equals(over.spec().id())).findFirst().orElseThrow().requests(),
            "no call of " + over.spec().id() + " reached the model");
        assertEquals(3, over.infer(Tensor.of(new float[3 * 64], 3, 1, 8, 8)).get("logits")
            .dim(0));
      }
    }
  }

  @Test
  void modelThatRaises_surfacesItsOwnMessage_andKeepsServing() {
    try (Model m = Nos.load(Fixtures.raises())) {
      var e = assertThrows(InferenceException.class,
          () -> m.infer(Tensor.of(new float[] {1, -1}, 1, 2)));
      assertEquals("raises", e.modelId());
      assertTrue(e.modelMessage().contains("negative input not allowed"), e.modelMessage());
      assertMessage(e, "model 'raises'", "negative input not allowed");
      assertArrayEquals(new float[] {3, 6},
          m.infer(Tensor.of(new float[] {1, 2}, 1, 2)).get("y").toFloatArray());
    }
  }

  @Test
  void outputsThatDisagreeWithTheSignature_areReported() {
    ModelSpec wrongCount = Fixtures.digitsOn("cpu").toBuilder().id("digits-wrongCount")
        .signature(Signature.builder()
            .input("image", DType.FLOAT32, -1, 1, 8, 8).output("logits", DType.FLOAT32, -1, 10)
            .output("extra", DType.FLOAT32, -1).build()).build();
    ModelSpec wrongShape = Fixtures.digitsOn("cpu").toBuilder().id("digits-wrongShape")
        .signature(Signature.builder()
            .input("image", DType.FLOAT32, -1, 1, 8, 8).output("logits", DType.FLOAT32, -1, 11)
            .build()).build();
    ModelSpec wrongDtype = Fixtures.digitsOn("cpu").toBuilder().id("digits-wrongDtype")
        .signature(Signature.builder()
            .input("image", DType.FLOAT32, -1, 1, 8, 8).output("logits", DType.INT64, -1, 10)
            .build()).build();
    ModelSpec wrongKey = Fixtures.dictOut().toBuilder().id("dict-wrongKey")
        .signature(Signature.builder()
            .input("x", DType.FLOAT32, -1, 3).output("total", DType.FLOAT32, -1, 1)
            .build()).build();
    Tensor image = Tensor.of(new float[64], 1, 1, 8, 8);
    try (Model a = Nos.load(wrongCount); Model b = Nos.load(wrongShape);
        Model c = Nos.load(wrongDtype); Model d = Nos.load(wrongKey)) {
      assertMessage(assertThrows(InferenceException.class, () -> a.infer(image)),
          "returned 1 tensor(s)", "2 output(s)");
      assertMessage(assertThrows(InferenceException.class, () -> b.infer(image)),
          "'logits'", "[1, 10]", "[-1, 11]");
      assertMessage(assertThrows(InferenceException.class, () -> c.infer(image)),
          "'logits'", "float32", "int64");
      assertMessage(assertThrows(InferenceException.class,
          () -> d.infer(Tensor.of(new float[3], 1, 3))), "without key 'total'");
    }
  }

  @Test
  void load_missingFile_namesIt(@TempDir Path dir) {
    Path missing = dir.resolve("nope.pt");
    var e = assertThrows(ModelLoadException.class, () -> Nos.load(
        Fixtures.digitsOn("cpu").toBuilder().id("digits-missing").artifact(missing).build()));
    assertMessage(e, "'digits-missing'", missing.toString(), "does not exist");
  }

  @Test
  void load_corruptOrEmptyOrTruncatedFile_namesIt_andOthersKeepServing(@TempDir Path dir)
      throws IOException {
    byte[] real = Files.readAllBytes(Fixtures.modelsDir().resolve("digits/digits.pt"));
    Map<String, byte[]> bad = Map.of(
        "empty.pt", new byte[0],
        "text.pt", "not a model".getBytes(),
        "truncated.pt", java.util.Arrays.copyOf(real, real.length / 2));
    for (var entry : bad.entrySet()) {
      Path file = Files.write(dir.resolve(entry.getKey()), entry.getValue());
      var e = assertThrows(ModelLoadException.class, () -> Nos.load(
          Fixtures.digitsOn("cpu").toBuilder().id("digits-corrupt").artifact(file).build()));
      assertMessage(e, "'digits-corrupt'", file.toString(), "not a TorchScript model");
    }
    assertEquals(1, digits.infer(Tensor.of(new float[64], 1, 1, 8, 8)).get("logits").dim(0));
  }

  @Test
  void load_operatorThisLibtorchLacks_namesIt_andSaysANewerTorchMayHaveSavedIt(@TempDir Path dir)
      throws IOException {
    // What a file saved by a newer torch looks like to libtorch 2.10: its message starts with a
    // blank line, which once left the reason after "can load: " empty.
    Path file = TorchScriptArchives.withRenamedCall(
        Fixtures.modelsDir().resolve("digits/digits.pt"), dir.resolve("newer.pt"),
        "torch.relu(", "torch.relu_v99(");
    var e = assertThrows(ModelLoadException.class, () -> Nos.load(
        Fixtures.digitsOn("cpu").toBuilder().id("digits-newer").artifact(file).build()));
    assertMessage(e, "'digits-newer'", file.toString(), "Unknown builtin op: aten::relu_v99",
        "libtorch " + TorchRuntime.libtorchVersion(), "newer torch");
  }

  @Test
  void load_signatureForwardCannotTake_isRefusedNamingForwardsArguments() {
    // Calls pass the inputs by position, in the signature's order. forward(a, b) declared as
    // (b, a) ran with its inputs swapped and gave wrong numbers; declared with three inputs or
    // one, it loaded and then failed every call.
    Map<String, Signature> bad = Map.of(
        "swapped", Signature.builder().input("b", DType.FLOAT32, -1, 4)
            .input("a", DType.FLOAT32, -1, 4).output("sum", DType.FLOAT32, -1, 4)
            .output("mix", DType.FLOAT32, -1, 4).build(),
        "three", Fixtures.twoInTwoOut().signature().toBuilder()
            .input("c", DType.FLOAT32, -1, 4).build(),
        "one", Signature.builder().input("a", DType.FLOAT32, -1, 4)
            .output("sum", DType.FLOAT32, -1, 4).output("mix", DType.FLOAT32, -1, 4).build());
    Map<String, String> says = Map.of("swapped", "in another order: [b, a]",
        "three", "declares 3 inputs [a, b, c]", "one", "declares 1 input [a]");
    for (var entry : bad.entrySet()) {
      String id = "two_in_two_out-" + entry.getKey();
      var e = assertThrows(ModelLoadException.class, () -> Nos.load(Fixtures.twoInTwoOut()
          .toBuilder().id(id).signature(entry.getValue()).build()));
      assertMessage(e, "'" + id + "'", "two_in_two_out.pt", "forward(a, b)",
          says.get(entry.getKey()));
    }
  }

  @Test
  void load_sha256_isVerifiedBeforeLoading() throws Exception {
    Path file = Fixtures.modelsDir().resolve("digits/digits.pt");
    String actual = java.util.HexFormat.of().formatHex(java.security.MessageDigest
        .getInstance("SHA-256").digest(Files.readAllBytes(file)));
    ModelSpec good = Fixtures.digitsOn("cpu").toBuilder().id("digits-sha")
        .artifact(Artifact.of(file).withSha256(actual)).build();
    try (Model m = Nos.load(good)) {
      assertEquals("digits-sha", m.spec().id());
    }
    String wrong = "0".repeat(64);
    var e = assertThrows(ModelLoadException.class, () -> Nos.load(Fixtures.digitsOn("cpu")
        .toBuilder().id("digits-badsha").artifact(Artifact.of(file).withSha256(wrong)).build()));
    assertMessage(e, actual, wrong, "not loaded");
  }

  @Test
  void load_cudaOnCpuOnlyNatives_failsLoudly_neverFallsBack() {
    assumeFalse(TorchRuntime.hasCudaNatives(), "the CUDA natives are on the classpath");
    for (String device : new String[] {"cuda", "cuda:1"}) {
      var e = assertThrows(DeviceUnavailableException.class,
          () -> Nos.load(Fixtures.digitsOn(device)));
      assertMessage(e, "'digits'", device, "CPU-only", "does not fall back");
    }
  }

  @Test
  void inferAsync_negativeTimeout_isRefusedNamingIt_withOrWithoutBatching() {
    // Without batching a negative timeout was accepted and ignored; with it, refused.
    try (Model batched = Nos.load(Fixtures.digitsOn("cpu").toBuilder().id("digits_timeout")
        .batching(Batching.builder().maxBatchSize(4).build()).build())) {
      for (Model m : java.util.List.of(digits, batched)) {
        var e = assertThrows(IllegalArgumentException.class, () -> m.inferAsync(
            Map.of("image", Tensor.of(new float[64], 1, 1, 8, 8)), Priority.NORMAL,
            java.time.Duration.ofMillis(-1)));
        assertMessage(e, "'" + m.spec().id() + "'", "timeout", ">= 0", "PT-0.001S");
      }
    }
  }

  @Test
  void closedModel_refusesCalls_closeIsIdempotent() {
    Model m = Nos.load(Fixtures.dictOut());
    m.close();
    m.close();
    var e = assertThrows(IllegalStateException.class,
        () -> m.infer(Tensor.of(new float[3], 1, 3)));
    assertMessage(e, "'dict_out'", "closed");
  }

  static void assertMessage(Throwable e, String... parts) {
    for (String part : parts) {
      assertTrue(e.getMessage() != null && e.getMessage().contains(part),
          "message should contain '" + part + "' but was: " + e.getMessage());
    }
  }
}
