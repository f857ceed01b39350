package ai.nos;

import java.util.Locale;
import java.util.OptionalInt;

/**
 * Where a model should run: {@linkplain #auto() AUTO} (CUDA when present, else CPU), the
 * {@linkplain #cpu() CPU}, or a {@linkplain #cuda() CUDA} device with an optional index.
 *
 * <p>The string form is the one {@link #parse} accepts and {@link #toString} returns:
 * {@code "auto"}, {@code "cpu"}, {@code "cuda"} or {@code "cuda:N"}.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Device {

  /** The kinds of device a model can be placed on. */
  public enum Kind {
    /** CUDA when a CUDA device is present, else the CPU. */
    AUTO,
    /** The CPU. */
    CPU,
    /** A CUDA GPU. */
    CUDA
  }

  private static final int NO_INDEX = -1;
  private static final Device AUTO = new Device(Kind.AUTO, NO_INDEX);
  private static final Device CPU = new Device(Kind.CPU, NO_INDEX);
  private static final Device ANY_CUDA = new Device(Kind.CUDA, NO_INDEX);
  private static final String FORMS = "auto, cpu, cuda, cuda:N";

  private final Kind kind;
  private final int index;

  private Device(Kind kind, int index) {
    this.kind = kind;
    this.index = index;
  }

  /** CUDA when a CUDA device is present, else the CPU; the default of a {@link ModelSpec}. */
  public static Device auto() {
    return AUTO;
  }

  /** The CPU. */
  public static Device cpu() {
    return CPU;
  }

  /** Any CUDA device; which one is left to the runtime. */
  public static Device cuda() {
    return ANY_CUDA;
  }

  /**
   * The CUDA device with the given ordinal.
   *
   * @param index the CUDA device ordinal, {@code >= 0}
   * @throws IllegalArgumentException if {@code index} is negative
   */
  public static Device cuda(int index) {
    if (index < 0) {
      throw new IllegalArgumentException("device index must be >= 0 but was " + index);
    }
    return new Device(Kind.CUDA, index);
  }

  /**
   * Parses {@code "auto"}, {@code "cpu"}, {@code "cuda"} or {@code "cuda:N"}, ignoring case and
   * surrounding whitespace.
   *
   * @param text the device string
   * @return the device it names
   * @throws IllegalArgumentException if {@code text} is null or not one of the accepted forms; the
   *     message names the accepted forms and the given value
   */
  public static Device parse(String text) {
    if (text != null) {
      String s = text.trim().toLowerCase(Locale.ROOT);
      switch (s) {
        case "auto":
          return AUTO;
        case "cpu":
          return CPU;
        case "cuda":
          return ANY_CUDA;
        default:
          if (s.startsWith("cuda:")) {
            int index = parseIndex(s.substring("cuda:".length()));
            if (index >= 0) {
              return new Device(Kind.CUDA, index);
            }
          }
      }
    }
    throw new IllegalArgumentException("device must be one of " + FORMS + " but was "
        + (text == null ? "null" : "'" + text + "'"));
  }

  /** The int written in ASCII digits (not the other Unicode digits parseInt takes), or -1. */
  private static int parseIndex(String digits) {
    if (digits.isEmpty() || digits.length() > 10) {
      return -1;
    }
    for (int i = 0; i < digits.length(); i++) {
      char c = digits.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
    }
    long value = Long.parseLong(digits);
    return value <= Integer.MAX_VALUE ? (int) value : -1;
  }

  /** The kind of device. */
  public Kind kind() {
    return kind;
  }

  /** The CUDA device ordinal, present only for {@code cuda(int)} and {@code "cuda:N"}. */
  public OptionalInt index() {
    return index == NO_INDEX ? OptionalInt.empty() : OptionalInt.of(index);
  }

  /** Whether this is a CUDA device, with or without an index. */
  public boolean isCuda() {
    return kind == Kind.CUDA;
  }

  /** Whether this is the CPU. */
  public boolean isCpu() {
    return kind == Kind.CPU;
  }

  /** Whether the runtime picks CUDA when present, else the CPU. */
  public boolean isAuto() {
    return kind == Kind.AUTO;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Device && ((Device) o).kind == kind && ((Device) o).index == index;
  }

  @Override
  public int hashCode() {
    return 31 * kind.ordinal() + index;
  }

  /**
   * The form {@link #parse} accepts: {@code "auto"}, {@code "cpu"}, {@code "cuda"} or
   * {@code "cuda:1"}.
   */
  @Override
  public String toString() {
    String name = kind.name().toLowerCase(Locale.ROOT);
    return index == NO_INDEX ? name : name + ":" + index;
  }
}
