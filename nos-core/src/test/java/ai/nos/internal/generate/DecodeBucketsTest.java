package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

/** The batch buckets decode steps are recorded for: powers of two below the slots, then it. */
final class DecodeBucketsTest {
  @Test
  void bucketSizes_arePowersOfTwoBelowTheSlots_thenTheSlots() {
    assertArrayEquals(new int[] {1}, GenerationEngine.bucketSizes(1));
    assertArrayEquals(new int[] {1, 2}, GenerationEngine.bucketSizes(2));
    assertArrayEquals(new int[] {1, 2, 3}, GenerationEngine.bucketSizes(3));
    assertArrayEquals(new int[] {1, 2, 4, 5}, GenerationEngine.bucketSizes(5));
    assertArrayEquals(new int[] {1, 2, 4, 8}, GenerationEngine.bucketSizes(8));
    assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32, 64, 100}, GenerationEngine.bucketSizes(100));
  }
}
