package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.global.torch;

/**
 * A probe that turns TorchScript's executor optimization off for itself (the engine's setting)
 * must give the caller's thread its setting back: the flag is thread-local, and a test thread
 * that kept it off broke ForwardProbeTest after it (a frozen module's forward then met an
 * uninlined call on the CPU).
 */
final class ExecutorFlag {
  private ExecutorFlag() {}

  /** Runs {@code probe} with the flag on (libtorch's default) and asserts it is on after. */
  static void assertGivenBack(Runnable probe) {
    ai.nos.internal.torch.TorchRuntime.ensureLoaded();
    boolean before = torch.getGraphExecutorOptimize();
    torch.setGraphExecutorOptimize(true);
    try {
      probe.run();
      assertTrue(torch.getGraphExecutorOptimize());
    } finally {
      torch.setGraphExecutorOptimize(before);
    }
  }
}
