package ai.nos.optim.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

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
 * <h2>Classes JavaCPP cannot allocate</h2>
 * A pure interface ({@code nvonnxparser::IParser}) has no JavaCPP allocation and so no generated
 * {@code delete} to borrow. {@link #ownVirtual} frees such an object the way C++'s
 * {@code delete p} does for a class with a virtual destructor: through the object's vtable. In the
 * Itanium C++ ABI (every Linux compiler) a virtual destructor takes two vtable slots where it is
 * declared, the complete-object destructor and then the deleting destructor, which destroys the
 * object and frees its memory and takes only {@code this}: exactly the {@code void (*)(void*)}
 * JavaCPP's deallocator calls. The caller names the slot from the class's header (the ABI of a
 * TensorRT interface holds within a major version: new virtuals are appended), and the slot's
 * address must lie in executable code of the library that made the object, or nothing is
 * registered.
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
    return register(made, delete);
  }

  /**
   * Registers on {@code made} (not null, made by native code of {@code library}) the deleting
   * destructor in slot {@code slot} of its vtable (see the class comment), so that
   * {@link Pointer#close()} deletes it as C++'s {@code delete} would.
   *
   * @param library a part of the file name of the library whose code the slot must point into,
   *     e.g. {@code "libnvonnxparser"}
   * @throws IllegalStateException if {@link #check} found a problem, or the slot does not point
   *     into executable code of {@code library} (nothing is registered then)
   */
  static <P extends Pointer> P ownVirtual(P made, int slot, String library) {
    if (Handles.PROBLEM != null) {
      throw new IllegalStateException(Handles.PROBLEM);
    }
    long vtable = addressIn(made, 0);
    long destructor = vtable == 0 ? 0 : addressIn(new Pointer() {
      {
        address = vtable;
      }
    }, slot);
    List<String> maps;
    try {
      maps = Files.readAllLines(Path.of("/proc/self/maps"));
    } catch (IOException | UncheckedIOException e) {
      throw new IllegalStateException("NOS cannot check the destructor of "
          + made.getClass().getName() + " without /proc/self/maps: " + e, e);
    }
    if (!inCodeOf(maps, destructor, library)) {
      throw new IllegalStateException("slot " + slot + " of the vtable of "
          + made.getClass().getName() + " holds 0x" + Long.toHexString(destructor)
          + ", which is not code of " + library + ": not freed");
    }
    return register(made, destructor);
  }

  /** The address held in word {@code index} of the memory at {@code p}; 0 for null. */
  private static long addressIn(Pointer p, int index) {
    Pointer held = new PointerPointer<>(p).get(index);
    return held == null ? 0 : held.address();
  }

  /**
   * Whether {@code address} lies in an executable mapping of a file whose name contains
   * {@code library}, by the lines of {@code /proc/self/maps}
   * ({@code start-end perms offset dev inode path}).
   */
  static boolean inCodeOf(List<String> maps, long address, String library) {
    if (address == 0) {
      return false;
    }
    for (String line : maps) {
      String[] f = line.trim().split("\\s+", 6);
      if (f.length < 6 || f[1].indexOf('x') < 0 || !f[5].contains(library)) {
        continue;
      }
      int dash = f[0].indexOf('-');
      long start = Long.parseUnsignedLong(f[0].substring(0, dash), 16);
      long end = Long.parseUnsignedLong(f[0].substring(dash + 1), 16);
      if (Long.compareUnsigned(address, start) >= 0 && Long.compareUnsigned(address, end) < 0) {
        return true;
      }
    }
    return false;
  }

  private static <P extends Pointer> P register(P made, long delete) {
    try {
      Handles.INIT.invoke(made, made.address(), 1L, made.address(), delete);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("NOS cannot register the delete of "
          + made.getClass().getName() + ": " + e, e);
    }
    return made;
  }
}
