package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

final class PrecisionTest {

  @ParameterizedTest
  @CsvSource({
    "fp32, FP32", "float32, FP32", "FP32, FP32", "' Float32 ', FP32",
    "fp16, FP16", "float16, FP16", "half, FP16", "HALF, FP16",
    "bf16, BF16", "bfloat16, BF16", "BF16, BF16",
  })
  void of_accepted(String name, Precision expected) {
    assertEquals(expected, Precision.of(name));
  }

  @ParameterizedTest
  @ValueSource(strings = {"fp8", "", "float", "int8", "fp 16"})
  void of_rejected(String name) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Precision.of(name));
    assertEquals("precision must be one of fp32, float32, fp16, float16, half, bf16, bfloat16 "
        + "but was '" + name + "'", e.getMessage());
  }

  @Test
  void of_null() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Precision.of(null));
    assertEquals("precision must be one of fp32, float32, fp16, float16, half, bf16, bfloat16 "
        + "but was null", e.getMessage());
  }

  @Test
  void dtype_matchesPrecision() {
    assertEquals(DType.FLOAT32, Precision.FP32.dtype());
    assertEquals(DType.FLOAT16, Precision.FP16.dtype());
    assertEquals(DType.BFLOAT16, Precision.BF16.dtype());
  }

  @Test
  void label_parsesBack() {
    for (Precision p : Precision.values()) {
      assertEquals(p, Precision.of(p.label()));
      assertEquals(p.label(), p.toString());
    }
  }
}
