package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** The work runs with the executor optimization on; the thread keeps its own setting. */
final class ExecutorOptimizationTest {
  @Test
  void on_threadWithTheSettingOff_runsWithItOn_andGivesItBack() {
    boolean before = torch.getGraphExecutorOptimize();
    torch.setGraphExecutorOptimize(false);
    try {
      assertEquals(Boolean.TRUE, ExecutorOptimization.on(torch::getGraphExecutorOptimize));
      assertFalse(torch.getGraphExecutorOptimize());
      assertThrows(IllegalStateException.class, () -> ExecutorOptimization.on(() -> {
        throw new IllegalStateException("the work failed");
      }));
      assertFalse(torch.getGraphExecutorOptimize(), "given back when the work throws");
    } finally {
      torch.setGraphExecutorOptimize(before);
    }
  }

  @Test
  void on_threadWithTheDefault_keepsIt() {
    boolean before = torch.getGraphExecutorOptimize();
    torch.setGraphExecutorOptimize(true);
    try {
      assertEquals(Boolean.TRUE, ExecutorOptimization.on(torch::getGraphExecutorOptimize));
      assertTrue(torch.getGraphExecutorOptimize());
    } finally {
      torch.setGraphExecutorOptimize(before);
    }
  }
}
