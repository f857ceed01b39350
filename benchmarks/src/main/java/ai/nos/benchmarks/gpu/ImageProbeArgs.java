package ai.nos.benchmarks.gpu;

import ai.nos.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The command line ForwardProbe and CallPathProbe share, checked before any native code:
 * {@code FILE [DEVICE=cuda:0] [BATCH=64] [fp16|fp32] [CALLS=200] [SIZE=224] [CHANNELS=3]}.
 * Each bad argument is an IllegalArgumentException naming it, what was expected and what was
 * given.
 */
record ImageProbeArgs(Path file, Device device, int batch, String precision, int calls, int size,
    int channels) {

  static ImageProbeArgs parse(String[] args) {
    if (args.length < 1 || args.length > 7) {
      throw new IllegalArgumentException("arguments must be FILE [DEVICE] [BATCH] [fp16|fp32]"
          + " [CALLS] [SIZE] [CHANNELS] but were " + Arrays.toString(args));
    }
    Path file = Path.of(args[0]);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("FILE must be a TorchScript file but was '" + args[0]
          + "' (no such file)");
    }
    String deviceText = args.length > 1 ? args[1] : "cuda:0";
    Device device;
    try {
      device = Device.parse(deviceText);
    } catch (IllegalArgumentException e) {
      device = Device.auto();
    }
    if (device.isAuto()) {
      throw new IllegalArgumentException("DEVICE must be cpu, cuda or cuda:N but was '"
          + deviceText + "'");
    }
    int batch = positive("BATCH", args, 2, 64);
    String precision = args.length > 3 ? args[3] : "fp16";
    if (!precision.equals("fp16") && !precision.equals("fp32")) {
      throw new IllegalArgumentException("the precision must be fp16 or fp32 but was '"
          + precision + "'");
    }
    return new ImageProbeArgs(file, device, batch, precision, positive("CALLS", args, 4, 200),
        positive("SIZE", args, 5, 224), positive("CHANNELS", args, 6, 3));
  }

  /** Whether the precision is fp16. */
  boolean half() {
    return precision.equals("fp16");
  }

  /** Argument {@code i} as an int >= 1, or {@code otherwise} when it is not given. */
  private static int positive(String name, String[] args, int i, int otherwise) {
    if (args.length <= i) {
      return otherwise;
    }
    int value;
    try {
      value = Integer.parseInt(args[i].trim());
    } catch (NumberFormatException e) {
      value = 0;
    }
    if (value < 1) {
      throw new IllegalArgumentException(name + " must be an integer >= 1 but was '" + args[i]
          + "'");
    }
    return value;
  }
}
