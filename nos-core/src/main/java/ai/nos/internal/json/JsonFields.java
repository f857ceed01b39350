package ai.nos.internal.json;

import java.util.Iterator;
import java.util.List;
import java.util.function.Supplier;

/**
 * Reading JSON trees ({@link JsonValue}) field by field with messages that name the JSON path,
 * what was expected and what was given, for the readers of specs (nos-core) and catalogs (nos-hub).
 * Every failure is an {@link IllegalArgumentException}; values quoted in messages are cut to 60
 * characters.
 */
public final class JsonFields {
  private static final int MAX_ECHO = 60;

  private JsonFields() {}

  /** Checks that a node is an object holding only known fields. */
  public static void object(JsonValue node, String path, List<String> known) {
    if (!node.isObject()) {
      throw new IllegalArgumentException(path + " must be an object but was " + echo(node));
    }
    for (Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!known.contains(name)) {
        throw new IllegalArgumentException("unknown field '" + shorten(name) + "' at " + path
            + " (known: " + String.join(", ", known) + ")");
      }
    }
  }

  public static JsonValue required(JsonValue object, String field, String path) {
    JsonValue value = object.get(field);
    if (value == null) {
      throw new IllegalArgumentException("missing required field '" + field + "' at " + path);
    }
    return value;
  }

  public static JsonValue array(JsonValue node, String path) {
    if (!node.isArray()) {
      throw new IllegalArgumentException(path + " must be an array but was " + echo(node));
    }
    return node;
  }

  public static String text(JsonValue node, String path) {
    if (!node.isTextual()) {
      throw new IllegalArgumentException(path + " must be a string but was " + echo(node));
    }
    return node.textValue();
  }

  public static boolean bool(JsonValue node, String path) {
    if (!node.isBoolean()) {
      throw new IllegalArgumentException(path + " must be true or false but was " + echo(node));
    }
    return node.booleanValue();
  }

  public static int integer(JsonValue node, String path) {
    if (!node.isIntegralNumber()) {
      throw new IllegalArgumentException(path + " must be an integer but was " + echo(node));
    }
    if (!node.canConvertToInt()) {
      throw new IllegalArgumentException(path + " must be an integer "
          + (node.doubleValue() < 0
              ? "at least " + Integer.MIN_VALUE : "at most " + Integer.MAX_VALUE)
          + " but was " + echo(node));
    }
    return node.intValue();
  }

  public static long longValue(JsonValue node, String path) {
    if (!node.isIntegralNumber()) {
      throw new IllegalArgumentException(path + " must be an integer but was " + echo(node));
    }
    if (!node.canConvertToLong()) {
      throw new IllegalArgumentException(path + " must be an integer "
          + (node.doubleValue() < 0 ? "at least " + Long.MIN_VALUE : "at most " + Long.MAX_VALUE)
          + " but was " + echo(node));
    }
    return node.longValue();
  }

  public static double number(JsonValue node, String path) {
    if (!node.isNumber() || !Double.isFinite(node.doubleValue())) {
      throw new IllegalArgumentException(path + " must be a finite number but was " + echo(node));
    }
    return node.doubleValue();
  }

  /**
   * Runs a builder step, putting the JSON path of the enclosing object before its message. A
   * message that names its field through the Java class, as the builders' own do for code
   * ({@code ImageInput.size must be ...}), names it through the path instead
   * ({@code $.imageInputs.image.size must be ...}).
   */
  public static <T> T at(String path, Supplier<T> step) {
    try {
      return step.get();
    } catch (IllegalArgumentException e) {
      String m = String.valueOf(e.getMessage());
      java.util.regex.Matcher classQualified = CLASS_QUALIFIED.matcher(m);
      if (classQualified.lookingAt()) {
        m = m.substring(classQualified.end());
      }
      throw new IllegalArgumentException(path + "." + m, e);
    }
  }

  /** {@code ImageInput.} or {@code ModelSpec.} before a field name at a message's start. */
  private static final java.util.regex.Pattern CLASS_QUALIFIED =
      java.util.regex.Pattern.compile("[A-Z][A-Za-z]*\\.(?=[a-z])");

  /**
   * One of {@code values} by its lower-case name, e.g. {@code "shorter_side"}; the message of a
   * bad one lists the names.
   */
  public static <E extends Enum<E>> E choice(JsonValue node, String path, E[] values) {
    String given = text(node, path);
    java.util.List<String> labels = new java.util.ArrayList<>();
    for (E value : values) {
      String label = value.name().toLowerCase(java.util.Locale.ROOT);
      if (label.equals(given)) {
        return value;
      }
      labels.add(label);
    }
    throw new IllegalArgumentException(path + " must be one of " + String.join(", ", labels)
        + " but was '" + shorten(given) + "'");
  }

  /** A JSON value as it would be written, shortened so that huge inputs make short messages. */
  public static String echo(JsonValue node) {
    return shorten(node.toString());
  }

  public static String shorten(String s) {
    return s.length() <= MAX_ECHO ? s : s.substring(0, MAX_ECHO) + "...";
  }
}
