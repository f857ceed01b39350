package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The first line of a libtorch message that NOS's exceptions quote: the first one that says
 * something, as libtorch starts a message that quotes TorchScript code with a blank line.
 */
final class LibtorchMessagesTest {

  @ParameterizedTest(name = "{index}: {1}")
  @CsvSource(delimiter = '|', value = {
      "'\\nUnknown builtin op: aten::foo.\\nHere are some suggestions:' | Unknown builtin op:"
          + " aten::foo.",
      "'  \\n\\t\\n  CUDA error: out of memory  \\nmore' | CUDA error: out of memory",
      "'one line' | one line",
      "'first\\r\\nsecond' | first",
      "'' | (no message)",
      "' \\n \\n' | (no message)"})
  void firstLine_isTheFirstNonBlankLine_stripped(String escaped, String expected) {
    String message = escaped.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t");
    assertEquals(expected, LibtorchMessages.firstLine(message));
  }

  @Test
  void firstLine_null_saysThereIsNone() {
    assertEquals("(no message)", LibtorchMessages.firstLine(null));
  }

  @Test
  void loadFailure_newerTorchsOperator_saysSo_otherFailures_theFirstLineAlone() {
    String newer = LibtorchMessages.loadFailure("\nUnknown builtin op: aten::relu_v99.\nHere");
    assertTrue(newer.startsWith("Unknown builtin op: aten::relu_v99. (NOS runs libtorch "),
        newer);
    assertTrue(newer.contains("a file saved by a newer torch"), newer);
    assertEquals("PytorchStreamReader failed reading zip archive: failed finding central"
        + " directory", LibtorchMessages.loadFailure("PytorchStreamReader failed reading zip"
        + " archive: failed finding central directory\nException raised from ..."));
  }
}
