package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The batching settings of a spec in JSON: every field, its errors, and round trips. */
final class SpecJsonBatchingTest {

  /** A tokens spec whose batching is {@code batching} (a JSON object; single quotes). */
  private static String tokens(String batching) {
    return ("{'id': 'tokens', 'artifact': 'tokens.pt', 'signature': {"
        + "'inputs': [{'name': 'ids', 'dtype': 'int64', 'shape': [-1, -1]}],"
        + "'outputs': [{'name': 'hidden', 'dtype': 'float32', 'shape': [-1, -1, 8]}]}, "
        + "'batching': " + batching + "}").replace('\'', '"');
  }

  private static final Signature SIGNATURE = Signature.builder()
      .input("ids", DType.INT64, -1, -1).output("hidden", DType.FLOAT32, -1, -1, 8).build();

  private static String failure(String json) {
    return assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(json))
        .getMessage();
  }

  @Test
  void fromJson_everyField() {
    ModelSpec spec = ModelSpec.fromJson(tokens("{'maxBatchSize': 16, 'maxQueueDelayMicros': "
        + "2500, 'preferredBatchSizes': [4, 8], 'maxQueueSize': 100, 'padding': [{'input': "
        + "'ids', 'dim': 1, 'value': 0}], 'unpad': [{'output': 'hidden', 'dim': 1, 'input': "
        + "'ids', 'inputDim': 1}]}"));
    assertEquals(Batching.builder().maxBatchSize(16).maxQueueDelay(Duration.ofNanos(2_500_000))
        .preferredBatchSizes(4, 8).maxQueueSize(100).padding(Padding.of("ids", 1, 0))
        .unpad(Padding.unpad("hidden", 1, "ids", 1)).build(), spec.batching().orElseThrow());
  }

  /** A fixed batch dimension with batching of another size is refused from JSON too. */
  @Test
  void fromJson_fixedBatchDimension_otherMaxBatchSize_refused() {
    String json = ("{'id': 'one', 'artifact': 'one.pt', 'signature': {"
        + "'inputs': [{'name': 'x', 'dtype': 'float32', 'shape': [1, 5]}],"
        + "'outputs': [{'name': 'y', 'dtype': 'float32', 'shape': [-1, 2]}]}, "
        + "'batching': {'maxBatchSize': 8}}").replace('\'', '"');
    assertEquals("$.batching.maxBatchSize must be 1 but was 8: input 'x' has a fixed first"
        + " dimension (the batch): x: float32[1, 5], so every call has exactly 1 row and a batch"
        + " of several calls would have more rows than the signature allows; declare the first"
        + " dimension -1 to batch calls together", failure(json));
  }

  @Test
  void fromJson_onlyMaxBatchSize_defaults() {
    assertEquals(Batching.ofMaxBatchSize(4),
        ModelSpec.fromJson(tokens("{'maxBatchSize': 4}")).batching().orElseThrow());
  }

  static Stream<Batching> batchings() {
    return Stream.of(Batching.ofMaxBatchSize(1),
        Batching.builder().maxBatchSize(64).maxQueueDelay(Duration.ofNanos(Long.MAX_VALUE - 807))
            .preferredBatchSizes(1, 2, 64).maxQueueSize(Integer.MAX_VALUE).build(),
        Batching.builder().maxBatchSize(8).padding(Padding.of("ids", 1, -0.0))
            .unpad(Padding.unpad("hidden", 1, "ids", 1)).build(),
        Batching.builder().maxBatchSize(8).padding(Padding.of("ids", 1, 9.007199254740992E15))
            .build(),
        Batching.builder().maxBatchSize(8).padding(Padding.of("ids", 1, -9.2e18)).build(),
        Batching.builder().maxBatchSize(8).padding(Padding.of("ids", 1, 102)).build());
  }

  @ParameterizedTest
  @MethodSource("batchings")
  void toJson_roundTrip(Batching batching) {
    ModelSpec spec = ModelSpec.builder().id("tokens").artifact("tokens.pt").signature(SIGNATURE)
        .batching(batching).build();
    String json = spec.toJson();
    assertEquals(spec, ModelSpec.fromJson(json), json);
    assertEquals(json, ModelSpec.fromJson(json).toJson());
  }

  @Test
  void toJson_paddingLayout() {
    String json = ModelSpec.fromJson(tokens("{'maxBatchSize': 8, 'maxQueueDelayMicros': 100, "
        + "'padding': [{'input': 'ids', 'dim': 1, 'value': 3.0}], 'unpad': [{'output': 'hidden',"
        + " 'dim': 1, 'input': 'ids', 'inputDim': 1}]}")).toJson();
    String expected = String.join("\n",
        "  \"batching\": {",
        "    \"maxBatchSize\": 8,",
        "    \"maxQueueDelayMicros\": 100,",
        "    \"preferredBatchSizes\": [],",
        "    \"maxQueueSize\": 1024,",
        "    \"padding\": [",
        "      {",
        "        \"input\": \"ids\",",
        "        \"dim\": 1,",
        "        \"value\": 3",
        "      }",
        "    ],",
        "    \"unpad\": [",
        "      {",
        "        \"output\": \"hidden\",",
        "        \"dim\": 1,",
        "        \"input\": \"ids\",",
        "        \"inputDim\": 1",
        "      }",
        "    ]",
        "  }",
        "}");
    assertEquals(expected, json.substring(json.indexOf("  \"batching\"")));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 1, 'value': 0, 'pad': 1}]}"
        + "| unknown field 'pad' at $.batching.padding[0] (known: input, dim, value)",
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 1, 'value': 0}], 'unpad': "
        + "[{'output': 'hidden', 'dim': 1, 'input': 'ids', 'inputdim': 1}]}"
        + "| unknown field 'inputdim' at $.batching.unpad[0] (known: output, dim, input, inputDim)",
    "{'maxBatchSize': 4, 'maxQueueDelayMicros': '5'}"
        + "| $.batching.maxQueueDelayMicros must be an integer but was \"5\"",
    "{'maxBatchSize': 4, 'maxQueueDelayMicros': 0.5}"
        + "| $.batching.maxQueueDelayMicros must be an integer but was 0.5",
    "{'maxBatchSize': 4, 'maxQueueDelayMicros': -1}"
        + "| $.batching.maxQueueDelayMicros must be in [0, 9223372036854775] but was -1",
    "{'maxBatchSize': 4, 'maxQueueDelayMicros': 9223372036854776}"
        + "| $.batching.maxQueueDelayMicros must be in [0, 9223372036854775] but was "
        + "9223372036854776",
    "{'maxBatchSize': 4, 'preferredBatchSizes': 4}"
        + "| $.batching.preferredBatchSizes must be an array but was 4",
    "{'maxBatchSize': 4, 'preferredBatchSizes': [1, 'x']}"
        + "| $.batching.preferredBatchSizes[1] must be an integer but was \"x\"",
    "{'maxBatchSize': 4, 'preferredBatchSizes': [2, 1]}"
        + "| $.batching.preferredBatchSizes must be strictly increasing but was [2, 1]",
    "{'maxBatchSize': 4, 'preferredBatchSizes': [8]}"
        + "| $.batching.preferredBatchSizes[0] must be <= batching.maxBatchSize (4) but was 8",
    "{'maxBatchSize': 4, 'maxQueueSize': 0}| $.batching.maxQueueSize must be >= 1 but was 0",
    "{'maxBatchSize': 4, 'padding': {}}| $.batching.padding must be an array but was {}",
    "{'maxBatchSize': 4, 'padding': [7]}| $.batching.padding[0] must be an object but was 7",
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 1}]}"
        + "| missing required field 'value' at $.batching.padding[0]",
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 1, 'value': '0'}]}"
        + "| $.batching.padding[0].value must be a number but was \"0\"",
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 0, 'value': 0}]}"
        + "| $.batching.padding[0].dim must be >= 1 (dim 0 is the batch dimension) but was 0 for "
        + "tensor 'ids'",
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 1, 'value': 1e400}]}"
        + "| $.batching.padding[0].value must be finite but was Infinity in padding of input 'ids'",
    "{'maxBatchSize': 4, 'padding': [{'input': 'idz', 'dim': 1, 'value': 0}]}"
        + "| $.batching.padding[0].input must name an input of the signature [ids] but was 'idz'",
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 1, 'value': 0.5}]}"
        + "| $.batching.padding[0].value must be an integer in [-2^63, 2^63) for int64 input 'ids'"
        + " but was 0.5",
    "{'maxBatchSize': 4, 'unpad': [{'output': 'hidden', 'dim': 1, 'input': 'ids', 'inputDim': "
        + "1}]}| $.batching.unpad[0] follows input 'ids' dim 1, which no batching.padding rule "
        + "pads",
    "{'maxBatchSize': 4, 'padding': [{'input': 'ids', 'dim': 1, 'value': 0}], 'unpad': "
        + "[{'output': 'hidden', 'dim': 2, 'input': 'ids', 'inputDim': 1}]}"
        + "| $.batching.unpad[0].dim must be a dynamic (-1) dimension of output 'hidden' (shape "
        + "[-1, -1, 8]) but dim 2 is 8",
    "{'maxBatchSize': 4, 'unpad': [{'output': 'hidden', 'dim': 1, 'input': 'ids'}]}"
        + "| missing required field 'inputDim' at $.batching.unpad[0]",
  })
  void fromJson_invalid(String batching, String expected) {
    assertEquals(expected, failure(tokens(batching)));
  }
}
