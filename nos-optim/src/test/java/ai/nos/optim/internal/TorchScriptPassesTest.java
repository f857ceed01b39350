package ai.nos.optim.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.testing.TorchScriptArchives;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TorchScriptPasses} on a file libtorch cannot load: the message quotes libtorch's reason
 * as nos-core's loads do (nos-core's LibtorchMessages), not the message's literal first line,
 * which is blank when libtorch quotes the file's TorchScript code.
 */
final class TorchScriptPassesTest {

  @Test
  void run_fileOfANewerTorch_namesTheOperator_notABlankLine(@TempDir Path dir) throws Exception {
    Path digits = Path.of(System.getProperty("nos.models.dir", "../models"), "digits",
        "digits.pt");
    Path newer = TorchScriptArchives.withRenamedCall(digits, dir.resolve("newer.pt"),
        "torch.relu(", "torch.relu_v99(");
    Path target = dir.resolve("frozen.pt");
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> TorchScriptPasses.run(newer, Device.cpu(), ai.nos.Precision.FP32, true,
            target));
    String version = TorchRuntime.libtorchVersion();
    assertEquals("cannot load " + newer + " for optimization: Unknown builtin op:"
        + " aten::relu_v99. (NOS runs libtorch " + version + ": a file saved by a newer torch"
        + " may use operators or a format it does not have; export it with torch "
        + version.replaceFirst("^(\\d+\\.\\d+).*", "$1") + " or older)", e.getMessage());
    assertFalse(Files.exists(target), "nothing written");
  }
}
