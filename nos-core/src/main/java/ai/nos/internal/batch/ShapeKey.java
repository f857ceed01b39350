package ai.nos.internal.batch;

import java.util.Arrays;

/** The shapes and dtypes a request must share with others to join their batch. Immutable. */
final class ShapeKey {
  private final long[] key;
  private final int hash;

  ShapeKey(long[] key) {
    this.key = key;
    this.hash = Arrays.hashCode(key);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ShapeKey k && hash == k.hash && Arrays.equals(key, k.key);
  }

  @Override
  public int hashCode() {
    return hash;
  }
}
