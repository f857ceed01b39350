package ai.nos.internal.manager;

import ai.nos.ModelManager;
import ai.nos.ModelSpec;

/**
 * How code of this module outside {@code ai.nos} (the token generator) reaches a
 * {@link ModelManager}'s core without a public accessor on the API class: the manager registers
 * its door when its class initializes (the JDK's "shared secrets" pattern). The package is not
 * exported, so applications on the module path cannot call it.
 */
public final class ManagerAccess {
  /** What {@link ModelManager} opens to its own module. */
  public interface Door {
    ManagerCore core(ModelManager manager);

    /** Refuses an artifact outside the manager's allowed directories, as its loads do. */
    void checkAllowed(ModelManager manager, ModelSpec spec);
  }

  private static volatile Door door;

  private ManagerAccess() {}

  /** Called once, by ModelManager's static initializer. */
  public static void register(Door d) {
    if (door != null) {
      throw new IllegalStateException("the model manager's door is registered already");
    }
    door = d;
  }

  /** The door; any {@link ModelManager} instance has initialized its class, so it is set. */
  public static Door door() {
    Door d = door;
    if (d == null) {
      throw new IllegalStateException("ModelManager is not initialized");
    }
    return d;
  }
}
