package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.DType;
import ai.nos.Tensor;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.Test;

/**
 * {@link PinnedTensorMemory}'s pool without CUDA: blocks of a test source (direct buffers standing
 * in for libtorch's pinned blocks) handed out as root buffers, registered as pinned ranges, and
 * given back only once the buffer and every view of it are unreachable; the bound on held bytes;
 * a source that has no block. The libtorch source and the copies are PinnedTensorMemoryGpuTest's.
 */
final class PinnedTensorMemoryTest {
  private static final int MIB = 1 << 20;

  /** Direct buffers as blocks; counts what was taken and given back. */
  private static final class TestSource implements PinnedTensorMemory.Source {
    final List<ByteBuffer> kept = new ArrayList<>();
    int taken;
    int givenBack;
    boolean empty;

    @Override
    public synchronized PinnedTensorMemory.Block take(int bytes) {
      if (empty) {
        return null;
      }
      ByteBuffer b = ByteBuffer.allocateDirect(bytes);
      kept.add(b);
      taken++;
      long address = new BytePointer(b).address();
      return new PinnedTensorMemory.Block() {
        @Override
        public long address() {
          return address;
        }

        @Override
        public void giveBack() {
          synchronized (TestSource.this) {
            givenBack++;
          }
        }
      };
    }

    synchronized int givenBack() {
      return givenBack;
    }
  }

  private static boolean awaitGc(BooleanSupplier done) throws InterruptedException {
    long end = System.nanoTime() + 20_000_000_000L;
    while (!done.getAsBoolean() && System.nanoTime() < end) {
      System.gc();
      Thread.sleep(20);
    }
    return done.getAsBoolean();
  }

  private static long address(ByteBuffer b) {
    return new BytePointer(b).address();
  }

  @Test
  void aBlock_isAPinnedRangeUntilItsBufferAndEveryViewAreGone() throws Exception {
    TestSource source = new TestSource();
    PinnedTensorMemory.Pool pool = new PinnedTensorMemory.Pool(source, 64L * MIB);
    ByteBuffer root = pool.allocate(2 * MIB);
    assertNotNull(root);
    assertEquals(2 * MIB, root.capacity());
    assertEquals(java.nio.ByteOrder.nativeOrder(), root.order());
    long start = address(root);
    assertEquals(address(source.kept.get(0)), start, "the buffer is over the source's block");
    assertEquals(2L * MIB, pool.held());
    PinnedMemory.Range range = PinnedMemory.acquire(start + 100, MIB);
    assertNotNull(range, "a copy from the buffer finds it pinned");
    range.release();
    // The tensor's way of handing its bytes out: a read-only view, which must keep the block.
    ByteBuffer view = root.asReadOnlyBuffer().duplicate();
    root = null;
    // Collections while the view lives: the block must not go back.
    for (int i = 0; i < 20; i++) {
      System.gc();
      Thread.sleep(10);
    }
    assertEquals(0, source.givenBack(), "a view still reads the block");
    assertNotNull(PinnedMemory.acquire(start, 16), "still registered");
    PinnedMemory.acquire(start, 16).release();
    PinnedMemory.acquire(start, 16).release();
    assertEquals(0, view.get(0) & 0, "the view reads its bytes");
    view = null;
    assertTrue(awaitGc(() -> source.givenBack() == 1), "given back once nothing reads it");
    assertEquals(0, pool.held());
    assertEquals(1, pool.returned());
    assertNull(PinnedMemory.acquire(start, 16), "out of the register once given back");
  }

  @Test
  void heldBytes_areBounded_andFreeAgainOnceCollected() throws Exception {
    TestSource source = new TestSource();
    PinnedTensorMemory.Pool pool = new PinnedTensorMemory.Pool(source, 3L * MIB);
    ByteBuffer a = pool.allocate(MIB + MIB / 2);
    ByteBuffer b = pool.allocate(MIB + MIB / 2);
    assertNotNull(a);
    assertNotNull(b);
    assertNull(pool.allocate(MIB), "past the bound: ordinary memory instead");
    assertEquals(2, source.taken, "nothing taken past the bound");
    a = null;
    assertTrue(awaitGc(() -> pool.held() == MIB + MIB / 2), "a's bytes free again");
    assertNotNull(pool.allocate(MIB), "room again");
    assertNotNull(b);
  }

  /**
   * Eight threads allocating and dropping buffers of 1-3 MiB against a bound of 16 MiB: the held
   * bytes never pass the bound (the reservation is one compare-and-set), and once everything is
   * collected every block has gone back exactly once and nothing is held or registered.
   */
  @Test
  void manyThreads_neverHoldPastTheBound_andEveryBlockGoesBackOnce() throws Exception {
    TestSource source = new TestSource();
    long bound = 16L * MIB;
    PinnedTensorMemory.Pool pool = new PinnedTensorMemory.Pool(source, bound);
    java.util.concurrent.atomic.AtomicLong most = new java.util.concurrent.atomic.AtomicLong();
    java.util.concurrent.atomic.AtomicInteger pinned =
        new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors
        .newFixedThreadPool(8);
    try {
      List<java.util.concurrent.Future<?>> all = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int seed = t;
        all.add(threads.submit(() -> {
          java.util.Random r = new java.util.Random(seed);
          List<ByteBuffer> kept = new ArrayList<>();
          for (int i = 0; i < 200; i++) {
            ByteBuffer b = pool.allocate(MIB + r.nextInt(2 * MIB));
            most.accumulateAndGet(pool.held(), Math::max);
            if (b != null) {
              pinned.incrementAndGet();
              b.put(0, (byte) seed);
              kept.add(b);
            }
            if (kept.size() > 2) {
              kept.remove(0); // dropped: its block goes back once collected
            }
          }
          return null;
        }));
      }
      for (java.util.concurrent.Future<?> f : all) {
        f.get();
      }
    } finally {
      threads.shutdown();
    }
    assertTrue(most.get() <= bound, "held " + most.get() + " B past the bound " + bound);
    assertTrue(awaitGc(() -> pool.held() == 0), pool.held() + " B still held");
    assertEquals(pinned.get(), source.taken, "a block for every pinned buffer");
    assertTrue(awaitGc(() -> source.givenBack() == source.taken),
        source.givenBack() + " of " + source.taken + " given back");
    assertEquals(source.taken, pool.returned(), "each block given back once");
    for (ByteBuffer b : source.kept) {
      assertNull(PinnedMemory.acquire(address(b), 16), "a block still registered");
    }
  }

  @Test
  void aSourceWithoutBlocks_givesNull_andHoldsNothing() {
    TestSource source = new TestSource();
    source.empty = true;
    PinnedTensorMemory.Pool pool = new PinnedTensorMemory.Pool(source, 64L * MIB);
    assertNull(pool.allocate(2 * MIB));
    assertEquals(0, pool.held());
    PinnedTensorMemory.Pool failing = new PinnedTensorMemory.Pool(bytes -> {
      throw new IllegalStateException("no pinned memory");
    }, 64L * MIB);
    assertThrows(IllegalStateException.class, () -> failing.allocate(2 * MIB));
    assertEquals(0, failing.held(), "a failed take holds nothing");
  }

  @Test
  void zeroLimit_pinsNothing() {
    TestSource source = new TestSource();
    PinnedTensorMemory.Pool pool = new PinnedTensorMemory.Pool(source, 0);
    assertNull(pool.allocate(MIB));
    assertEquals(0, source.taken);
  }

  @Test
  void limitProperty_isReadAndChecked() {
    String before = System.getProperty(PinnedTensorMemory.LIMIT_PROPERTY);
    try {
      System.clearProperty(PinnedTensorMemory.LIMIT_PROPERTY);
      assertEquals(2L << 30, PinnedTensorMemory.limitFromProperty());
      System.setProperty(PinnedTensorMemory.LIMIT_PROPERTY, " 0 ");
      assertEquals(0, PinnedTensorMemory.limitFromProperty());
      System.setProperty(PinnedTensorMemory.LIMIT_PROPERTY, "-5");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          PinnedTensorMemory::limitFromProperty);
      assertTrue(e.getMessage().contains("nos.pinnedTensorBytes")
          && e.getMessage().contains("'-5'"), e.getMessage());
      System.setProperty(PinnedTensorMemory.LIMIT_PROPERTY, "2GB");
      assertThrows(IllegalArgumentException.class, PinnedTensorMemory::limitFromProperty);
      // What the process's pool uses: a bad setting turns pinning off (logged), never fails
      // a tensor.
      assertEquals(0, PinnedTensorMemory.limitOrOff());
      System.setProperty(PinnedTensorMemory.LIMIT_PROPERTY, "1048576");
      assertEquals(1 << 20, PinnedTensorMemory.limitOrOff());
    } finally {
      if (before == null) {
        System.clearProperty(PinnedTensorMemory.LIMIT_PROPERTY);
      } else {
        System.setProperty(PinnedTensorMemory.LIMIT_PROPERTY, before);
      }
    }
  }

  @Test
  void withoutCuda_tensorsAreOrdinaryDirectMemory() {
    // The CPU machine (CI): libtorch sees no CUDA device, so nothing is pinned. On a GPU
    // machine PinnedTensorMemoryGpuTest covers the other side.
    org.junit.jupiter.api.Assumptions.assumeTrue(TorchRuntime.cudaDeviceCount() == 0,
        "a machine without a CUDA device");
    int before = PinnedMemory.tensorMemoryRanges();
    Tensor t = Tensor.zeros(DType.FLOAT32, 1 << 20);
    Tensor u = Tensor.of(new float[1 << 20]);
    assertEquals(before, PinnedMemory.tensorMemoryRanges());
    assertSame(null, PinnedTensorMemory.allocate(4 * MIB, false));
    assertEquals(0f, t.toFloatArray()[12345]);
    assertEquals(u, t);
  }
}
