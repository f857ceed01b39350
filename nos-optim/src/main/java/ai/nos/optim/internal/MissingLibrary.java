package ai.nos.optim.internal;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a failure to load or use TensorRT into one sentence that names the missing native
 * library and says how to install it. Pure Java, so the wording is tested on machines without
 * TensorRT.
 */
public final class MissingLibrary {
  /** How the dynamic loader names a library it cannot find. */
  private static final Pattern NOT_FOUND =
      Pattern.compile("(lib[\\w.+-]+?\\.so(?:\\.\\d+)*): cannot open shared object file");
  /** How TensorRT names a builder resource library in its error messages. */
  private static final Pattern BUILDER_RESOURCE =
      Pattern.compile("libnvinfer_builder_resource[\\w]*(?:\\.so(?:\\.\\d+)*)?");

  static final String INSTALL_TENSORRT = "install TensorRT 10.6 from NVIDIA"
      + " (https://developer.nvidia.com/tensorrt, the tar or deb packages) and put its lib"
      + " folder on LD_LIBRARY_PATH";

  private MissingLibrary() {}

  /**
   * Explains why TensorRT's native libraries did not load.
   *
   * @param failure what {@code Loader.load} threw, with its causes
   * @return a sentence naming the library the dynamic loader could not find, and what to install
   */
  public static String explainLoadFailure(Throwable failure) {
    return explainLoadFailure(failure, MissingLibrary::firstUnloadable);
  }

  /**
   * As {@link #explainLoadFailure(Throwable)}, asking {@code search} for the missing library
   * when the failure does not name one (JavaCPP reports a second failure to load a library
   * without the loader's message).
   */
  public static String explainLoadFailure(Throwable failure,
      java.util.function.Supplier<String> search) {
    String library = null;
    String first = null;
    for (Throwable t = failure; t != null && library == null; t = t.getCause()) {
      String message = t.getMessage();
      if (message == null) {
        continue;
      }
      if (first == null) {
        first = t.getClass().getSimpleName() + ": " + message;
      }
      Matcher m = NOT_FOUND.matcher(message);
      if (m.find()) {
        library = m.group(1);
      }
    }
    if (library == null) {
      library = search.get();
    }
    if (library == null) {
      return "TensorRT's native libraries did not load (" + (first == null
          ? failure.getClass().getName() : first) + "); " + INSTALL_TENSORRT
          + ", or add org.bytedeco:tensorrt:10.6-1.5.11:linux-x86_64-redist";
    }
    return "TensorRT cannot load here: " + library + " is missing; " + installHint(library);
  }

  /** The libraries TensorRT's JNI glue needs, in the order the loader needs them. */
  private static final String[] NEEDED = {
      "libcuda.so.1", "libcudart.so.13", "libnvinfer.so.10", "libnvonnxparser.so.10"};

  /** The first of {@link #NEEDED} the dynamic loader cannot open, or null. */
  private static String firstUnloadable() {
    for (String library : NEEDED) {
      try {
        org.bytedeco.javacpp.Loader.loadGlobal(library);
      } catch (UnsatisfiedLinkError | RuntimeException e) {
        return library;
      }
    }
    return null;
  }

  /** What to install to get {@code library}. */
  static String installHint(String library) {
    if (library.startsWith("libcuda.so")) {
      return "it is the NVIDIA driver's library, so this machine has no usable NVIDIA GPU driver"
          + " (TensorRT runs on NVIDIA GPUs only)";
    }
    if (library.startsWith("libnvinfer") || library.startsWith("libnvonnxparser")) {
      // 10.6, not 10.15: 10.15's redist lacks the sm_90 builder resource (#22).
      return INSTALL_TENSORRT + ", or add org.bytedeco:tensorrt:10.6-1.5.11:linux-x86_64-redist";
    }
    return "it is a CUDA 13 library: put CUDA 13's lib64 folder on LD_LIBRARY_PATH or add"
        + " org.bytedeco:cuda-platform-redist:13.1-9.19-1.5.13";
  }

  /**
   * Says that TensorRT cannot build for {@code arch} because {@code resource} is missing, and
   * what to install.
   */
  static String missingBuilderResource(String resource, String arch) {
    return "TensorRT cannot build engines for " + arch + " here: " + resource + " is missing"
        + " (the TensorRT redist jar on Maven Central does not carry the builder resources of"
        + " every GPU); " + INSTALL_TENSORRT + ", ahead of the redist jar.";
  }

  /**
   * Explains why TensorRT built no engine, from the errors its logger reported.
   *
   * @param errors the error messages TensorRT logged during the build, oldest first
   * @param arch the device's architecture, e.g. {@code sm_90}
   * @return a sentence naming the missing builder resource library when the errors point at
   *     one, else TensorRT's own last errors
   */
  public static String explainBuildFailure(java.util.List<String> errors, String arch) {
    for (String error : errors) {
      Matcher m = BUILDER_RESOURCE.matcher(error);
      if (m.find()) {
        return missingBuilderResource(m.group(), arch) + " TensorRT said: " + error;
      }
    }
    if (errors.isEmpty()) {
      return "TensorRT built no engine and logged no error";
    }
    int from = Math.max(0, errors.size() - 3);
    return "TensorRT built no engine: " + String.join(" | ", errors.subList(from, errors.size()));
  }
}
