package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

final class BatchingTest {

  @Test
  void build_valid() {
    Batching b = Batching.builder().maxBatchSize(64).build();
    assertEquals(64, b.maxBatchSize());
    assertEquals(b, Batching.ofMaxBatchSize(64));
    assertEquals(b.hashCode(), Batching.ofMaxBatchSize(64).hashCode());
    assertNotEquals(b, Batching.ofMaxBatchSize(1));
    assertEquals("Batching{maxBatchSize=64}", b.toString());
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -1, Integer.MIN_VALUE})
  void maxBatchSize_belowOne(int size) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Batching.ofMaxBatchSize(size));
    assertEquals("batching.maxBatchSize must be >= 1 but was " + size, e.getMessage());
  }

  @Test
  void build_maxBatchSizeRequired() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Batching.builder().build());
    assertEquals("batching.maxBatchSize is required", e.getMessage());
  }

  @Test
  void maxBatchSize_setTwiceKeepsLast() {
    assertEquals(8, Batching.builder().maxBatchSize(4).maxBatchSize(8).build().maxBatchSize());
  }

  @Test
  void toBuilder_roundTrip() {
    Batching b = Batching.ofMaxBatchSize(Integer.MAX_VALUE);
    assertEquals(b, b.toBuilder().build());
  }
}
