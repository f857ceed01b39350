package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Padding rules: their factories, and their checks against the signature at ModelSpec.build. */
final class BatchingPaddingTest {

  /** ids int64[-1, -1], mask uint8[-1, -1], scale float16[-1, -1], flags bool[-1, -1, 4]. */
  private static final Signature TOKENS = Signature.builder()
      .input("ids", DType.INT64, -1, -1).input("mask", DType.UINT8, -1, -1)
      .input("scale", DType.FLOAT16, -1, -1).input("flags", DType.BOOL, -1, -1, 4)
      .input("count", DType.INT32, -1, -1).input("wide", DType.FLOAT32, -1, -1)
      .input("brain", DType.BFLOAT16, -1, -1)
      .output("hidden", DType.FLOAT32, -1, -1, 768).build();

  private static String failure(Runnable r) {
    return assertThrows(IllegalArgumentException.class, r::run).getMessage();
  }

  private static ModelSpec spec(Batching.Builder batching) {
    return ModelSpec.builder().id("tokens").artifact("tokens.pt").signature(TOKENS)
        .batching(batching.build()).build();
  }

  private static Batching.Builder padding(Padding rule) {
    return Batching.builder().maxBatchSize(8).padding(rule);
  }

  @Test
  void of_valid() {
    Padding p = Padding.of("ids", 1, -3.5);
    assertEquals("ids", p.input());
    assertEquals(1, p.dim());
    assertEquals(-3.5, p.value());
    assertEquals("pad ids[1] with -3.5", p.toString());
    assertEquals(p, Padding.of("ids", 1, -3.5));
    assertEquals(p.hashCode(), Padding.of("ids", 1, -3.5).hashCode());
    assertNotEquals(p, Padding.of("ids", 2, -3.5));
    assertNotEquals(p, Padding.of("mask", 1, -3.5));
    assertNotEquals(Padding.of("ids", 1, 0.0), Padding.of("ids", 1, -0.0));
  }

  @Test
  void of_invalid() {
    assertEquals("input must name a tensor but was null", failure(() -> Padding.of(null, 1, 0)));
    assertEquals("input must name a tensor but was empty", failure(() -> Padding.of("", 1, 0)));
    assertEquals("dim must be >= 1 (dim 0 is the batch dimension) but was 0 for tensor 'ids'",
        failure(() -> Padding.of("ids", 0, 0)));
    assertEquals("value must be finite but was NaN in padding of input 'ids'",
        failure(() -> Padding.of("ids", 1, Double.NaN)));
    assertEquals("value must be finite but was -Infinity in padding of input 'ids'",
        failure(() -> Padding.of("ids", 1, Double.NEGATIVE_INFINITY)));
  }

  @Test
  void unpad_validAndInvalid() {
    Padding.Unpad u = Padding.unpad("hidden", 1, "ids", 1);
    assertEquals("hidden", u.output());
    assertEquals(1, u.dim());
    assertEquals("ids", u.input());
    assertEquals(1, u.inputDim());
    assertEquals("unpad hidden[1] to ids[1]", u.toString());
    assertEquals(u, Padding.unpad("hidden", 1, "ids", 1));
    assertEquals(u.hashCode(), Padding.unpad("hidden", 1, "ids", 1).hashCode());
    assertNotEquals(u, Padding.unpad("hidden", 2, "ids", 1));
    assertNotEquals(u, Padding.unpad("hidden", 1, "ids", 2));
    assertEquals("output must name a tensor but was null",
        failure(() -> Padding.unpad(null, 1, "ids", 1)));
    assertEquals("dim must be >= 1 (dim 0 is the batch dimension) but was 0 for tensor 'hidden'",
        failure(() -> Padding.unpad("hidden", 0, "ids", 1)));
    assertEquals("input must name a tensor but was empty",
        failure(() -> Padding.unpad("hidden", 1, "", 1)));
    assertEquals("inputDim must be >= 1 (dim 0 is the batch dimension) but was -1 for tensor "
        + "'ids'", failure(() -> Padding.unpad("hidden", 1, "ids", -1)));
  }

  @Test
  void build_rulesFittingTheSignature() {
    ModelSpec spec = spec(padding(Padding.of("ids", 1, 0)).padding(Padding.of("flags", 1, 1))
        .unpad(Padding.unpad("hidden", 1, "ids", 1)));
    assertEquals(2, spec.batching().orElseThrow().padding().size());
  }

  @Test
  void build_paddingUnknownInput() {
    assertEquals("batching.padding[0].input must name an input of the signature [ids, mask, "
        + "scale, flags, count, wide, brain] but was 'hidden'",
        failure(() -> spec(padding(Padding.of("hidden", 1, 0)))));
  }

  @Test
  void build_paddingDimOutOfRange() {
    assertEquals("batching.padding[0].dim must be < 2, the rank of input 'ids' (shape [-1, -1]), "
        + "but was 2", failure(() -> spec(padding(Padding.of("ids", 2, 0)))));
  }

  @Test
  void build_paddingFixedDim() {
    assertEquals("batching.padding[0].dim must be a dynamic (-1) dimension of input 'flags' "
        + "(shape [-1, -1, 4]) but dim 2 is 4",
        failure(() -> spec(padding(Padding.of("flags", 2, 0)))));
    assertEquals("batching.padding[1].dim must be < 3, the rank of input 'flags' (shape [-1, -1, "
        + "4]), but was 3", failure(() -> spec(padding(Padding.of("ids", 1, 0))
            .padding(Padding.of("flags", 3, 0)))));
  }

  @Test
  void build_unpadUnknownOutputOrFixedDim() {
    Batching.Builder ok = padding(Padding.of("ids", 1, 0));
    assertEquals("batching.unpad[0].output must name an output of the signature [hidden] but was "
        + "'ids'", failure(() -> spec(ok.unpad(Padding.unpad("ids", 1, "ids", 1)))));
    assertEquals("batching.unpad[0].dim must be a dynamic (-1) dimension of output 'hidden' "
        + "(shape [-1, -1, 768]) but dim 2 is 768", failure(() -> spec(padding(
            Padding.of("ids", 1, 0)).unpad(Padding.unpad("hidden", 2, "ids", 1)))));
    assertEquals("batching.unpad[0].dim must be < 3, the rank of output 'hidden' (shape [-1, -1, "
        + "768]), but was 3", failure(() -> spec(padding(Padding.of("ids", 1, 0))
            .unpad(Padding.unpad("hidden", 3, "ids", 1)))));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "ids| 0.5| an integer in [-2^63, 2^63)",
    "ids| 9.3e18| an integer in [-2^63, 2^63)",
    "count| 2147483648| an integer in [-2^31, 2^31)",
    "count| -1.5| an integer in [-2^31, 2^31)",
    "mask| 256| an integer in [0, 255]",
    "mask| -1| an integer in [0, 255]",
    "flags| 2| 0 or 1",
    "scale| 65505| a value in [-65504, 65504]",
    "brain| 3.4e38| a value in [-3.3895314E38, 3.3895314E38]",
    "wide| -3.5e38| a value in [-3.4028235E38, 3.4028235E38]",
  })
  void build_valueNotOfTheInputsDtype(String input, double value, String expected) {
    String dtype = TOKENS.input(input).orElseThrow().dtype().label();
    assertEquals("batching.padding[0].value must be " + expected + " for " + dtype + " input '"
        + input + "' but was " + value, failure(() -> spec(padding(Padding.of(input, 1, value)))));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "ids| -9.2e18", "count| -2147483648", "mask| 255", "flags| 1", "scale| -65504",
    "brain| 1e38", "wide| 0.1",
  })
  void build_valueOfTheInputsDtype(String input, double value) {
    assertEquals(value, spec(padding(Padding.of(input, 1, value))).batching().orElseThrow()
        .padding().get(0).value());
  }
}
