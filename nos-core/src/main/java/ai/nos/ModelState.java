package ai.nos;

/** Where a managed model stands. */
public enum ModelState {
  /** A copy is being loaded. */
  LOADING,
  /** At least one copy is loaded and serving. */
  READY,
  /** No copy is loaded (evicted to make room); the next request loads it again. */
  EVICTED
}
