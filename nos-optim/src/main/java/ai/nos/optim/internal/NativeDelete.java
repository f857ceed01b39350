package ai.nos.optim.internal;

import java.lang.reflect.Method;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Pointer;

/**
 * Gives a TensorRT object that TensorRT made (an engine, an execution context) the C++
 * {@code delete} its class has, so that {@link Pointer#close()} frees it.
 *
 * <h2>Why this exists</h2>
 * TensorRT 10 frees its objects with {@code delete} (their destructors are public and virtual; the
 * {@code destroy()} of TensorRT 8 is gone). JavaCPP attaches a deallocator only to an object it
 * allocated itself ({@code new ICudaEngine()} in Java); an object returned by a native function
 * (what {@code deserializeCudaEngine} and {@code createExecutionContext} return) has none, so
 * closing it frees nothing and an engine's device memory would stay until the process ends. For
 * each class the presets generated a {@code delete} function anyway, for their own allocations:
 * this class reads its address from a throw-away object JavaCPP allocates (freed at once) and
 * registers it, with JavaCPP's own {@code NativeDeallocator}, on the object TensorRT made.
 *
 * <p>Both steps use JavaCPP members that are not public ({@code Pointer.deallocator()},
 * {@code Pointer.init}), reached by reflection: on the class path that always works; on the
 * module path it needs {@code --add-opens org.bytedeco.javacpp/org.bytedeco.javacpp=ai.nos.optim},
 * and without it {@link #check} says so before anything is made that could not be freed.
 *
 * <p>Thread-safe: the reflective handles are looked up once (holder idiom); {@link #own} may run
 * on any thread.
 */
final class NativeDelete {
  private NativeDelete() {}

  private static final class Handles {
    static final Method DEALLOCATOR;
    static final Method INIT;
    static final String PROBLEM;

    static {
      Method deallocator = null;
      Method init = null;
      String problem = null;
      try {
        deallocator = Pointer.class.getDeclaredMethod("deallocator");
        deallocator.setAccessible(true);
        init = Pointer.class.getDeclaredMethod("init", long.class, long.class, long.class,
            long.class);
        init.setAccessible(true);
      } catch (ReflectiveOperationException | RuntimeException e) {
        problem = "NOS cannot free TensorRT objects here (" + e
            + "); on the module path add --add-opens"
            + " org.bytedeco.javacpp/org.bytedeco.javacpp=ai.nos.optim";
      }
      DEALLOCATOR = deallocator;
      INIT = init;
      PROBLEM = problem;
    }
  }

  /** Why TensorRT objects could not be freed here, or null when they can. */
  static String check() {
    return Handles.PROBLEM;
  }

  /**
   * Registers on {@code made} (not null, made by TensorRT) the {@code delete} of its class, read
   * from a throw-away object {@code template} allocates (and frees before returning). Returns
   * {@code made}, which {@link Pointer#close()} now deletes.
   *
   * @throws IllegalStateException if {@link #check} found a problem or JavaCPP's members differ
   */
  static <P extends Pointer> P own(P made, Supplier<P> template) {
    if (Handles.PROBLEM != null) {
      throw new IllegalStateException(Handles.PROBLEM);
    }
    P dummy = template.get();
    long delete;
    try {
      Object deallocator = Handles.DEALLOCATOR.invoke(dummy);
      Method address = deallocator.getClass().getDeclaredMethod("deallocatorAddress");
      address.setAccessible(true);
      delete = (long) address.invoke(deallocator);
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new IllegalStateException("NOS cannot read the delete function JavaCPP made for "
          + dummy.getClass().getName() + ": " + e, e);
    } finally {
      dummy.close();
    }
    if (delete == 0) {
      throw new IllegalStateException("JavaCPP made no delete function for "
          + made.getClass().getName());
    }
    try {
      Handles.INIT.invoke(made, made.address(), 1L, made.address(), delete);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("NOS cannot register the delete of "
          + made.getClass().getName() + ": " + e, e);
    }
    return made;
  }
}
