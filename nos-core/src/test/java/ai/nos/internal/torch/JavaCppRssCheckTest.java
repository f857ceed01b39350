package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * NOS turns JavaCPP's per-allocation RSS check off when it sets libtorch up, unless the
 * application chose a limit. Each case runs in a fresh JVM: JavaCPP reads the setting once, when
 * its {@code Pointer} class initializes, so this JVM's order of tests cannot decide it.
 */
final class JavaCppRssCheckTest {

  /** Loads libtorch through NOS and prints JavaCPP's limit. */
  public static final class Probe {
    public static void main(String[] args) {
      TorchRuntime.ensureLoaded();
      System.out.println("maxPhysicalBytes=" + org.bytedeco.javacpp.Pointer.maxPhysicalBytes());
    }
  }

  @Test
  void unset_nosTurnsTheCheckOff() throws Exception {
    assertEquals("maxPhysicalBytes=0", probe());
  }

  @Test
  void theApplicationsOwnLimit_isKept() throws Exception {
    assertEquals("maxPhysicalBytes=" + (3L << 30),
        probe("-D" + TorchRuntime.MAX_PHYSICAL_BYTES + "=3g"));
  }

  private static String probe(String... jvmArgs) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    cmd.addAll(List.of(jvmArgs));
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(Probe.class.getName());
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "probe JVM did not end");
    assertEquals(0, p.exitValue(), out);
    return out.lines().filter(l -> l.startsWith("maxPhysicalBytes=")).findFirst().orElse(out);
  }
}
