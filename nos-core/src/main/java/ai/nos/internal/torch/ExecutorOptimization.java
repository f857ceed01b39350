package ai.nos.internal.torch;

import java.util.function.Supplier;
import org.bytedeco.pytorch.global.torch;

/**
 * Runs TorchScript work with the executor optimization on, libtorch's default, whatever the
 * calling thread's setting, and gives the thread its setting back.
 *
 * <p>The setting ({@code torch::jit::setGraphExecutorOptimize}) is thread-local, and a caller's
 * thread may have it off: an application's choice, or a thread of an engine that turns it off
 * (NOS's generation engine does, on its own threads, for its own modules, which never come
 * here). With it off, libtorch builds a method's graph without inlining the methods it calls,
 * and its profiling executor runs a plan without its optimization passes. {@code freeze} run so
 * keeps calls to methods it then removes from the module: the frozen module's first run fails
 * with "Couldn't find method: '_conv_forward'" from {@code getOptimizedPlanFor}, and the load
 * drops the step. So a model's load-time passes hold the setting on, and so does every run of
 * its module, so that the graphs and plans libtorch caches on a module are the ones its default
 * makes, whichever thread ran it first. The flag is written only when it differs: a call on a
 * thread with the default pays one read.
 */
final class ExecutorOptimization {
  private ExecutorOptimization() {}

  /** {@code work}'s result, computed with the executor optimization on. */
  static <T> T on(Supplier<T> work) {
    if (torch.getGraphExecutorOptimize()) {
      return work.get();
    }
    torch.setGraphExecutorOptimize(true);
    try {
      return work.get();
    } finally {
      torch.setGraphExecutorOptimize(false);
    }
  }
}
