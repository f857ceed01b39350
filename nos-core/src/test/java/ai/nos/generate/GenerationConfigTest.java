package ai.nos.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link GenerationConfig.Builder#temperature}: 0 (greedy) or a sampling temperature in range. */
final class GenerationConfigTest {

  /**
   * A temperature so small that the logits divided by it are infinite drew the first token
   * with a positive logit instead of sampling (found by the generation stress review): refused,
   * with greedy (0) named as what such a caller wants.
   */
  @ParameterizedTest
  @ValueSource(floats = {Float.MIN_VALUE, 1e-30f, 9.9e-7f, -1f, Float.NaN,
      Float.POSITIVE_INFINITY})
  void temperature_outOfRange_isRefusedNamingTheRange(float t) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().temperature(t));
    assertTrue(e.getMessage().contains("0 (greedy)") && e.getMessage().contains("1.0E-6")
        && e.getMessage().contains(String.valueOf(t)), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(floats = {0f, 1e-6f, 0.7f, 2f})
  void temperature_inRange_isKept(float t) {
    assertEquals(t, GenerationConfig.builder().temperature(t).build().temperature());
  }
}
