package ai.nos.internal.torch;

/**
 * The line of a libtorch message that a NOS exception quotes. libtorch's messages run to many
 * lines (C++ frames, quoted TorchScript code), so an exception says the first line that says
 * something: a message that quotes a file's code starts with an empty line
 * ({@code "\nUnknown builtin op: aten::foo.\n..."}), and quoting its very first line once left
 * the reason blank.
 *
 * <p>A file that names an operator, a type or a file format this libtorch lacks most often comes
 * from a newer torch (the README tells exporters so); libtorch's own advice there, "please
 * upgrade PyTorch", does not help a Java user, so a load failure of that kind says which libtorch
 * NOS runs and what to do.
 *
 * <p>The one reading of a libtorch message's first line in NOS: nos-core's loads and calls
 * (through {@code TorchModel.modelMessage} where a TorchScript traceback may hold the error line),
 * a lost CUDA context's reason ({@code CudaWork}), and nos-optim's TorchScript passes, to which
 * module-info exports this package.
 */
public final class LibtorchMessages {
  private LibtorchMessages() {}

  /** What libtorch says when a file needs something a newer torch has. */
  private static final String[] NEWER_TORCH = {"Unknown builtin op", "Unknown type name",
      "Attempted to read a PyTorch file with version"};

  /** The first non-blank line of {@code message}, stripped; "(no message)" if there is none. */
  public static String firstLine(String message) {
    String m = message == null ? "" : message.strip();
    if (m.isEmpty()) {
      return "(no message)";
    }
    int nl = m.indexOf('\n');
    return (nl < 0 ? m : m.substring(0, nl)).strip();
  }

  /**
   * Why libtorch could not load a TorchScript file: {@link #firstLine}, and for an operator, type
   * or format it lacks, that a newer torch may have saved the file.
   */
  public static String loadFailure(String message) {
    String first = firstLine(message);
    if (message != null) {
      for (String sign : NEWER_TORCH) {
        if (message.contains(sign)) {
          String version = TorchRuntime.libtorchVersion();
          String minor = version.replaceFirst("^(\\d+\\.\\d+).*", "$1");
          return first + " (NOS runs libtorch " + version + ": a file saved by a newer torch may"
              + " use operators or a format it does not have; export it with torch " + minor
              + " or older)";
        }
      }
    }
    return first;
  }
}
