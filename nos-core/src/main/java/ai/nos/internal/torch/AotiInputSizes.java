package ai.nos.internal.torch;

import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.TensorSpec;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The input sizes an AOTInductor library was compiled for, read from the C++ source that
 * {@code torch._inductor} packages beside it ({@code <hash>.wrapper.cpp} next to
 * {@code <hash>.wrapper.so}), checked against the spec before the loader maps the library.
 *
 * <p>Why: the compiled code does not check its inputs (its checks run only with
 * {@code AOTI_RUNTIME_CHECK_INPUTS} set, and they also bound the batch to the export's guess, which
 * refused batches the code computes right). A spec declaring {@code [-1, 1, 4, 4]} for a library
 * compiled for {@code [-1, 1, 8, 8]} loaded, passed the signature check, and every call read past
 * its input: other numbers on every run, or a crash. The source holds each static size in the
 * check it generates: {@code "input_handles[0]: unmatched dim value at 2, " << "expected: 8, "}.
 * The batch (dimension 0) is not compared: a library compiled per batch size fixes it, and NOS
 * pads to it. A library packaged without its source is not checked here (nothing to read).
 */
final class AotiInputSizes {
  private AotiInputSizes() {}

  private static final Pattern STATIC_DIM = Pattern.compile(
      "\"input_handles\\[(\\d+)\\]: unmatched dim value at (\\d+), \"\\s*<<\\s*\"expected:"
          + " (\\d+), \"");

  /** A source larger than this is not read: a bound on the memory a load spends on it. */
  static final long MAX_SOURCE_BYTES = 64L << 20;

  /**
   * Refuses a spec whose inputs' sizes after the batch differ from those {@code library} was
   * compiled for, naming the input, the dimension, both sizes and the package.
   *
   * @throws ModelLoadException if a size differs, or an input has fewer dimensions than the
   *     library reads
   */
  static void check(ModelSpec spec, Path library, Path file) {
    String source = source(library);
    if (source == null) {
      return;
    }
    List<TensorSpec> inputs = spec.signature().inputs();
    Matcher m = STATIC_DIM.matcher(source);
    while (m.find()) {
      int index = Integer.parseInt(m.group(1));
      int dim = Integer.parseInt(m.group(2));
      long expected = Long.parseLong(m.group(3));
      if (dim == 0 || index >= inputs.size()) {
        continue;
      }
      TensorSpec in = inputs.get(index);
      long[] shape = in.shape();
      long given = dim < shape.length ? shape[dim] : -1;
      if (dim >= shape.length || (given >= 0 && given != expected)) {
        throw new ModelLoadException("model '" + spec.id() + "': input '" + in.name()
            + "' has shape " + Arrays.toString(shape) + " but the AOTInductor library "
            + library.getFileName() + " of " + file + " was compiled for size " + expected
            + " at dimension " + dim + (dim < shape.length ? ", not " + given
                : ", which the spec's input lacks")
            + "; give the sizes the package was exported with (its code does not check its"
            + " inputs and would read past them)");
      }
    }
  }

  /** The library's packaged source, or null where there is none or it is too large. */
  private static String source(Path library) {
    String name = library.getFileName().toString();
    if (!name.endsWith(".so")) {
      return null;
    }
    Path cpp = library.resolveSibling(name.substring(0, name.length() - 3) + ".cpp");
    try {
      if (!Files.isRegularFile(cpp) || Files.size(cpp) > MAX_SOURCE_BYTES) {
        return null;
      }
      // A plain stream: a thread's interrupt flag does not close it (see AotiPackage).
      try (InputStream in = new FileInputStream(cpp.toFile())) {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
    } catch (IOException e) {
      return null;
    }
  }
}
