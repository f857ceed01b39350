package ai.nos.optim.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/**
 * {@link NativeDelete} gives a pointer that a native function made (no deallocator) the delete of
 * its class, so that closing it frees it: checked with an int array JavaCPP allocated (its own
 * deallocator pointed at null), freed through a bare pointer to it with the array delete read from
 * a throw-away {@code IntPointer}. TensorRT's engines and contexts get theirs the same way
 * ({@link TrtRunner}); without it their device memory stayed until the process ended.
 */
final class NativeDeleteTest {

  /** A bare pointer to an address, as a native function returns one: no deallocator. */
  private static final class Bare extends IntPointer {
    Bare(long address, long capacity) {
      super((Pointer) null);
      this.address = address;
      this.limit = capacity;
      this.capacity = capacity;
    }
  }

  @Test
  void own_givesABarePointerItsClassesDelete_andCloseFreesIt() throws Exception {
    assertNull(NativeDelete.check(), "reflection works on the class path");
    IntPointer array = new IntPointer(4L);
    array.put(0, 42);
    // The array's own deallocator now deletes a null pointer: the bare pointer below owns it.
    Object own = deallocator(array);
    Field owner = own.getClass().getDeclaredField("ownerAddress");
    owner.setAccessible(true);
    owner.setLong(own, 0L);
    IntPointer made = new Bare(array.address(), 4);
    assertNull(deallocator(made), "a bare pointer frees nothing");
    assertSame(made, NativeDelete.own(made, () -> new IntPointer(1L)));
    assertNotNull(deallocator(made), "owned: close now frees it");
    assertEquals(42, made.get(0), "same memory");
    made.close();
    assertTrue(made.isNull(), "freed by close");
    array.close();
  }

  private static Object deallocator(Pointer p) throws Exception {
    Method m = Pointer.class.getDeclaredMethod("deallocator");
    m.setAccessible(true);
    return m.invoke(p);
  }
}
