package ai.nos.internal.manager;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.ModelManager;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * ManagerCore.runElsewhere (a booked generator's request gives its copy back there, off the
 * engine's scheduler): on the manager's deadline thread while it is open, on a thread of the
 * application's factory once it is closed, and on a NOS daemon if that factory fails; never on
 * the calling thread.
 */
final class RunElsewhereTest {
  private static CompletableFuture<Thread> ranOn(ManagerCore core) {
    CompletableFuture<Thread> ran = new CompletableFuture<>();
    core.runElsewhere(() -> ran.complete(Thread.currentThread()));
    return ran;
  }

  private static ModelManager manager(ThreadFactory threads) {
    ModelManager.Builder b = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog();
    return (threads == null ? b : b.threadFactory(threads)).build();
  }

  @Test
  void open_onTheDeadlineThread_closed_onANewThread() throws Exception {
    ModelManager m = manager(null);
    ManagerCore core = ManagerAccess.door().core(m);
    Thread open = ranOn(core).get(10, TimeUnit.SECONDS);
    assertTrue(open.getName().startsWith("nos-deadlines-"), open.getName());
    m.close();
    Thread closed = ranOn(core).get(10, TimeUnit.SECONDS);
    assertTrue(closed.getName().startsWith("nos-release-"), closed.getName());
    assertTrue(closed.isDaemon());
    assertNotSame(Thread.currentThread(), closed);
  }

  @Test
  void closed_theApplicationsFactory_orADaemonIfItFails() throws Exception {
    AtomicInteger made = new AtomicInteger();
    ThreadFactory app = r -> {
      made.incrementAndGet();
      Thread t = new Thread(r, "app-" + made.get());
      t.setDaemon(true);
      return t;
    };
    ModelManager m = manager(app);
    ManagerCore core = ManagerAccess.door().core(m);
    m.close();
    Thread closed = ranOn(core).get(10, TimeUnit.SECONDS);
    assertTrue(closed.getName().startsWith("app-"), closed.getName());

    ModelManager failing = manager(r -> {
      throw new IllegalStateException("the application's factory is out of threads");
    });
    ManagerCore failingCore = ManagerAccess.door().core(failing);
    failing.close();
    Thread fallback = ranOn(failingCore).get(10, TimeUnit.SECONDS);
    assertTrue(fallback.getName().startsWith("nos-release-"), fallback.getName());
    assertEquals(true, fallback.isDaemon());
  }

  /**
   * The application's factory gives the deadline thread none while the manager is open: the
   * task still runs, once, on a NOS daemon. (A factory returning null left it queued with no
   * thread for ever; one that threw let the exception out to the caller, the task queued too.)
   */
  @Test
  void open_factoryGivesNoDeadlineThread_runsOnceOnANosDaemon() throws Exception {
    for (boolean throwing : new boolean[] {false, true}) {
      AtomicInteger asked = new AtomicInteger();
      ModelManager m = manager(r -> {
        asked.incrementAndGet();
        if (throwing) {
          throw new IllegalStateException("the application's factory is out of threads");
        }
        return null;
      });
      try {
        ManagerCore core = ManagerAccess.door().core(m);
        AtomicInteger runs = new AtomicInteger();
        CompletableFuture<Thread> ran = new CompletableFuture<>();
        core.runElsewhere(() -> {
          runs.incrementAndGet();
          ran.complete(Thread.currentThread());
        });
        Thread t = ran.get(10, TimeUnit.SECONDS);
        // the deadline thread itself, a NOS daemon since the factory gives none
        assertTrue(t.getName().startsWith("nos-deadlines-"), t.getName());
        assertTrue(t.isDaemon());
        assertTrue(asked.get() > 0, "the factory was not asked");
        Thread.sleep(100);
        assertEquals(1, runs.get(), "throwing " + throwing);
      } finally {
        m.close();
      }
    }
  }
}
