package ai.nos.internal.manager;

import ai.nos.NosException;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * Why calls without batching leave the caller's thread on a GPU
 *
 * libtorch keeps cuDNN's execution plans in a thread_local cache, and cuBLAS and cuDNN handles
 * with their workspaces (about 33 MiB each on an H200) per thread. A call on the caller's thread
 * therefore paid plan building on every new caller thread (issue 24: 828-1,302 ms for the first
 * call after another model loaded, against 4-6 ms warm), and every distinct caller thread kept
 * its workspaces on the device for good. So a CUDA device's calls without batching run on a few
 * threads of the manager's (these), each warmed up for a copy before the copy is READY: a first
 * call from any caller finds a warm thread, and the device keeps a fixed number of workspaces.
 *
 * Hand-off
 *
 * Each thread has its own queue, so that a copy's warm-up can go to every thread, queued before
 * any call of that copy: a call that the copy's READY let in runs on a thread that has run the
 * warm-up. A call goes to the thread with the fewest calls queued or running. Two threads suffice
 * to keep the GPU fed while one thread is in Java, and a device has two call streams
 * (internal.torch.CallStreams), so the two threads' calls overlap one's copies with the other's
 * kernels. The caller parks until the thread unparks it: one queue insertion and one wake-up, tens
 * of microseconds against a GPU call of 0.8 ms or more.
 *
 * Replays run on their callers
 *
 * A call that needs none of that per-thread state, a replay of an already recorded CUDA graph
 * (Replica.runsColdThreadsWarm: no plans, no cuBLAS or cuDNN workspace), gains nothing from a warm
 * thread and pays the hand-off: on an H100 the batchers' equivalent cost a ViT-B/16 call 0.34 ms
 * (twenty-eighth session, docs/vit-call-path.md). Such a call runs on its caller's thread when
 * the device's threads are idle and fewer than n callers run so at once (n the thread count, as
 * many as there are call streams), so the device still runs about n calls at a time, and input
 * copies in flight stay bounded; otherwise it queues as any call.
 *
 * Settling a call exactly once
 *
 * A queued call is claimed once, by compare-and-set from NEW: by its thread, which runs it and
 * then runs its release (the manager's reference on the copy) before it marks it DONE and wakes
 * the caller; or by a caller interrupted while the call still waits in the queue, which releases
 * the reference itself and throws; or by a submission that finds the threads stopping, whose
 * caller then runs the call on its own thread. An interrupt that arrives while the call runs is
 * kept for the caller, who waits for the result, since the model cannot be stopped mid-call.
 *
 * Warm-ups are claimed the same way: the loader waits for them up to the load timeout, then drops
 * those that have not started (their thread is busy with a call that hangs, say; a later call on
 * that thread then builds the plans itself) and waits only for the ones running, so that a
 * warm-up never runs on a copy the manager may since have freed.
 */

/**
 * One CUDA device's threads for the calls of copies without batching (see the notes above).
 * Thread-safe. The threads live until {@link #shutdown}, so their per-thread native state is
 * reused by every copy on the device, across evictions and reloads.
 */
final class CallThreads {
  private static final Logger LOG = LoggerFactory.getLogger(CallThreads.class);
  private static final int NEW = 0;
  private static final int RUNNING = 1;
  private static final int DONE = 2;
  private static final int DROPPED = 3;
  private static final Runnable STOP = () -> { };

  private final String name;
  private final Worker[] workers;
  private final AtomicInteger next = new AtomicInteger();
  /** Calls running on their callers' threads now (see "Replays run on their callers"). */
  private final AtomicInteger onCallers = new AtomicInteger();
  private volatile boolean stopping;

  /**
   * Starts {@code n} threads from {@code factory} (null: daemon threads named
   * {@code nos-call-<device>-<i>}).
   *
   * @throws java.util.concurrent.RejectedExecutionException if the factory gives no thread
   */
  CallThreads(String device, int n, ThreadFactory factory) {
    this.name = device;
    this.workers = new Worker[n];
    for (int i = 0; i < n; i++) {
      Worker w = new Worker();
      String threadName = "nos-call-" + device + "-" + i;
      Thread t = factory != null ? factory.newThread(w) : new Thread(w, threadName);
      if (t == null) {
        shutdown(Duration.ZERO);
        throw new java.util.concurrent.RejectedExecutionException("the thread factory returned"
            + " no thread for the call threads of " + device);
      }
      if (factory == null) {
        t.setDaemon(true);
      }
      w.thread = t;
      workers[i] = w;
      t.start();
    }
  }

  /** The threads, for tests. */
  List<Thread> threads() {
    List<Thread> out = new ArrayList<>();
    for (Worker w : workers) {
      if (w != null) {
        out.add(w.thread);
      }
    }
    return out;
  }

  /**
   * Runs {@code replica.infer(inputs)} on one of the threads and returns its result or throws
   * what it threw. {@code release} runs exactly once, after the call ran or once it is sure not
   * to run here, before this returns or throws. On a caller interrupted while the call waits in
   * a queue, the call does not run: this throws a {@link NosException} with the interrupt flag
   * set. Once stopping, runs the call on the calling thread.
   */
  Map<String, Tensor> call(Replica replica, Map<String, Tensor> inputs, Runnable release) {
    boolean cold;
    try {
      cold = replica.runsColdThreadsWarm(inputs);
    } catch (RuntimeException | Error e) {
      release.run(); // the call never runs: its reference goes back, once, as documented
      throw e;
    }
    if (cold && enterCaller()) {
      try {
        return replica.infer(inputs);
      } finally {
        onCallers.decrementAndGet();
        release.run();
      }
    }
    Call c = new Call(replica, inputs, release, Thread.currentThread());
    if (!submit(c)) {
      try {
        return replica.infer(inputs);
      } finally {
        release.run();
      }
    }
    boolean interrupted = false;
    try {
      while (c.state.get() != DONE) {
        if (Thread.interrupted()) {
          interrupted = true;
          if (c.state.compareAndSet(NEW, DROPPED)) {
            release.run();
            throw new NosException("interrupted while the call waited for a call thread on "
                + name + "; the call did not run");
          }
          // Running: the result is moments away and the model cannot be stopped; wait for it.
          continue;
        }
        LockSupport.park(this);
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    if (c.failure == null) {
      return c.out;
    }
    if (c.failure instanceof RuntimeException) {
      throw (RuntimeException) c.failure;
    }
    if (c.failure instanceof Error) {
      throw (Error) c.failure;
    }
    throw new NosException("the call failed on " + name + ": " + c.failure, c.failure);
  }

  /**
   * Runs {@code warmUp} once on every thread, each after what it has queued, and waits for all
   * up to {@code timeout}; past it, drops the warm-ups not started and waits for those running.
   * A warm-up that throws is logged. Returns how many threads did not run it.
   */
  int warmUp(Runnable warmUp, Duration timeout, String what) {
    CountDownLatch done = new CountDownLatch(workers.length);
    List<WarmUpJob> jobs = new ArrayList<>();
    for (Worker w : workers) {
      WarmUpJob job = new WarmUpJob(warmUp, done, what);
      jobs.add(job);
      if (!enqueue(w, job) && job.state.compareAndSet(NEW, DROPPED)) {
        done.countDown();
      }
    }
    boolean interrupted = false;
    try {
      try {
        if (done.await(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
          return countDropped(jobs);
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
      for (WarmUpJob j : jobs) {
        if (j.state.compareAndSet(NEW, DROPPED)) {
          done.countDown();
        }
      }
      for (;;) {
        try {
          done.await();
          return countDropped(jobs);
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static int countDropped(List<WarmUpJob> jobs) {
    int n = 0;
    for (WarmUpJob j : jobs) {
      n += j.state.get() == DROPPED ? 1 : 0;
    }
    return n;
  }

  /**
   * Stops taking work; what is queued runs first. Waits up to {@code timeout} for the threads
   * to end and returns whether they did.
   */
  boolean shutdown(Duration timeout) {
    stopping = true;
    for (Worker w : workers) {
      if (w != null) {
        w.queue.add(STOP);
      }
    }
    long end = System.nanoTime() + timeout.toNanos();
    boolean interrupted = false;
    boolean ended = true;
    for (Worker w : workers) {
      if (w == null || w.thread == null) {
        continue;
      }
      for (;;) {
        try {
          long left = end - System.nanoTime();
          if (left > 0) {
            TimeUnit.NANOSECONDS.timedJoin(w.thread, left);
          }
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      ended &= !w.thread.isAlive();
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return ended;
  }

  /**
   * Takes one of the callers' places when the threads are idle and fewer than n callers run on
   * their own threads; false, taking nothing, otherwise.
   */
  private boolean enterCaller() {
    for (Worker w : workers) {
      if (w.load.get() > 0) {
        return false;
      }
    }
    for (;;) {
      int now = onCallers.get();
      if (now >= workers.length) {
        return false;
      }
      if (onCallers.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  /** Calls running on their callers' threads now; for tests. */
  int onCallers() {
    return onCallers.get();
  }

  /** Queues a call on the least loaded thread; false if it was taken back (stopping). */
  private boolean submit(Call c) {
    Worker best = null;
    int start = Math.floorMod(next.getAndIncrement(), workers.length);
    for (int i = 0; i < workers.length; i++) {
      Worker w = workers[(start + i) % workers.length];
      if (best == null || w.load.get() < best.load.get()) {
        best = w;
      }
    }
    return enqueue(best, c) || !c.state.compareAndSet(NEW, DROPPED);
  }

  /**
   * Queues a job; false if the threads are stopping, and the job may then sit behind a STOP (a
   * caller takes it back by its state).
   */
  private boolean enqueue(Worker w, Job job) {
    if (stopping) {
      return false;
    }
    job.load = w.load;
    w.load.incrementAndGet();
    w.queue.add(job);
    // A job added after a STOP is never run; a shutdown that began before the add is seen here.
    return !stopping;
  }

  private abstract static class Job implements Runnable {
    final AtomicInteger state = new AtomicInteger(NEW);
    /** The load count of the thread it was queued on (set before it is queued). */
    AtomicInteger load;
    /** Whether {@link #giveLoadBack} ran; read and written by the job's thread only. */
    private boolean loadGiven;

    /**
     * Gives the job's count back to its thread's load, once. A call does it before it wakes its
     * caller, and a warm-up before it counts down: whoever goes on then (the caller's next call,
     * the loader's first) finds the thread idle and may run a replay on its own thread; counted
     * back after, a caller calling in a loop met a busy thread every time and stayed in the
     * hand-off (the batchers' same race, DynamicBatcher "Skipping the queue").
     */
    final void giveLoadBack() {
      if (!loadGiven && load != null) {
        loadGiven = true;
        load.decrementAndGet();
      }
    }
  }

  private static final class Call extends Job {
    final Replica replica;
    final Map<String, Tensor> inputs;
    final Runnable release;
    final Thread caller;
    Map<String, Tensor> out;
    Throwable failure;

    Call(Replica replica, Map<String, Tensor> inputs, Runnable release, Thread caller) {
      this.replica = replica;
      this.inputs = inputs;
      this.release = release;
      this.caller = caller;
    }

    @Override
    public void run() {
      if (!state.compareAndSet(NEW, RUNNING)) {
        return;
      }
      try {
        out = replica.infer(inputs);
      } catch (Throwable t) {
        failure = t;
      } finally {
        try {
          release.run();
        } catch (RuntimeException | Error e) {
          failure = failure != null ? failure : e;
        }
        giveLoadBack();
        state.set(DONE);
        LockSupport.unpark(caller);
      }
    }
  }

  private static final class WarmUpJob extends Job {
    final Runnable warmUp;
    final CountDownLatch done;
    final String what;

    WarmUpJob(Runnable warmUp, CountDownLatch done, String what) {
      this.warmUp = warmUp;
      this.done = done;
      this.what = what;
    }

    @Override
    public void run() {
      if (!state.compareAndSet(NEW, RUNNING)) {
        return;
      }
      try {
        warmUp.run();
      } catch (RuntimeException | Error e) {
        LOG.warn("{}: the warm-up on {} failed; its first call there builds its plans: {}",
            what, Thread.currentThread().getName(), e.toString());
      } finally {
        giveLoadBack();
        state.set(DONE);
        done.countDown();
      }
    }
  }

  private static final class Worker implements Runnable {
    final LinkedBlockingQueue<Runnable> queue = new LinkedBlockingQueue<>();
    /** Jobs queued or running here. */
    final AtomicInteger load = new AtomicInteger();
    Thread thread;

    @Override
    public void run() {
      for (;;) {
        Runnable job;
        try {
          job = queue.take();
        } catch (InterruptedException e) {
          // Interrupted from outside: this thread stops only by STOP, so no caller is left.
          continue;
        }
        if (job == STOP) {
          return;
        }
        try {
          job.run();
        } catch (RuntimeException | Error e) {
          LOG.error("a call thread's job failed outside its call", e);
        } finally {
          ((Job) job).giveLoadBack(); // if the job did not (one dropped before it ran)
          // A call's interrupt of this thread must not reach the next call.
          Thread.interrupted();
        }
      }
    }
  }
}
