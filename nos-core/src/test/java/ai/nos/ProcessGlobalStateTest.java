package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.testing.ProcessState;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * README promises no process-global side effects beyond its "Versions and process-wide settings"
 * list. Checked in fresh JVMs: one loads libtorch alone (its own defaults), the other snapshots
 * the JVM's state, loads the digit model through {@link Nos#load}, calls it, runs a
 * {@link ModelManager} with batching, closes everything and snapshots again. Its main then
 * returns, and the JVM must end at once (no non-daemon thread, no slow shutdown hook).
 */
final class ProcessGlobalStateTest {
  /** Loads libtorch with nothing of NOS and prints its settings. */
  public static final class Baseline {
    public static void main(String[] args) {
      ProcessState.print("torch", ProcessState.torch());
      System.out.println(ProcessState.DONE);
    }
  }

  /** NOS's CPU work between two snapshots of the JVM's state. */
  public static final class Probe {
    public static void main(String[] args) throws Exception {
      Map<String, String> before = ProcessState.java();
      ModelSpec spec = ModelSpec.fromJson(Path.of(args[0])).toBuilder().device("cpu").build();
      Tensor image = Tensor.of(new float[4 * 64], 4, 1, 8, 8);
      try (Model model = Nos.load(spec)) {
        model.infer(image);
      }
      ModelSpec batched = spec.toBuilder().id("digits-batched").batching(Batching.builder()
          .maxBatchSize(8).maxQueueDelay(Duration.ofMillis(2)).build()).build();
      try (ModelManager manager = ModelManager.builder().devices(Device.cpu())
          .noFootprintCatalog().build(); Model model = manager.load(batched)) {
        List<CompletableFuture<?>> calls = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
          calls.add(model.inferAsync(Tensor.of(new float[64], 1, 1, 8, 8)));
        }
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).join();
        model.infer(image);
      }
      ProcessState.report(before);
    }
  }

  @Test
  void loadCallBatchAndClose_changeOnlyWhatReadmeLists_andLetTheJvmExit() throws Exception {
    String digits = Fixtures.modelsDir().resolve("digits/digits.json").toString();
    String out = ProcessState.run(Probe.class, 5, digits);
    assertEquals(List.of("property org.bytedeco.javacpp.maxPhysicalBytes: null -> 0"),
        ProcessState.lines(out, "java"), "the JVM's state NOS changed");
    assertEquals(List.of(), ProcessState.lines(out, "env"), "native environment NOS changed");
    assertEquals(List.of(), ProcessState.lines(out, "thread"), "non-daemon threads left");
    List<String> expected = new ArrayList<>();
    // README: loading libtorch turns NNPACK off, and TF32 too with CUDA natives only (the
    // twenty-fifth session's GPU run: allowTF32CuDNN true -> false, which this list lacked).
    Map<String, String> readme = new java.util.HashMap<>(
        Map.of("userEnabledNNPACK=true", "userEnabledNNPACK=false"));
    if (ai.nos.internal.torch.TorchRuntime.hasCudaNatives()) {
      readme.put("allowTF32CuDNN=true", "allowTF32CuDNN=false");
      readme.put("allowTF32CuBLAS=true", "allowTF32CuBLAS=false");
    }
    for (String line : ProcessState.lines(ProcessState.run(Baseline.class, 5), "torch")) {
      expected.add(readme.getOrDefault(line, line));
    }
    assertEquals(expected, ProcessState.lines(out, "torch"), "libtorch settings NOS changed");
  }
}
