package ai.nos.optim.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.List;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
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

  /**
   * {@link NativeDelete#ownVirtual}: an object whose vtable's slot 9 holds a function that frees
   * it (here JavaCPP's array delete, standing in for a deleting destructor, over an int array
   * whose first word is the vtable pointer) is freed by close; a slot that is not code of the
   * named library is refused and nothing is registered.
   */
  @Test
  void ownVirtual_callsTheSlotOfTheVtable_onlyIfItIsCodeOfTheLibrary() throws Exception {
    IntPointer object = new IntPointer(4L);
    Object own = deallocator(object);
    Field owner = own.getClass().getDeclaredField("ownerAddress");
    owner.setAccessible(true);
    owner.setLong(own, 0L);
    long arrayDelete;
    try (IntPointer template = new IntPointer(1L)) {
      Object d = deallocator(template);
      Method address = d.getClass().getDeclaredMethod("deallocatorAddress");
      address.setAccessible(true);
      arrayDelete = (long) address.invoke(d);
    }
    try (PointerPointer<Pointer> vtable = new PointerPointer<>(10L)) {
      vtable.put(9, new Pointer() {
        {
          address = arrayDelete;
        }
      });
      new PointerPointer<>(object).put(0, vtable);

      IntPointer made = new Bare(object.address(), 4);
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> NativeDelete.ownVirtual(made, 8, "libjnijavacpp"));
      assertTrue(e.getMessage().matches("slot 8 of the vtable of .*Bare holds 0x0, which is not"
          + " code of libjnijavacpp: not freed"), e.getMessage());
      e = assertThrows(IllegalStateException.class,
          () -> NativeDelete.ownVirtual(made, 9, "libnvonnxparser"));
      assertTrue(e.getMessage().endsWith("which is not code of libnvonnxparser: not freed"),
          e.getMessage());
      assertNull(deallocator(made), "refused: nothing registered");

      assertSame(made, NativeDelete.ownVirtual(made, 9, "libjnijavacpp"));
      assertNotNull(deallocator(made));
      made.close();
      assertTrue(made.isNull(), "freed by close through the vtable");
    }
    object.close();
  }

  @Test
  void inCodeOf_readsExecutableMappingsOfTheLibrary() {
    List<String> maps = List.of(
        "7f0000000000-7f0000001000 r--p 00000000 08:01 42 /opt/trt/libnvonnxparser.so.10",
        "7f0000001000-7f0000100000 r-xp 00001000 08:01 42 /opt/trt/libnvonnxparser.so.10",
        "7f0000200000-7f0000300000 r-xp 00000000 08:01 43 /opt/trt/libnvinfer.so.10",
        "7f0000400000-7f0000500000 rw-p 00000000 00:00 0 ",
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]");
    assertTrue(NativeDelete.inCodeOf(maps, 0x7f0000001000L, "libnvonnxparser"));
    assertTrue(NativeDelete.inCodeOf(maps, 0x7f00000fffffL, "libnvonnxparser"));
    assertFalse(NativeDelete.inCodeOf(maps, 0x7f0000100000L, "libnvonnxparser"), "end excluded");
    assertFalse(NativeDelete.inCodeOf(maps, 0x7f0000000800L, "libnvonnxparser"), "not code");
    assertFalse(NativeDelete.inCodeOf(maps, 0x7f0000200800L, "libnvonnxparser"), "another lib");
    assertFalse(NativeDelete.inCodeOf(maps, 0x7f0000400800L, "libnvonnxparser"));
    assertFalse(NativeDelete.inCodeOf(maps, 0, "libnvonnxparser"));
    assertTrue(NativeDelete.inCodeOf(maps, 0xffffffffff600010L, "vsyscall"), "unsigned");
  }

  private static Object deallocator(Pointer p) throws Exception {
    Method m = Pointer.class.getDeclaredMethod("deallocator");
    m.setAccessible(true);
    return m.invoke(p);
  }
}
