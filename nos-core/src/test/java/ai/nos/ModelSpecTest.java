package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

final class ModelSpecTest {

  private static final Signature DIGITS = Signature.builder()
      .input("image", DType.FLOAT32, -1, 1, 8, 8)
      .output("logits", DType.FLOAT32, -1, 10)
      .build();

  private static ModelSpec.Builder digits() {
    return ModelSpec.builder().id("digits").artifact("digits.pt").signature(DIGITS);
  }

  @Test
  void build_defaults() {
    ModelSpec spec = digits().build();
    assertEquals("digits", spec.id());
    assertEquals(Artifact.of("digits.pt"), spec.artifact());
    assertEquals(DIGITS, spec.signature());
    assertEquals(Precision.FP32, spec.precision());
    assertEquals(Device.auto(), spec.device());
    assertEquals(Optional.empty(), spec.batching());
  }

  @Test
  void build_allFields() {
    ModelSpec spec = digits()
        .artifact(Paths.get("/models/digits.pt"))
        .precision(Precision.BF16)
        .device("cuda:1")
        .maxBatchSize(32)
        .build();
    assertEquals(Artifact.of("/models/digits.pt"), spec.artifact());
    assertEquals(Precision.BF16, spec.precision());
    assertEquals(Device.cuda(1), spec.device());
    assertEquals(Optional.of(Batching.ofMaxBatchSize(32)), spec.batching());
    assertEquals("ModelSpec{id=digits, artifact=file:///models/digits.pt, signature=(image: "
        + "float32[-1, 1, 8, 8]) -> (logits: float32[-1, 10]), precision=bf16, device=cuda:1, "
        + "batching=Batching{maxBatchSize=32}}", spec.toString());
  }

  /**
   * A first user's spec: input [1, 5] with maxBatchSize(8) built, and batching merged calls of 1
   * row into batches of up to 8 that the signature refuses. Refused when built now.
   */
  @Test
  void build_fixedBatchDimension_batchingOfAnotherSize_refusedNamingBoth() {
    Signature one = Signature.builder().input("x", DType.FLOAT32, 1, 5)
        .output("y", DType.FLOAT32, -1, 2).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> digits().signature(one).maxBatchSize(8).build());
    assertEquals("batching.maxBatchSize must be 1 but was 8: input 'x' has a fixed first"
        + " dimension (the batch): x: float32[1, 5], so every call has exactly 1 row and a batch"
        + " of several calls would have more rows than the signature allows; declare the first"
        + " dimension -1 to batch calls together", e.getMessage());
    Signature four = Signature.builder().input("ids", DType.INT64, -1, 16)
        .input("mask", DType.INT64, 4, 16).output("y", DType.FLOAT32, -1, 2).build();
    e = assertThrows(IllegalArgumentException.class,
        () -> digits().signature(four).maxBatchSize(2).build());
    assertEquals("batching.maxBatchSize must be 4 but was 2: input 'mask' has a fixed first"
        + " dimension (the batch): mask: int64[4, 16], so every call has exactly 4 rows and each"
        + " would be refused as over maxBatchSize; declare the first dimension -1 to batch calls"
        + " together", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> digits().signature(four)
        .batching(Batching.builder().maxBatchSize(4).preferredBatchSizes(2, 4).build()).build());
    assertEquals("batching.preferredBatchSizes[0] must be 4 but was 2: input 'mask' has a fixed"
        + " first dimension (the batch): mask: int64[4, 16], so every call has exactly 4 rows and"
        + " no batch has 2 rows; declare the first dimension -1 to batch calls together",
        e.getMessage());
  }

  /** A model that takes exactly N rows keeps working: without batching, or batching of N. */
  @Test
  void build_fixedBatchDimension_withoutBatchingOrBatchingOfThatSize_builds() {
    Signature four = Signature.builder().input("x", DType.FLOAT32, 4, 5)
        .output("y", DType.FLOAT32, 4, 2).output("z", DType.FLOAT32, -1).build();
    assertEquals(Optional.empty(), digits().signature(four).build().batching());
    assertEquals(4, digits().signature(four).maxBatchSize(4).build().batching().orElseThrow()
        .maxBatchSize());
    assertEquals(4, digits().signature(four).batching(Batching.builder().maxBatchSize(4)
        .preferredBatchSizes(4).build()).build().batching().orElseThrow().maxBatchSize());
    // A spec of 1 row a batch may declare its outputs' first dimension 1.
    Signature perRow = Signature.builder().input("x", DType.FLOAT32, -1, 5)
        .output("y", DType.FLOAT32, 1, 2).build();
    assertEquals(1, digits().signature(perRow).maxBatchSize(1).build().batching().orElseThrow()
        .maxBatchSize());
  }

  @Test
  void build_fixedOutputFirstDimension_batchesOfOtherSizes_refused() {
    Signature pooled = Signature.builder().input("x", DType.FLOAT32, -1, 5)
        .output("y", DType.FLOAT32, -1, 2).output("pooled", DType.FLOAT32, 2).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> digits().signature(pooled).maxBatchSize(8).build());
    assertEquals("signature.outputs[1].shape[0] must be -1 (the batch) with batching but was 2 in"
        + " pooled: float32[2]: batching splits every output along its first dimension, and its"
        + " batches have 1 to 8 rows", e.getMessage());
    Signature fixedIn = Signature.builder().input("x", DType.FLOAT32, 4, 5)
        .output("y", DType.FLOAT32, 1, 2).build();
    e = assertThrows(IllegalArgumentException.class,
        () -> digits().signature(fixedIn).maxBatchSize(4).build());
    assertEquals("signature.outputs[0].shape[0] must be -1 (the batch) with batching but was 1 in"
        + " y: float32[1, 2]: batching splits every output along its first dimension, and its"
        + " batches have 4 rows", e.getMessage());
  }

  @Test
  void build_idRequired() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.builder().artifact("digits.pt").signature(DIGITS).build());
    assertEquals("ModelSpec.id is required", e.getMessage());
  }

  @Test
  void build_artifactRequired() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.builder().id("digits").signature(DIGITS).build());
    assertEquals("ModelSpec.artifact is required", e.getMessage());
  }

  @Test
  void build_signatureRequired() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.builder().id("digits").artifact("digits.pt").build());
    assertEquals("ModelSpec.signature is required", e.getMessage());
  }

  @Test
  void build_firstMissingNamed() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.builder().build());
    assertEquals("ModelSpec.id is required", e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"digits", "torchvision/resnet50", "a", "A.b_c-d/e1/2", "0"})
  void id_valid(String id) {
    assertEquals(id, digits().id(id).build().id());
  }

  @ParameterizedTest
  @ValueSource(strings = {"Bad Id!", "", "/a", "a/", "a//b", "-a", "a/.b", "_a", "é", "a b"})
  void id_invalid(String id) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.builder().id(id));
    assertEquals("id must match [A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)* "
        + "(1-128 characters) but was '" + id + "' (" + id.length() + " characters)",
        e.getMessage());
  }

  @Test
  void id_length() {
    assertEquals(128, digits().id("a".repeat(128)).build().id().length());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.builder().id("a".repeat(129)));
    assertTrue(e.getMessage().endsWith("(129 characters)"), e.getMessage());
  }

  @Test
  void setters_rejectNull() {
    ModelSpec.Builder b = ModelSpec.builder();
    // One treatment of nulls (docs/api-conventions.md): a NullPointerException naming the setting.
    assertEquals("id must not be null",
        assertThrows(NullPointerException.class, () -> b.id(null)).getMessage());
    assertEquals("artifact must not be null",
        assertThrows(NullPointerException.class, () -> b.artifact((Artifact) null))
            .getMessage());
    assertEquals("artifact must not be null",
        assertThrows(NullPointerException.class, () -> b.artifact((Path) null)).getMessage());
    assertEquals("artifact must not be null",
        assertThrows(NullPointerException.class, () -> b.artifact((String) null))
            .getMessage());
    assertEquals("signature must not be null",
        assertThrows(NullPointerException.class, () -> b.signature(null)).getMessage());
    assertEquals("precision must not be null",
        assertThrows(NullPointerException.class, () -> b.precision(null)).getMessage());
    assertEquals("device must not be null",
        assertThrows(NullPointerException.class, () -> b.device((Device) null)).getMessage());
    assertEquals("batching must not be null",
        assertThrows(NullPointerException.class, () -> b.batching(null)).getMessage());
  }

  @Test
  void device_invalidString() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.builder().device("gpu"));
    assertEquals("device must be one of auto, cpu, cuda, cuda:N but was 'gpu'", e.getMessage());
  }

  @Test
  void maxBatchSize_invalid() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.builder().maxBatchSize(0));
    assertEquals("batching.maxBatchSize must be >= 1 but was 0", e.getMessage());
  }

  @Test
  void maxCallBytes_unsetByDefault_setKept_invalidNamed() {
    assertEquals(OptionalLong.empty(), digits().build().maxCallBytes());
    ModelSpec spec = digits().maxCallBytes(4096).build();
    assertEquals(OptionalLong.of(4096), spec.maxCallBytes());
    assertEquals(spec, spec.toBuilder().build());
    assertTrue(spec.toString().contains("maxCallBytes=4096"), spec.toString());
    assertEquals("maxCallBytes must be >= 1 but was 0", assertThrows(
        IllegalArgumentException.class, () -> digits().maxCallBytes(0)).getMessage());
  }

  @Test
  void build_maxCallBytesUnderTheSmallestCall_isRefusedNamingTheInputItsShapeBytesAndTheLimit() {
    // One digit row: 64 floats in (256 bytes), 10 floats out (40 bytes).
    assertEquals(OptionalLong.of(296), digits().maxCallBytes(296).build().maxCallBytes());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> digits().maxCallBytes(295).build());
    assertEquals("maxCallBytes must be at least 296, the bytes of the smallest call the signature"
        + " allows (the least batch, each other dynamic dimension at 1; input 'image'"
        + " float32[-1, 1, 8, 8] takes at least 256 bytes), but was 295", e.getMessage());
  }

  @Test
  void build_maxCallBytes_smallestCallCountsAFixedBatchImagesAndOutputs() {
    // A fixed first dimension of 4 is every call's batch: the outputs' dynamic one counts 4 too.
    Signature fixed = Signature.builder().input("x", DType.INT64, 4, -1, 2)
        .output("y", DType.FLOAT32, -1, 1000).build();
    ModelSpec.Builder b = digits().signature(fixed);
    assertEquals(4 * 2 * 8 + 4 * 1000 * 4, b.maxCallBytes(16064).build().maxCallBytes()
        .getAsLong());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> b.maxCallBytes(16063).build())
        .getMessage().contains("; output 'y' float32[-1, 1000] takes at least 16000 bytes), but"
            + " was 16063"));
    // An image input counts its pixels and the float32 model input they become.
    Signature image = Signature.builder().input("image", DType.UINT8, -1, -1, -1, 3)
        .output("logits", DType.FLOAT32, -1, 10).build();
    ModelSpec.Builder ib = digits().signature(image).imageInput("image",
        ImageInput.resizeTo(8).build());
    long least = 3 + 3 * 8 * 8 * 4 + 40;
    ib.maxCallBytes(least).build();
    assertEquals("maxCallBytes must be at least " + least + ", the bytes of the smallest call the"
        + " signature allows (the least batch, each other dynamic dimension at 1; input 'image'"
        + " uint8[-1, -1, -1, 3] takes at least 3 bytes and 768 as the model's float32[1, 3, 8,"
        + " 8]), but was " + (least - 1), assertThrows(IllegalArgumentException.class,
            () -> ib.maxCallBytes(least - 1).build()).getMessage());
  }

  @Test
  void setters_setTwiceKeepsLast() {
    ModelSpec spec = digits().id("first").id("second").device("cpu").device(Device.cuda())
        .maxBatchSize(4).batching(Batching.ofMaxBatchSize(16)).build();
    assertEquals("second", spec.id());
    assertEquals(Device.cuda(), spec.device());
    assertEquals(16, spec.batching().orElseThrow().maxBatchSize());
  }

  @Test
  void maxBatchSize_keepsOtherBatchingSettings() {
    ModelSpec spec = digits().batching(Batching.ofMaxBatchSize(16)).maxBatchSize(8).build();
    assertEquals(Batching.ofMaxBatchSize(16).toBuilder().maxBatchSize(8).build(),
        spec.batching().orElseThrow());
  }

  @Test
  void toBuilder_equal() {
    ModelSpec spec = digits().precision(Precision.FP16).device("cuda:0").maxBatchSize(8).build();
    assertEquals(spec, spec.toBuilder().build());
    assertEquals(spec.hashCode(), spec.toBuilder().build().hashCode());
    assertEquals(spec.toString(), spec.toBuilder().build().toString());
  }

  @Test
  void equals_eachFieldCounts() {
    ModelSpec spec = digits().build();
    assertNotEquals(spec, spec.toBuilder().id("other").build());
    assertNotEquals(spec, spec.toBuilder().artifact("other.pt").build());
    assertNotEquals(spec, spec.toBuilder().signature(DIGITS.toBuilder()
        .output("probs", DType.FLOAT32, -1, 10).build()).build());
    assertNotEquals(spec, spec.toBuilder().precision(Precision.FP16).build());
    assertNotEquals(spec, spec.toBuilder().device(Device.cpu()).build());
    assertNotEquals(spec, spec.toBuilder().maxBatchSize(1).build());
    assertNotEquals(spec, spec.toBuilder().maxCallBytes(1 << 20).build());
    assertNotEquals(spec, null);
  }

  @Test
  void build_builderReusable() {
    ModelSpec.Builder b = digits();
    ModelSpec first = b.build();
    ModelSpec second = b.device("cpu").build();
    assertEquals(Device.auto(), first.device());
    assertEquals(Device.cpu(), second.device());
  }
}
