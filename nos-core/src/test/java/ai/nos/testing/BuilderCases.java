package ai.nos.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.reflect.Array;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.function.Executable;

/**
 * The cases of docs/api-conventions.md that each module's builder-conventions test lists for its
 * own builders (nos-core's {@code BuilderConventionsTest}, nos-hub's and nos-optim's), and the one
 * check of each kind.
 */
public final class BuilderCases {
  private BuilderCases() {}

  /** A builder's setting made twice, read back from what it built. */
  public record Twice(String setting, Supplier<Object> built, Object expected) {
    /** The last value set is the one built. */
    public void check() {
      assertEquals(expected, built.get(), setting);
    }

    @Override
    public String toString() {
      return setting;
    }
  }

  /** A setter given null, and the message that must name it. */
  public record Null(String message, Executable call) {
    /** The call is a {@link NullPointerException} with exactly this message. */
    public void check() {
      assertEquals(message, assertThrows(NullPointerException.class, call).getMessage());
    }

    @Override
    public String toString() {
      return message;
    }
  }

  /**
   * Every public method of the builder that {@code fresh} makes, {@code build} apart, given null
   * in each of its reference parameters in turn (the others a plain value): the ones that do not
   * throw a {@link NullPointerException} with a message, as "what was given: what happened".
   * Setters whose documented null means "none" are named in {@code nullMeansNone}. The {@link
   * Null} cases check the messages; this catches a setter no case lists (Signature's
   * {@code input(name, dtype, shape)} threw IllegalArgumentException for a null name).
   */
  public static List<String> nullsNotRefused(Supplier<?> fresh, Set<String> nullMeansNone)
      throws ReflectiveOperationException {
    Class<?> type = fresh.get().getClass();
    List<String> wrong = new ArrayList<>();
    for (Method m : type.getMethods()) {
      if (m.getDeclaringClass() != type || m.getName().equals("build")
          || nullMeansNone.contains(m.getName())) {
        continue;
      }
      Class<?>[] params = m.getParameterTypes();
      for (int i = 0; i < params.length; i++) {
        if (params[i].isPrimitive()) {
          continue;
        }
        Object[] args = new Object[params.length];
        for (int j = 0; j < params.length; j++) {
          args[j] = j == i ? null : sample(params[j]);
        }
        String owner = type.getEnclosingClass() == null ? ""
            : type.getEnclosingClass().getSimpleName() + ".";
        String call = owner + type.getSimpleName() + "." + m.getName() + Arrays.toString(
            Arrays.stream(params).map(Class::getSimpleName).toArray()) + " with null argument "
            + i;
        try {
          m.invoke(fresh.get(), args);
          wrong.add(call + ": nothing thrown");
        } catch (InvocationTargetException e) {
          Throwable t = e.getCause();
          if (!(t instanceof NullPointerException) || t.getMessage() == null) {
            wrong.add(call + ": " + t);
          }
        }
      }
    }
    return wrong;
  }

  /** A plain value of a parameter's type; null where there is none to make. */
  private static Object sample(Class<?> t) {
    if (t == int.class || t == long.class || t == short.class || t == byte.class) {
      return t == int.class ? (Object) 1 : t == long.class ? (Object) 1L
          : t == short.class ? (Object) (short) 1 : (Object) (byte) 1;
    }
    if (t == float.class || t == double.class) {
      return t == float.class ? (Object) 0.5f : (Object) 0.5;
    }
    if (t == boolean.class || t == char.class) {
      return t == boolean.class ? (Object) true : (Object) 'x';
    }
    if (t.isEnum()) {
      return t.getEnumConstants()[0];
    }
    if (t.isArray()) {
      return Array.newInstance(t.getComponentType(), 1);
    }
    Map<Class<?>, Object> plain = Map.of(String.class, "x", Path.class, Path.of("x"),
        Duration.class, Duration.ofSeconds(1), List.class, List.of(), Map.class, Map.of(),
        Set.class, Set.of());
    return plain.get(t);
  }
}
