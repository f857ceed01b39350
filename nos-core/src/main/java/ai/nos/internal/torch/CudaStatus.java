package ai.nos.internal.torch;

import org.bytedeco.cuda.global.cudart;

/**
 * The status check of a CUDA runtime call, one wording for every module that calls CUDA directly
 * (graph capture here, TensorRT's streams and events in nos-optim).
 */
public final class CudaStatus {
  private CudaStatus() {}

  /**
   * Returns when {@code rc} is {@code cudaSuccess}; else throws {@link IllegalStateException}
   * naming what was being done ({@code what}, a verb phrase: "launch the captured graph"), CUDA's
   * own text for the error and its number.
   */
  public static void check(int rc, String what) {
    if (rc != 0) {
      throw new IllegalStateException("CUDA cannot " + what + ": error " + rc + " ("
          + cudart.cudaGetErrorString(rc).getString() + ")");
    }
  }
}
