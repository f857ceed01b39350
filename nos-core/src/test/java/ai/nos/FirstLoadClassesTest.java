package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.testing.ProcessState;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What a fresh JVM's first result pays for beyond libtorch (issue 20 item 5): a JDK facility
 * whose first use costs milliseconds must not be on the path of a first CPU load and call of
 * the digit model. Checked in a fresh JVM that lists the classes it loads: which JDK classes
 * another test of this JVM loaded first must not hide one.
 *
 * <ul>
 *   <li>{@code java.lang.runtime.ObjectMethods}: a record's own equals, hashCode and toString are
 *       bootstrapped through it at their first call, about 13 ms of method handles on the 2-core
 *       VM (twenty-first session); a record used as a map key on the path writes them out
 *       (Backend.DeviceInfo, TorchBackend's FileVersion).
 *   <li>{@code java.lang.management}: asking the machine's memory, ~30 ms; a small call never
 *       asks (Inputs, twentieth session).
 * </ul>
 */
final class FirstLoadClassesTest {
  private static final String DONE = "first-result-done";

  /** Loads the digit model on the CPU, makes one call of 32 images, prints {@link #DONE}. */
  public static final class Probe {
    public static void main(String[] args) {
      ModelSpec spec = ModelSpec.fromJson(Path.of(args[0])).toBuilder().device("cpu").build();
      try (Model model = Nos.load(spec)) {
        float[] logits = model.infer(Tensor.of(new float[32 * 64], 32, 1, 8, 8)).get("logits")
            .toFloatArray();
        System.out.println(DONE + " " + logits.length);
      }
    }
  }

  @Test
  void firstCpuLoadAndCall_bootstrapNoRecordMethods_andAskNoMachineMemory() throws Exception {
    List<String> before = classesBeforeTheFirstResult();
    assertTrue(before.contains("ai.nos.internal.torch.TorchModel"),
        "the probe's class list does not show the load");
    for (String prefix : List.of("java.lang.runtime.ObjectMethods", "java.lang.management.")) {
      List<String> found = before.stream().filter(c -> c.startsWith(prefix)).toList();
      assertEquals(List.of(), found, "the first load and call used " + prefix);
    }
  }

  /** The classes the probe JVM loaded before its first result, in order. */
  private static List<String> classesBeforeTheFirstResult()
      throws IOException, InterruptedException {
    List<String> cmd = ProcessState.javaCommand(List.of("-Xmx256m",
        "-Xlog:class+load=info:stdout:tags", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"),
        Probe.class, Fixtures.modelsDir().resolve("digits/digits.json").toString());
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "probe JVM did not end");
    assertEquals(0, p.exitValue(), "probe JVM failed; its output ends: "
        + out.substring(Math.max(0, out.length() - 2000)));
    assertTrue(out.contains(DONE + " 320"), "the probe made no result");
    List<String> classes = new ArrayList<>();
    for (String line : out.substring(0, out.indexOf(DONE)).split("\n")) {
      // "[class,load] java.lang.Object source: shared objects file"
      int at = line.indexOf("[class,load] ");
      if (at >= 0) {
        String rest = line.substring(at + "[class,load] ".length());
        int end = rest.indexOf(' ');
        classes.add(end < 0 ? rest : rest.substring(0, end));
      }
    }
    return classes;
  }
}
