package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

final class BatchingTest {

  /** Every setting away from its default. */
  static Batching full() {
    return Batching.builder().maxBatchSize(32).maxQueueDelay(Duration.ofMillis(2))
        .preferredBatchSizes(8, 16, 32).maxQueueSize(64).padding(Padding.of("ids", 1, 0))
        .padding(Padding.of("mask", 1, 0)).unpad(Padding.unpad("hidden", 1, "ids", 1)).build();
  }

  private static String failure(Runnable r) {
    return assertThrows(IllegalArgumentException.class, r::run).getMessage();
  }

  /** A null argument: a NullPointerException naming it (docs/api-conventions.md). */
  private static String nullFailure(Runnable r) {
    return assertThrows(NullPointerException.class, r::run).getMessage();
  }

  @Test
  void build_valid() {
    Batching b = Batching.builder().maxBatchSize(64).build();
    assertEquals(64, b.maxBatchSize());
    assertEquals(b, Batching.ofMaxBatchSize(64));
    assertEquals(b.hashCode(), Batching.ofMaxBatchSize(64).hashCode());
    assertNotEquals(b, Batching.ofMaxBatchSize(1));
    assertEquals("Batching{maxBatchSize=64}", b.toString());
  }

  @Test
  void build_defaults() {
    Batching b = Batching.ofMaxBatchSize(8);
    assertEquals(Duration.ZERO, b.maxQueueDelay());
    assertEquals(List.of(), b.preferredBatchSizes());
    assertEquals(1024, b.maxQueueSize());
    assertEquals(List.of(), b.padding());
    assertEquals(List.of(), b.unpad());
  }

  @Test
  void build_allSettings() {
    Batching b = full();
    assertEquals(Duration.ofMillis(2), b.maxQueueDelay());
    assertEquals(List.of(8, 16, 32), b.preferredBatchSizes());
    assertEquals(64, b.maxQueueSize());
    assertEquals(List.of(Padding.of("ids", 1, 0), Padding.of("mask", 1, 0)), b.padding());
    assertEquals(List.of(Padding.unpad("hidden", 1, "ids", 1)), b.unpad());
    assertEquals("Batching{maxBatchSize=32, maxQueueDelay=PT0.002S, preferredBatchSizes=[8, 16, "
        + "32], maxQueueSize=64, padding=[pad ids[1] with 0.0, pad mask[1] with 0.0], "
        + "unpad=[unpad hidden[1] to ids[1]]}", b.toString());
    assertThrows(UnsupportedOperationException.class, () -> b.preferredBatchSizes().add(1));
    assertThrows(UnsupportedOperationException.class, () -> b.padding().clear());
  }

  @Test
  void equals_eachSettingCounts() {
    Batching b = full();
    assertEquals(b, full());
    assertEquals(b.hashCode(), full().hashCode());
    assertNotEquals(b, b.toBuilder().maxBatchSize(33).build());
    assertNotEquals(b, b.toBuilder().maxQueueDelay(Duration.ofMillis(3)).build());
    assertNotEquals(b, b.toBuilder().preferredBatchSizes(16).build());
    assertNotEquals(b, b.toBuilder().maxQueueSize(65).build());
    assertNotEquals(b, b.toBuilder().padding(Padding.of("x", 2, 0)).build());
    assertNotEquals(b, b.toBuilder().unpad(Padding.unpad("pooled", 1, "ids", 1)).build());
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
    assertEquals(full(), full().toBuilder().build());
  }

  @Test
  void maxQueueDelay_invalid() {
    Batching.Builder b = Batching.builder();
    assertEquals("batching.maxQueueDelay must not be null",
        nullFailure(() -> b.maxQueueDelay(null)));
    assertEquals("batching.maxQueueDelay must be >= 0 but was PT-0.001S",
        failure(() -> b.maxQueueDelay(Duration.ofMillis(-1))));
    assertEquals("batching.maxQueueDelay must be a whole number of microseconds but was "
        + "PT0.0000015S", failure(() -> b.maxQueueDelay(Duration.ofNanos(1500))));
    assertEquals("batching.maxQueueDelay must be at most PT2562047H47M16.854775S but was "
        + "PT2562047H47M16.854776S",
        failure(() -> b.maxQueueDelay(Duration.ofNanos(Long.MAX_VALUE).plusNanos(193))));
  }

  @Test
  void maxQueueDelay_largestAccepted() {
    Duration largest = Duration.ofNanos(Long.MAX_VALUE - 807);
    assertEquals(largest, Batching.builder().maxBatchSize(1).maxQueueDelay(largest).build()
        .maxQueueDelay());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "0| batching.preferredBatchSizes[0] must be >= 1 but was 0",
    "4, -2| batching.preferredBatchSizes[1] must be >= 1 but was -2",
    "8, 4| batching.preferredBatchSizes must be strictly increasing but was [8, 4]",
    "4, 4| batching.preferredBatchSizes must be strictly increasing but was [4, 4]",
  })
  void preferredBatchSizes_invalid(String sizes, String expected) {
    int[] values = java.util.Arrays.stream(sizes.split(",")).map(String::strip)
        .mapToInt(Integer::parseInt).toArray();
    assertEquals(expected, failure(() -> Batching.builder().preferredBatchSizes(values)));
  }

  @Test
  void preferredBatchSizes_aboveMaxBatchSize() {
    assertEquals("batching.preferredBatchSizes[1] must be <= batching.maxBatchSize (8) but was 16",
        failure(() -> Batching.builder().preferredBatchSizes(4, 16).maxBatchSize(8).build()));
    assertEquals("batching.preferredBatchSizes must not be null",
        nullFailure(() -> Batching.builder().preferredBatchSizes((int[]) null)));
  }

  @Test
  void preferredBatchSizes_setTwiceReplaces() {
    assertEquals(List.of(2), Batching.builder().maxBatchSize(8).preferredBatchSizes(4, 8)
        .preferredBatchSizes(2).build().preferredBatchSizes());
    assertEquals(List.of(), Batching.builder().maxBatchSize(8).preferredBatchSizes(4)
        .preferredBatchSizes().build().preferredBatchSizes());
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -1})
  void maxQueueSize_belowOne(int size) {
    assertEquals("batching.maxQueueSize must be >= 1 but was " + size,
        failure(() -> Batching.builder().maxQueueSize(size)));
  }

  @Test
  void padding_invalidCombinations() {
    Batching.Builder b = Batching.builder().maxBatchSize(4);
    assertEquals("batching.padding[0] must not be null", nullFailure(() -> b.padding(null)));
    assertEquals("batching.unpad[0] must not be null", nullFailure(() -> b.unpad(null)));
    assertEquals("batching.padding[1] pads input 'ids' dim 1 again, like batching.padding[0]",
        failure(() -> Batching.builder().maxBatchSize(4).padding(Padding.of("ids", 1, 0))
            .padding(Padding.of("ids", 1, 5)).build()));
    assertEquals("batching.unpad[1] cuts output 'h' dim 1 again, like batching.unpad[0]",
        failure(() -> Batching.builder().maxBatchSize(4).padding(Padding.of("ids", 1, 0))
            .padding(Padding.of("ids", 2, 0)).unpad(Padding.unpad("h", 1, "ids", 1))
            .unpad(Padding.unpad("h", 1, "ids", 2)).build()));
    assertEquals("batching.unpad[0] follows input 'ids' dim 2, which no batching.padding rule "
        + "pads", failure(() -> Batching.builder().maxBatchSize(4)
            .padding(Padding.of("ids", 1, 0)).unpad(Padding.unpad("h", 1, "ids", 2)).build()));
  }
}
