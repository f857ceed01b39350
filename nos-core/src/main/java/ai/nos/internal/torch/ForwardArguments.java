package ai.nos.internal.torch;

import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Argument;
import org.bytedeco.pytorch.FunctionSchema;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Method;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks, when a TorchScript file loads, that its {@code forward} can take the spec's inputs.
 * Calls pass the inputs by position, in the signature's order, so a signature that lists more
 * inputs than {@code forward} takes, or fewer than it needs, fails every call, and one that lists
 * {@code forward}'s own argument names in another order runs with its inputs swapped: wrong
 * numbers, or a dtype error deep inside the model. All three are refused at load, naming
 * {@code forward}'s arguments. Names that are not a reordering of {@code forward}'s are not
 * compared: a signature may name its inputs as it likes.
 */
final class ForwardArguments {
  private static final Logger LOG = LoggerFactory.getLogger(TorchModel.class);

  private ForwardArguments() {}

  /** @throws ModelLoadException if {@code forward} cannot take the spec's inputs */
  static void check(ModelSpec spec, Path file, JitModule module) {
    List<String> names = new ArrayList<>();
    int required = 0;
    try (PointerScope scope = new PointerScope()) {
      Method forward = module.get_method("forward");
      FunctionSchema schema = forward.function().getSchema();
      Argument arguments = schema.arguments();
      // Argument 0 is self.
      for (long i = 1; i < forward.num_inputs(); i++) {
        Argument argument = arguments.getPointer(i);
        names.add(argument.name().getString());
        if (!argument.default_value().has_value()) {
          required = names.size();
        }
      }
    } catch (RuntimeException e) {
      LOG.debug("model '{}': cannot read the arguments of forward in {}: {}", spec.id(), file,
          LibtorchMessages.firstLine(e.getMessage()));
      return;
    }
    List<String> declared = spec.signature().inputNames();
    String takes = "forward(" + String.join(", ", names) + ")";
    String prefix = "model '" + spec.id() + "': the signature declares " + declared.size()
        + (declared.size() == 1 ? " input " : " inputs ") + declared + " but " + takes + " of "
        + file;
    if (declared.size() > names.size()) {
      throw new ModelLoadException(prefix + " takes " + names.size());
    }
    if (declared.size() < required) {
      throw new ModelLoadException(prefix + " needs " + (required < names.size()
          ? "at least " : "") + required + " (calls pass the inputs by position)");
    }
    List<String> first = names.subList(0, declared.size());
    if (!declared.equals(first) && new HashSet<>(declared).equals(new HashSet<>(first))) {
      throw new ModelLoadException("model '" + spec.id() + "': the signature lists " + takes
          + "'s inputs in another order: " + declared + ". Calls pass the inputs by position, in"
          + " the signature's order: list them as " + file + " takes them");
    }
  }
}
