package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.Device;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import ai.nos.testing.ProcessState;
import ai.nos.testing.TinyLlama;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * nos-core's ProcessGlobalStateTest for nos-hub's text tokenizer: a {@link TextGenerator} on the
 * committed tiny Llama, in a fresh JVM, changes no more than README's "Versions and process-wide
 * settings" lists (here also {@code RUST_FLAVOR=cpu}), and the JVM ends once main returns.
 */
final class HubProcessGlobalStateTest {
  /** A TextGenerator's load, one generation and close between two snapshots. */
  public static final class Probe {
    public static void main(String[] args) {
      Map<String, String> before = ProcessState.java();
      try (TextGenerator lm = TextGenerator.load(TokenGenerator.builder(TinyLlama.MODEL)
          .id("tiny-text").device(Device.cpu()).maxSequences(2), TinyLlama.TOKENIZER)) {
        lm.generate("Hello", GenerationConfig.builder().maxNewTokens(4).build());
      }
      ProcessState.report(before);
    }
  }

  @Test
  void textGenerator_changesOnlyWhatReadmeLists_andLetsTheJvmExit() throws Exception {
    String out = ProcessState.run(Probe.class, 5);
    List<String> expected = new ArrayList<>(List.of(
        "property org.bytedeco.javacpp.maxPhysicalBytes: null -> 0",
        // README: DJL's tokenizer natives come through JNA, which records where it loaded them,
        // and JNA's use of java.util.logging starts the JDK's LogManager, whose hook it is.
        "property jna.loaded: null -> ", "property jna.platform.library.path: null -> ",
        "property jnidispatch.path: null -> ",
        "shutdown hooks: [] -> [Logging-Cleaner:java.util.logging.LogManager$Cleaner]"));
    if (System.getenv("RUST_FLAVOR") == null) {
      expected.add("property RUST_FLAVOR: null -> cpu");
    }
    expected.sort(null);
    List<String> found = ProcessState.lines(out, "java").stream()
        .map(l -> l.startsWith("property j") ? l.substring(0, l.indexOf(" -> ") + 4) : l)
        .sorted().toList();
    assertEquals(expected, found, "the JVM's state NOS changed");
    assertEquals(List.of(), ProcessState.lines(out, "env"), "native environment NOS changed");
    assertEquals(List.of(), ProcessState.lines(out, "thread"), "non-daemon threads left");
    assertEquals(List.of("userEnabledNNPACK=false"), ProcessState.lines(out, "torch").stream()
        .filter(l -> l.startsWith("userEnabledNNPACK")).toList());
  }
}
