package ai.nos.internal.manager;

/**
 * A copy of a model parked in host memory after its eviction from a device ({@link
 * Replica#park()}): its loaded, optimized module, its device memory given back. A
 * {@link Backend#unpark} brings it back onto a device by copying its weights there, without
 * reading the artifact or running the load-time passes again. The {@link HostTier} owns it until
 * then; closing it frees its host memory.
 */
public interface Parked extends AutoCloseable {

  /** Host bytes the parked copy holds (its weights), booked against the host tier's budget. */
  long hostBytes();

  /**
   * Null if the copy may come back: its artifact is still the file it was loaded from (the
   * backend's trust checks); else why not, for the log. Called without the manager's lock, so it
   * may read the file system.
   */
  default String staleReason() {
    return null;
  }

  /** Frees the host memory. Called once, unless the copy went back to a device. */
  @Override
  void close();
}
