package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.Nos;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * libtorch writes its own warnings to the process's stderr, past SLF4J: on a CPU where NNPACK
 * cannot start, two "Could not initialize NNPACK!" lines per call of the digit CNN. The calls run
 * in a fresh JVM, whose stderr is the test's to read; its output is shown when the test fails.
 * Where NNPACK starts (not on this project's AMD EPYC VMs), libtorch printed nothing to begin
 * with and this test cannot tell the difference.
 */
final class LibtorchStderrTest {

  /** The demo's calls: digit rows one at a time, then batches big enough for NNPACK. */
  public static final class DigitCalls {
    public static void main(String[] args) {
      try (Model model = Nos.load(Fixtures.digitsOn("cpu"))) {
        for (int i = 0; i < 20; i++) {
          model.infer(Tensor.of(new float[64], 1, 1, 8, 8));
        }
        for (int batch : new int[] {16, 64}) {
          model.infer(Tensor.of(new float[batch * 64], batch, 1, 8, 8));
        }
      }
      System.out.println("calls done");
    }
  }

  @Test
  void digitCallsOnTheCpu_writeNoNnpackWarningToStderr() throws Exception {
    String[] out = run(DigitCalls.class);
    assertTrue(out[0].contains("calls done"), "stdout: " + out[0] + "\nstderr: " + out[1]);
    assertFalse(out[1].contains("Could not initialize NNPACK"), "stderr: " + out[1]);
  }

  /** Runs {@code main} in a fresh JVM on this classpath; returns its stdout and stderr. */
  static String[] run(Class<?> main) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    cmd.add("-Dnos.models.dir=" + Fixtures.modelsDir().toAbsolutePath());
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(main.getName());
    Process p = new ProcessBuilder(cmd).start();
    CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> {
      try {
        return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "stderr unreadable: " + e;
      }
    });
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the JVM did not end");
    String stderr = err.join();
    assertEquals(0, p.exitValue(), "stdout: " + out + "\nstderr: " + stderr);
    return new String[] {out, stderr};
  }
}
