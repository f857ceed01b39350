package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

final class SpecJsonTest {

  /** The committed digits spec on one line; single quotes stand for double quotes. */
  static final String DIGITS = ("{'id': 'digits', 'artifact': {'uri': 'digits.pt'}, "
      + "'signature': {'inputs': [{'name': 'image', 'dtype': 'float32', 'shape': [-1, 1, 8, 8]}], "
      + "'outputs': [{'name': 'logits', 'dtype': 'float32', 'shape': [-1, 10]}]}}")
      .replace('\'', '"');

  private static final String SHA =
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

  static Path modelsDir() {
    String dir = System.getProperty("nos.models.dir");
    return dir == null ? Paths.get("../models") : Paths.get(dir);
  }

  /** The digits JSON with the first {@code from} replaced by {@code to} (quotes as above). */
  private static String digitsWith(String from, String to) {
    String f = from.replace('\'', '"');
    assertTrue(DIGITS.contains(f), f);
    return DIGITS.replaceFirst(java.util.regex.Pattern.quote(f),
        java.util.regex.Matcher.quoteReplacement(to.replace('\'', '"')));
  }

  private static String failure(String json) {
    return assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(json))
        .getMessage();
  }

  @Test
  void fromJson_committedDigitsFile() {
    Path file = modelsDir().resolve("digits/digits.json");
    ModelSpec spec = ModelSpec.fromJson(file);
    assertEquals("digits", spec.id());
    TensorSpec image = spec.signature().input("image").orElseThrow();
    assertEquals(DType.FLOAT32, image.dtype());
    assertEquals("image: float32[-1, 1, 8, 8]", image.toString());
    Path model = spec.artifact().localPath().orElseThrow();
    assertTrue(model.isAbsolute(), model.toString());
    assertTrue(model.endsWith(Paths.get("models/digits/digits.pt")), model.toString());
    assertTrue(Files.isRegularFile(model), model.toString());
    assertEquals(Precision.FP32, spec.precision());
    assertEquals(Device.auto(), spec.device());
    assertEquals(Optional.empty(), spec.batching());
  }

  @Test
  void fromJson_stringKeepsRelativeArtifact() {
    ModelSpec spec = ModelSpec.fromJson(DIGITS);
    assertEquals(Artifact.of("digits.pt"), spec.artifact());
    assertEquals(Optional.of(Paths.get("digits.pt")), spec.artifact().localPath());
  }

  static Stream<ModelSpec> specs() {
    Signature digits = Signature.builder()
        .input("image", DType.FLOAT32, -1, 1, 8, 8)
        .output("logits", DType.FLOAT32, -1, 10)
        .build();
    ModelSpec base = ModelSpec.builder().id("digits").artifact("digits.pt").signature(digits)
        .build();
    return Stream.of(
        base,
        base.toBuilder().artifact(Paths.get("/models/digits/digits.pt")).build(),
        base.toBuilder().artifact("../other dir/100%.pt").build(),
        base.toBuilder().artifact(Artifact.of("https://example.com/m.pt?x=1").withSha256(SHA))
            .build(),
        base.toBuilder().artifact(Artifact.of("/abs/ü.pt").withSha256(SHA)).build(),
        base.toBuilder().id("torchvision/resnet50").precision(Precision.BF16).device("cuda:1")
            .maxBatchSize(64).build(),
        base.toBuilder().precision(Precision.FP16).device(Device.cpu()).maxBatchSize(1).build(),
        base.toBuilder().maxCallBytes(296).build(),
        base.toBuilder().maxCallBytes(Long.MAX_VALUE).maxBatchSize(8).build(),
        base.toBuilder().device(Device.cuda()).signature(Signature.builder()
            .input("input_ids", DType.INT64, -1, 128)
            .input("attention_mask", DType.INT64, -1, 128)
            .input("flags", DType.BOOL, 1)
            .output("last_hidden_state", DType.FLOAT16, -1, 128, 768)
            .output("pooled", DType.BFLOAT16, -1, 768)
            .output("tokens", DType.UINT8, -1)
            .output("count", DType.INT32, 1)
            .build()).build());
  }

  @ParameterizedTest
  @MethodSource("specs")
  void toJson_roundTrip(ModelSpec spec) {
    String json = spec.toJson();
    assertEquals(spec, ModelSpec.fromJson(json), json);
    assertEquals(json, ModelSpec.fromJson(json).toJson());
  }

  @ParameterizedTest
  @MethodSource("specs")
  void fromJsonFile_roundTripResolvesRelative(ModelSpec spec, @TempDir Path dir)
      throws IOException {
    Path file = Files.writeString(dir.resolve("spec.json"), spec.toJson());
    ModelSpec read = ModelSpec.fromJson(file);
    assertEquals(spec.toBuilder().artifact(spec.artifact().resolveAgainst(dir)).build(), read);
  }

  @Test
  void toJson_layout() {
    ModelSpec spec = ModelSpec.fromJson(digitsWith("}}", "}, 'batching': {'maxBatchSize': 8}}"));
    String expected = String.join("\n",
        "{",
        "  \"id\": \"digits\",",
        "  \"artifact\": {",
        "    \"uri\": \"digits.pt\"",
        "  },",
        "  \"signature\": {",
        "    \"inputs\": [",
        "      {",
        "        \"name\": \"image\",",
        "        \"dtype\": \"float32\",",
        "        \"shape\": [",
        "          -1,",
        "          1,",
        "          8,",
        "          8",
        "        ]",
        "      }",
        "    ],",
        "    \"outputs\": [",
        "      {",
        "        \"name\": \"logits\",",
        "        \"dtype\": \"float32\",",
        "        \"shape\": [",
        "          -1,",
        "          10",
        "        ]",
        "      }",
        "    ]",
        "  },",
        "  \"precision\": \"fp32\",",
        "  \"device\": \"auto\",",
        "  \"batching\": {",
        "    \"maxBatchSize\": 8,",
        "    \"maxQueueDelayMicros\": 0,",
        "    \"preferredBatchSizes\": [],",
        "    \"maxQueueSize\": 1024,",
        "    \"padding\": [],",
        "    \"unpad\": []",
        "  }",
        "}");
    assertEquals(expected, spec.toJson());
  }

  @Test
  void fromJson_allFields() {
    ModelSpec spec = ModelSpec.fromJson(digitsWith("{'uri': 'digits.pt'}",
        "'https://example.com/d.pt'").replace("}}", "}, \"precision\": \"half\", "
        + "\"device\": \" CUDA:2 \", \"batching\": {\"maxBatchSize\": 64}}"));
    assertEquals(Artifact.of("https://example.com/d.pt"), spec.artifact());
    assertEquals(Precision.FP16, spec.precision());
    assertEquals(Device.cuda(2), spec.device());
    assertEquals(Optional.of(Batching.ofMaxBatchSize(64)), spec.batching());
  }

  @Test
  void maxCallBytes_readWritten_andLeftOutWhenUnset() {
    ModelSpec spec = ModelSpec.fromJson(digitsWith("}}", "}, 'maxCallBytes': 4294967296}"));
    assertEquals(java.util.OptionalLong.of(1L << 32), spec.maxCallBytes());
    assertTrue(spec.toJson().contains("\"maxCallBytes\": 4294967296"), spec.toJson());
    assertEquals(spec, ModelSpec.fromJson(spec.toJson()));
    assertFalse(ModelSpec.fromJson(DIGITS).toJson().contains("maxCallBytes"), "unset: not written");
  }

  @Test
  void fromJson_sha256() {
    ModelSpec spec = ModelSpec.fromJson(
        digitsWith("'digits.pt'}", "'digits.pt', 'sha256': '" + SHA.toUpperCase() + "'}"));
    assertEquals(Optional.of(SHA), spec.artifact().sha256());
  }

  @Test
  void optimize_roundTrips_inItsOwnOrder_andBadStepsAreNamed() {
    ModelSpec spec = ModelSpec.fromJson(digitsWith("{'id': 'digits',",
        "{'id': 'digits', 'optimize': ['FREEZE', 'channels_last'],"));
    assertEquals(java.util.List.of(Optimization.CHANNELS_LAST, Optimization.FREEZE),
        java.util.List.copyOf(spec.optimizations()));
    assertEquals(spec, ModelSpec.fromJson(spec.toJson()));
    assertTrue(spec.toJson().replaceAll("\\s+", "")
        .contains("\"optimize\":[\"channels_last\",\"freeze\"]"), spec.toJson());
    assertFalse(ModelSpec.fromJson(DIGITS).toJson().contains("optimize"), "none: not written");
    assertEquals("$.optimize[1]: optimization must be one of channels_last, freeze,"
        + " optimize_for_inference, cudnn_benchmark, cuda_graphs, auto but was 'fuse'",
        failure(digitsWith("{'id': 'digits',",
            "{'id': 'digits', 'optimize': ['freeze', 'fuse'],")));
    assertEquals("$.optimize must be an array of step names but was \"freeze\"",
        failure(digitsWith("{'id': 'digits',", "{'id': 'digits', 'optimize': 'freeze',")));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
    "'id'| 'signatur'| unknown field 'signatur' at $ (known: id, artifact, signature, precision, "
        + "device, batching, replicas, scaling, memoryBytes, optimize, imageInputs, maxCallBytes)",
    "'uri'| 'url'| unknown field 'url' at $.artifact (known: uri, sha256)",
    "'inputs'| 'input'| unknown field 'input' at $.signature (known: inputs, outputs)",
    "'dtype': 'float32', 'shape': [-1, 10]| 'dtype': 'float32', 'shape': [-1, 10], 'Shape': 1"
        + "| unknown field 'Shape' at $.signature.outputs[0] (known: name, dtype, shape)",
  })
  void fromJson_unknownField(String from, String to, String expected) {
    assertEquals(expected, failure(digitsWith(from, to)));
  }

  @Test
  void fromJson_unknownBatchingField() {
    assertEquals("unknown field 'maxDelay' at $.batching (known: maxBatchSize, "
        + "maxQueueDelayMicros, preferredBatchSizes, maxQueueSize, padding, unpad)",
        failure(digitsWith("}}", "}, 'batching': {'maxBatchSize': 8, 'maxDelay': 1}}")));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
    "'digits'| 7| $.id must be a string but was 7",
    "{'uri': 'digits.pt'}| ['digits.pt']| $.artifact must be a string or an object but was "
        + "[\"digits.pt\"]",
    "'digits.pt'| null| $.artifact.uri must be a string but was null",
    "{'inputs': [{'name': 'image', 'dtype': 'float32', 'shape': [-1, 1, 8, 8]}], "
        + "'outputs': [{'name': 'logits', 'dtype': 'float32', 'shape': [-1, 10]}]}| ['inputs']"
        + "| $.signature must be an object but was [\"inputs\"]",
    "[{'name': 'image', 'dtype': 'float32', 'shape': [-1, 1, 8, 8]}]| {'x': 1}| "
        + "$.signature.inputs must be an array but was {\"x\":1}",
    "'digits'| [1000000, 1000001, 1000002, 1000003, 1000004, 1000005, 1000006, 1000007, 1000008]"
        + "| $.id must be a string but was [1000000,1000001,1000002,1000003,1000004,1000005,"
        + "1000006,100...",
    "[{'name': 'image'| [7, {'name': 'image'| $.signature.inputs[0] must be an object but was 7",
    "'image'| false| $.signature.inputs[0].name must be a string but was false",
    "'float32'| 32| $.signature.inputs[0].dtype must be a string but was 32",
    "[-1, 1, 8, 8]| '-1, 1, 8, 8'| $.signature.inputs[0].shape must be an array but was "
        + "\"-1, 1, 8, 8\"",
    "[-1, 1, 8, 8]| [-1, 'x', 8, 8]| $.signature.inputs[0].shape[1] must be an integer but was "
        + "\"x\"",
    "[-1, 10]| [-1, 10.0]| $.signature.outputs[0].shape[1] must be an integer but was 10.0",
    "[-1, 10]| [-1, 100000000000000000000]| $.signature.outputs[0].shape[1] must be an integer "
        + "but was 100000000000000000000",
  })
  void fromJson_wrongType(String from, String to, String expected) {
    assertEquals(expected, failure(digitsWith(from, to)));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
    "'precision': 16| $.precision must be a string but was 16",
    "'device': {}| $.device must be a string but was {}",
    "'batching': 64| $.batching must be an object but was 64",
    "'batching': {'maxBatchSize': '64'}| $.batching.maxBatchSize must be an integer but was \"64\"",
    "'batching': {'maxBatchSize': 1e3}| $.batching.maxBatchSize must be an integer but was 1000.0",
    "'batching': {'maxBatchSize': 4294967296}| $.batching.maxBatchSize must be an integer at most "
        + "2147483647 but was 4294967296",
    "'batching': {'maxBatchSize': -4294967296}| $.batching.maxBatchSize must be an integer at "
        + "least -2147483648 but was -4294967296",
    "'batching': {'maxBatchSize': 0}| $.batching.maxBatchSize must be >= 1 but was 0",
    "'batching': {}| missing required field 'maxBatchSize' at $.batching",
    "'precision': 'fp8'| $.precision must be one of fp32, float32, fp16, float16, half, bf16, "
        + "bfloat16 but was 'fp8'",
    "'device': 'gpu'| $.device must be one of auto, cpu, cuda, cuda:N but was 'gpu'",
    "'maxCallBytes': 0| $.maxCallBytes must be >= 1 but was 0",
    "'maxCallBytes': 295| $.maxCallBytes must be at least 296, the bytes of the smallest call the"
        + " signature allows (the least batch, each other dynamic dimension at 1; input 'image'"
        + " float32[-1, 1, 8, 8] takes at least 256 bytes), but was 295",
    "'imageInputs': {'image': {'size': 0}}| $.imageInputs.image.size must be 1 to 16384 but was"
        + " 0",
    "'replicas': 3, 'scaling': {'maxReplicas': 2, 'value': 1}| $.replicas must be at most the"
        + " scaling policy's maxReplicas (2) but was 3",
    "'maxCallBytes': '1g'| $.maxCallBytes must be an integer but was \"1g\"",
    "'maxCallBytes': 1.5e9| $.maxCallBytes must be an integer but was 1.5E9",
    "'maxCallBytes': 9223372036854775808| $.maxCallBytes must be an integer but was "
        + "9223372036854775808",
  })
  void fromJson_badOptionalField(String field, String expected) {
    assertEquals(expected, failure(digitsWith("}}", "}, " + field + "}")));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
    "'id': 'digits', | missing required field 'id' at $",
    "'artifact': {'uri': 'digits.pt'}, | missing required field 'artifact' at $",
    "'uri': 'digits.pt'| missing required field 'uri' at $.artifact",
    "'name': 'image', | missing required field 'name' at $.signature.inputs[0]",
    ", 'dtype': 'float32', 'shape': [-1, 10]| missing required field 'dtype' at "
        + "$.signature.outputs[0]",
    ", 'shape': [-1, 1, 8, 8]| missing required field 'shape' at $.signature.inputs[0]",
    ", 'outputs': [{'name': 'logits', 'dtype': 'float32', 'shape': [-1, 10]}]| missing required "
        + "field 'outputs' at $.signature",
  })
  void fromJson_missingField(String removed, String expected) {
    assertEquals(expected, failure(digitsWith(removed, "")));
  }

  @Test
  void fromJson_missingSignature() {
    assertEquals("missing required field 'signature' at $",
        failure("{\"id\": \"digits\", \"artifact\": \"digits.pt\"}"));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
    "'digits'| 'Bad Id!'| $.id must match [A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)* "
        + "(1-128 characters) but was 'Bad Id!' (7 characters)",
    "'digits.pt'| 'ftp://x/d.pt'| $.artifact.uri scheme must be file, http or https but was 'ftp' "
        + "in 'ftp://x/d.pt'",
    "'digits.pt'}| 'digits.pt', 'sha256': 'abc'}| $.artifact.sha256 must be 64 hex characters but "
        + "was 'abc' (3 characters)",
    "[-1, 1, 8, 8]| [-1, 1, 0, 8]| $.signature.inputs[0].shape[2] must be -1 (dynamic) or >= 1 but "
        + "was 0 in tensor 'image'",
    "[-1, 1, 8, 8]| []| $.signature.inputs[0].shape must have rank >= 1 but was [] (rank 0) in "
        + "tensor 'image'",
    "[-1, 1, 8, 8]| [-1, 3, 32768, 8192]| $.signature.inputs[0].shape [-1, 3, 32768, 8192] of"
        + " float32 takes at least 3221225472 bytes (1 row, a dynamic dimension counted as 1) but"
        + " a Tensor holds at most 2147483647 bytes in tensor 'image'",
    "'image'| 'my image'| $.signature.inputs[0].name must match [A-Za-z_][A-Za-z0-9_.]* (1-64 "
        + "characters) but was 'my image' (8 characters)",
    "'float32'| 'float64'| $.signature.inputs[0].dtype must be one of float32, float16, bfloat16, "
        + "int64, int32, uint8, bool but was 'float64'",
    "[{'name': 'image', 'dtype': 'float32', 'shape': [-1, 1, 8, 8]}]| []| $.signature.inputs must "
        + "have at least 1 tensor but was empty",
    "{'name': 'logits', 'dtype': 'float32', 'shape': [-1, 10]}| {'name': 'logits', 'dtype': "
        + "'float32', 'shape': [-1, 10]}, {'name': 'logits', 'dtype': 'int64', 'shape': [1]}| "
        + "$.signature.outputs[1].name must be unique but was 'logits', the name of "
        + "signature.outputs[0]",
    "[-1, 1, 8, 8]}| [2, 1, 8, 8]}, {'name': 'mask', 'dtype': 'bool', 'shape': [3]}| "
        + "$.signature.inputs[1].shape[0] (the batch dimension) must be -1 or 2 like "
        + "signature.inputs[0] 'image' but was 3 in tensor 'mask'",
  })
  void fromJson_invalidValue(String from, String to, String expected) {
    assertEquals(expected, failure(digitsWith(from, to)));
  }

  @Test
  void fromJson_malformed() {
    String message = failure("{\"id\": \"digits\",");
    assertTrue(message.startsWith("ModelSpec JSON is not valid JSON: "), message);
    assertTrue(message.contains("line: 1, column: "), message);
  }

  @Test
  void fromJson_duplicateKey() {
    String message = failure(digitsWith("'id': 'digits'", "'id': 'digits', 'id': 'other'"));
    assertTrue(message.startsWith("ModelSpec JSON is not valid JSON: Duplicate field 'id'"),
        message);
  }

  @Test
  void fromJson_trailingTokens() {
    String message = failure(DIGITS + " {}");
    assertTrue(message.startsWith("ModelSpec JSON is not valid JSON: Trailing token"), message);
  }

  @Test
  void fromJson_deepNesting() {
    String message = failure("[".repeat(10_000));
    assertTrue(message.startsWith("ModelSpec JSON is not valid JSON: "), message);
    assertTrue(message.contains("nesting depth"), message);
    message = failure(digitsWith("'digits'", "[".repeat(62) + "]".repeat(62)));
    assertTrue(message.startsWith("$.id must be a string but was [[[["), message);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
    "``| $ must be an object but was empty",
    "`  `| $ must be an object but was empty",
    "[]| $ must be an object but was []",
    "null| $ must be an object but was null",
    "\"digits\"| $ must be an object but was \"digits\"",
  })
  void fromJson_notAnObject(String json, String expected) {
    assertEquals(expected, failure(json));
  }

  @Test
  void fromJson_null() {
    assertEquals("ModelSpec JSON must not be null", assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.fromJson((String) null)).getMessage());
    assertEquals("ModelSpec JSON file must not be null", assertThrows(
        IllegalArgumentException.class, () -> ModelSpec.fromJson((Path) null)).getMessage());
  }

  @Test
  void fromJsonFile_missing_isAnIllegalArgumentNamingTheFile(@TempDir Path dir) {
    Path file = dir.resolve("absent.json");
    var e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(file));
    assertEquals("ModelSpec JSON file " + file + " does not exist", e.getMessage());
  }

  @Test
  void fromJsonFile_directory_isAnIllegalArgumentNamingIt(@TempDir Path dir) {
    var e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(dir));
    assertEquals("ModelSpec JSON file " + dir + " is a directory; give the spec file in it",
        e.getMessage());
  }

  @Test
  void fromJsonFile_unreadablePath_isAnIllegalArgumentNamingItAndWhy(@TempDir Path dir)
      throws IOException {
    // A path through a regular file fails to open whoever runs the test, root included.
    Path file = Files.writeString(dir.resolve("plain"), "{}").resolve("spec.json");
    var e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(file));
    assertTrue(e.getMessage().startsWith("ModelSpec JSON file " + file + " cannot be read: "),
        e.getMessage());
    assertTrue(e.getCause() instanceof IOException, String.valueOf(e.getCause()));
  }

  @Test
  void fromJsonFile_withoutReadPermission_isAnIllegalArgumentNamingIt(@TempDir Path dir)
      throws IOException {
    Path file = Files.writeString(dir.resolve("spec.json"), DIGITS);
    assumeTrue(file.toFile().setReadable(false, false) && !Files.isReadable(file),
        "this user reads files without read permission (root)");
    var e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(file));
    assertTrue(e.getMessage().startsWith("ModelSpec JSON file " + file + " cannot be read: "),
        e.getMessage());
  }

  @Test
  void fromJsonFile_invalidNamesFile(@TempDir Path dir) throws IOException {
    Path file = Files.writeString(dir.resolve("bad.json"), digitsWith("'digits'", "'Bad Id!'"));
    String message = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(file))
        .getMessage();
    assertTrue(message.startsWith(file + ": $.id must match"), message);
    Path binary = Files.write(dir.resolve("bin.json"), new byte[] {(byte) 0xff, (byte) 0xfe, 0});
    message = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(binary))
        .getMessage();
    assertTrue(message.startsWith(binary + ": ModelSpec JSON is not valid JSON: "), message);
    // UTF-32 (Jackson detects it from the first bytes) with a character above U+10FFFF.
    Path utf32 = Files.write(dir.resolve("utf32.json"), new byte[] {0, 0, 0, '{', 0x7F, 0, 0, 0});
    message = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(utf32))
        .getMessage();
    assertTrue(message.startsWith(utf32 + ": ModelSpec JSON is not valid JSON: ")
        && message.contains("Invalid UTF-32 character"), message);
  }

  @Test
  void fromJsonFile_tooBig(@TempDir Path dir) throws IOException {
    Path file = Files.write(dir.resolve("digits.pt"), new byte[(1 << 20) + 1]);
    String message = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(file))
        .getMessage();
    assertEquals("ModelSpec JSON file " + file + " must be at most 1048576 bytes but was 1048577 "
        + "bytes; is it the model itself?", message);
  }

  @Test
  void fromJsonFile_endlessDevice_isRefusedAfterTheCap() {
    // A device reports size 0 and never ends: reading it whole filled the heap.
    Path endless = Paths.get("/dev/zero");
    assumeTrue(Files.isReadable(endless), "no /dev/zero here");
    String message = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.fromJson(endless)).getMessage();
    assertEquals("ModelSpec JSON file /dev/zero must be at most 1048576 bytes but holds more;"
        + " is it the model itself?", message);
  }
}
