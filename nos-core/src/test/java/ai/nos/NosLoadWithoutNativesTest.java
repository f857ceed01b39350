package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Without libtorch's natives for the platform, every {@link Nos#load} fails with the
 * {@link NosException} that says which library is missing (README, GPU). It once failed with an
 * {@code ExceptionInInitializerError} from the default manager's holder class, then with
 * {@code NoClassDefFoundError} on every later call. Runs in a fresh JVM told that the platform is
 * linux-arm64, whose natives are not on the class path: this JVM has loaded libtorch already.
 */
final class NosLoadWithoutNativesTest {

  /** Calls Nos.load twice and prints what each call threw. */
  public static final class Probe {
    public static void main(String[] args) {
      ModelSpec spec = Fixtures.digitsOn("cpu");
      for (int i = 0; i < 2; i++) {
        try {
          Nos.load(spec).close();
          System.out.println("threw=nothing");
        } catch (Throwable t) {
          System.out.println("threw=" + t.getClass().getName() + ": " + t.getMessage());
        }
      }
    }
  }

  @Test
  void load_nativesMissing_everyCallIsTheNosExceptionNamingThem() throws Exception {
    List<String> threw = probe().lines().filter(l -> l.startsWith("threw=")).toList();
    assertEquals(2, threw.size(), String.join("\n", threw));
    for (String t : threw) {
      assertTrue(t.startsWith("threw=ai.nos.NosException: libtorch's native libraries could not"
          + " be loaded on linux-arm64"), t);
    }
  }

  private static String probe() throws IOException, InterruptedException {
    List<String> cmd = List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=off",
        "-Dorg.bytedeco.javacpp.platform=linux-arm64",
        "-Dnos.models.dir=" + Fixtures.modelsDir().toAbsolutePath(),
        "-cp", System.getProperty("java.class.path"), Probe.class.getName());
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "probe JVM did not end");
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
