package ai.nos.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
}
