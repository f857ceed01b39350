package ai.nos.benchmarks.gpu;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.internal.torch.TorchModel;
import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import java.util.Map;

/**
 * Device bytes left after load/call/close cycles of ResNet-50, directly on TorchModel and through
 * the manager: finds which layer keeps memory after close. Args: MODELS_DIR.
 */
public final class LeakProbe {
  private LeakProbe() {}

  public static void main(String[] args) {
    Path dir = Path.of(args[0]);
    ModelSpec spec = GpuModels.resnet50(dir, "probe", Precision.FP32, 4).toBuilder()
        .device("cuda:0").build();
    Map<String, Tensor> in = GpuModels.inputs(spec, 4, 1);
    for (String mode : new String[] {"torchmodel-load-only", "torchmodel", "manager"}) {
      StringBuilder sb = new StringBuilder("LeakProbe " + mode + ": after close");
      for (int cycle = 0; cycle < 3; cycle++) {
        if (mode.equals("manager")) {
          try (Model m = Nos.load(spec)) {
            for (int i = 0; i < 3; i++) {
              m.infer(in);
            }
          }
        } else {
          TorchModel m = TorchModel.load(spec);
          if (mode.equals("torchmodel")) {
            for (int i = 0; i < 3; i++) {
              m.infer(in);
            }
          }
          m.close();
        }
        TorchRuntime.cudaEmptyCache();
        sb.append(' ').append(TorchRuntime.cudaAllocatedBytes(0) >> 20).append(" MiB");
      }
      System.out.println(sb);
    }
  }
}
