package ai.nos.internal.batch;

import ai.nos.ModelSpec;
import ai.nos.NosException;
import ai.nos.Priority;
import ai.nos.QueueFullException;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * Concurrency
 *
 * Callers submit from any thread; n worker threads per batcher (one batcher per model replica,
 * n = Builder.workers, default 1) each take a due batch and run it, so up to n batches run at
 * once: with 2, one worker assembles the next batch while the other's runs on the device. With 1
 * the runner never runs concurrently with itself; with more it must be thread-safe. The queue
 * (BatchQueue), the requests running and the lifecycle flags are guarded by one lock, held only
 * for bookkeeping: never while the runner runs and never while a future completes, since
 * completing a future runs the caller's dependent actions on the completing thread and those may
 * call back into the batcher (submit, cancel, close). The clock is read under the lock, so order of
 * arrival and times of arrival agree.
 *
 * A request's future is completed by whoever settles it first (Request.settle, one CAS): a worker
 * (outputs, failure, expiry), a submit that refuses it, a close that gave up waiting, or the
 * caller, by cancelling or completing the future itself; a callback on the future then takes the
 * request out of the queue. Counted by the party that settled it, each request has one outcome.
 * Apart from the settling, each request is released once (Request.release, the submitter's hook):
 * when it leaves the queue without running, or when the batch it is in stops running, whichever
 * party settled it. The manager holds its lease on the model copy until then, so a copy is never
 * freed under a running batch, and a call its caller gave up on still gives the copy back.
 *
 * The futures complete on the workers, so their dependent actions run there: those must be short
 * and must not block on this batcher, interrupt the thread (that closes the batcher, see below) or
 * throw. Only the manager depends on them, with its bookkeeping; it hands its callers futures of
 * their own, completed on another pool (ManagerCore, "Callers' futures").
 *
 * An idle worker sleeps on a condition until the next batch is due (BatchQueue.readyAt: when the
 * oldest waiting request will have waited maxQueueDelay since its arrival, or at once if a group is
 * full). submit signals one sleeper only when that time moves earlier: the queue was empty, or a
 * group just filled; any other arrival is younger than everything waiting. A worker that takes a
 * batch (under the lock, so each request joins one batch) and leaves requests waiting signals one
 * sleeper in turn, which takes the next batch or sleeps until it is due: while requests wait, one
 * idle worker, if any, sleeps until the earliest time a batch falls due. The sleep is in real
 * nanoseconds; tests build the batcher without workers, move a fake clock and call dispatchReady()
 * themselves, so every dispatch decision is deterministic.
 *
 * Dispatch
 *
 * Requests are grouped by compatibility (the same dtypes and the same dimensions except the batch
 * and the padded ones); a group holds one FIFO queue per priority. A group is due when its rows
 * reach maxBatchSize (or the largest preferred size), or when its oldest request has waited
 * maxQueueDelay since it arrived. Delay 0 makes every non-empty group due at once: a lone request
 * never waits, and the requests that arrive while every worker is busy make up the next batch.
 * Of the groups due, the one whose first request ranks highest (priority, then arrival) goes
 * first. Its batch takes requests in priority-then-arrival order up to maxBatchSize rows and
 * stops at the first that does not fit; a request is never split. Strict priority would starve
 * the lower levels under a steady flood of a higher one, so one batch in BatchQueue.FAIR_EVERY
 * (8) goes to the due group whose oldest request arrived first and starts with that request,
 * whatever its level: once a request is the oldest waiting, it runs within 8 batches. A request met
 * whose deadline has passed is dropped and fails with DeadlineExceededException. A worker meets
 * it only when it forms a batch, which behind long or hung runs may be long after the deadline;
 * so a batcher given a scheduler (Builder.deadlines) also sets a timer per request with a
 * deadline, which drops the request at its deadline if it still waits in the queue (one that
 * started running is left to finish) and is cancelled when the request settles, so that the
 * scheduler holds no timer for a request already gone. With preferred
 * sizes the batch is cut back to the largest preferred size it reaches, and the rest go back to the
 * front of their queues.
 *
 * BatchExecution runs a batch, running each request alone again if the runner fails on several,
 * and Splitter splits the outputs per request along dim 0. Whatever fails while a batch is made,
 * run or split, an Error too, fails that batch's requests only; the worker goes on. With buckets
 * (BatchBuckets) a batch runs padded to its bucket, and without preferred sizes it is first cut
 * back to the bucket below when padding it would cost more rows than it leaves waiting.
 *
 * Skipping the queue
 *
 * A queue only helps when there is something to batch with or no worker to run the call: a lone
 * request that arrives to an empty queue with a worker slot free gains nothing from waiting, and
 * on the CPU the hand-off to a worker and back (two thread wake-ups) cost 30-45% of a small call
 * at 2 callers (issue 20). So a batcher built with runOnCallerWhenIdle lets submitOrRun run such
 * a request at once on the calling thread, as a batch of one, without the queue delay. The slots
 * are the workers: a run on a caller takes one as a worker's batch does (`busy`, under the lock),
 * and a worker takes a batch only while busy < workers, so no more batches run at once than
 * there are workers, as before (one worker: the runner never runs concurrently with itself). The
 * request goes through the same books as a queued one (running, settle, release, the counters),
 * so cancellation, release and close treat it as a running batch: close waits for it within its
 * timeout. Nothing waiting is overtaken (the queue is empty), so aging and priorities hold; under
 * load the slots are busy or the queue is not empty and requests queue and batch as before. Only
 * synchronous callers may be run on (they wait anyway). On the CPU (runOnCallerWhenIdle) a call
 * without batching runs on the caller's thread too. On a GPU a caller's thread lacks the warmed
 * per-thread state of the workers (see Warm-up), which an eager pass needs (cuDNN's plans) and a
 * replay of a recorded CUDA graph does not: a GPU copy's batcher is built with runOnIdleCallerIf,
 * whose gate (Replica.runsColdThreadsWarm) lets only such replays run on an idle caller, on the
 * plain path below, and never in the queue choice's CALLER mode (it makes no choice). #20 item
 * 3: the hand-off to a worker and back cost a ViT-B/16 call at batch 64 0.34 ms on an H100.
 *
 * A batch frees its slot before its futures complete (BatchExecution.run, then complete): a
 * caller woken by its future calls again at once, and on 2 cores its thread may preempt the
 * worker before the worker's bookkeeping; had the slot still been taken, the call would queue,
 * a worker would run it, and the next call would meet the same race: 2 callers stayed in the
 * hand-off for good (issue 20, batching at 2 callers at half the rate of plain calls). The request
 * is out of `running` by then, so a close that times out in between does not fail it; its
 * outputs are completed a moment later.
 *
 * Under load the queue pays only if a row costs less in a batch than alone by more than the two
 * hand-offs cost, which depends on the model, the machine and the callers. So on top of the rule
 * above the batcher measures (QueueChoice): synchronous calls run in one of two modes, BATCH (the
 * rule above) or CALLER (every synchronous call runs on its caller, as a copy without batching
 * runs it), and the time between their outputs is averaged over epochs of EPOCH_CALLS calls
 * (or EPOCH_NANOS, for heavy models); after the first epoch and then every PROBE_EVERY epochs
 * one epoch runs the other mode, and the faster is kept. A run in CALLER
 * mode beyond the slots is counted apart (`unslotted`): it does not take a worker's slot, so the
 * workers go on serving what asynchronous callers queue, and close waits for those runs as for
 * the others. The runner must then be safe to call from any number of threads at once, as a CPU
 * copy without batching is. In CALLER mode a synchronous call overtakes what waits in the queue
 * (asynchronous calls), as plain calls would; aging and priorities hold among the queued ones.
 * Measured on the 2-core VM with the plain path below (digit CNN, eleventh session): CALLER
 * kept at 8 callers (a call every 29-34 us against 33-39 us batching), BATCH at 64 (24-27 us
 * against 29-34 us); at 2 both run on the callers and either is kept.
 *
 * The plain path
 *
 * A synchronous call run on its caller through a Request still paid the batch machinery: the
 * request and its future, the `running` set, Batch and Splitter, a release hook and two
 * completion callbacks, about 4 us a call on the 2-core VM, which kept batching 7-12% behind plain
 * calls at 2 and 8 callers (issue 20). runOnCaller skips all of it: it takes the slot (or counts
 * the run outside the slots) under the lock by the same rule as submitOrRun, runs the replica's
 * own infer on the caller, as a copy without batching runs it, gives the slot back under the lock
 * and records the call for the QueueChoice. What the essay guarantees holds because only the
 * bookkeeping moved: the slots bound the batches at once as before, close waits for busy and
 * unslotted to reach 0, and a run still going when close gives up fails with close's message
 * (it sees callerAbandons move, the count of close's give-ups) instead of a settled future. No
 * request exists, so nothing can cancel it: its caller is the only one waiting for it. Stats count
 * it as a request in a batch of one. Whatever the batcher cannot run so (a closed batcher, a
 * passed deadline, a busy slot in BATCH mode) goes through submitOrRun, which decides again.
 *
 * Warm-up
 *
 * Builder.warmUp gives each worker a task to run once, before its first batch: the native
 * libraries keep per-thread state (cuDNN's execution plans are thread_local in libtorch), which a
 * warm-up on another thread does not make. Requests submitted meanwhile wait in the queue.
 * awaitWarmUp lets the owner hold the copy back until every worker has run it.
 *
 * Shutdown
 *
 * close() stops intake at once (a later submit throws IllegalStateException; shutdown() does
 * only this step, for a closer of several batchers), makes every group due, wakes the workers,
 * and waits for them to run what was queued and exit. What is still queued or running at the
 * timeout fails with a NosException (a runner still running finishes; its outputs are dropped, and
 * its requests are released only then). Each call waits, at most its own timeout, then fails what
 * is left: close is idempotent. On a worker thread (a future's dependent action) close does not
 * wait, so no worker waits for itself or for one waiting for it. Interrupting a worker
 * closes the batcher too.
 * A worker dying of a bug closes the batcher and fails its batch and all that is queued as it
 * exits; the other workers finish their batches and exit.
 */

/**
 * Gathers concurrent requests to one model replica into batches, runs them with a
 * {@link BatchRunner} and splits the outputs back per request. The settings come from the spec's
 * {@link ai.nos.Batching}: batch size, queue delay, preferred sizes, queue limit and padding.
 *
 * <p>Thread-safe: {@link #submit} and {@link #close} may be called from any thread. Futures are
 * completed on a worker thread, so their dependent actions run there and hold up that worker's
 * next batch: hand them to users only through a future completed elsewhere, as the manager does.
 */
public final class DynamicBatcher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DynamicBatcher.class);

  /** Calls per epoch of the queue choice (see "Skipping the queue"). */
  static final int EPOCH_CALLS = 1024;
  /** Epochs of the kept mode between two probes of the other. */
  static final int PROBE_EVERY = 8;
  /** The longest an epoch of the queue choice lasts once it has a few calls (QueueChoice). */
  static final long EPOCH_NANOS = 250_000_000L;

  /** How long {@link #close()} waits for the queue to drain. */
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(30);

  private final BatchLayout layout;
  private final LongSupplier clock;
  private final Counters counters = new Counters();
  private final BatchExecution execution;
  private final ReentrantLock lock = new ReentrantLock();
  /** Idle workers wait on it for a batch to fall due. */
  private final Condition due = lock.newCondition();
  private final BatchQueue queue;
  /** None without workers ({@link Builder#manual}). */
  private final Workers workers;
  /** The requests of the batches running now. */
  private final Set<Request> running = new HashSet<>();
  /** Each worker's warm-up, run before its first batch; null for none. */
  private final Runnable warmUp;
  /** Counted down by each worker once its warm-up is done (or failed). */
  private final java.util.concurrent.CountDownLatch warmed;
  /** Drops queued requests at their deadline (see "Dispatch"); null: only workers drop them. */
  private final java.util.concurrent.ScheduledExecutorService deadlines;
  /** Whether submitOrRun may run a request on its caller (see "Skipping the queue"). */
  private final boolean runOnCaller;
  /** How many batches may run at once: the workers. */
  private final int slots;
  /** Batches running now, on workers or callers; at most slots. */
  private int busy;
  /** Calls running on their callers outside the slots (QueueChoice.Mode.CALLER). */
  private int unslotted;
  /**
   * Whether synchronous callers queue or run on their own threads; null without runOnCaller, or
   * with a gate (always BATCH then: only idle callers run on their threads).
   */
  private final QueueChoice choice;
  /** Which calls may run on their callers; null: all (see Builder#runOnIdleCallerIf). */
  private final java.util.function.Predicate<Map<String, Tensor>> callerGate;
  /**
   * How many times a close gave up on what still ran (abandon with alsoRunning); a plain run on a
   * caller that sees it change while it ran fails with {@link #callerAbandonMessage}.
   */
  private long callerAbandons;
  private String callerAbandonMessage;
  /** Closers wait on it for the runs on callers to end. */
  private final Condition idle = lock.newCondition();

  private long seq;
  /** Set once; volatile so that isClosed reads it without the lock. */
  private volatile boolean closed;

  private DynamicBatcher(Builder b, int workerCount) {
    this.layout = new BatchLayout(b.spec, b.buckets);
    this.warmUp = b.warmUp;
    this.deadlines = b.deadlines;
    this.warmed = new java.util.concurrent.CountDownLatch(b.warmUp == null ? 0 : workerCount);
    this.execution = new BatchExecution(layout, b.runner, counters);
    this.clock = b.clock;
    this.runOnCaller = b.runOnCaller && workerCount > 0;
    this.callerGate = b.callerGate;
    this.choice = runOnCaller && callerGate == null
        ? new QueueChoice(b.epochCalls, PROBE_EVERY, EPOCH_NANOS) : null;
    this.slots = workerCount;
    this.queue = new BatchQueue(layout);
    this.workers = b.executor != null && workerCount > 0
        ? new Workers(b.executor, b.workerName, workerCount, this::work, lock, layout.modelId)
        : new Workers(b.threadFactory, workerCount, this::work, lock, layout.modelId);
  }

  /**
   * Returns a builder of a batcher for {@code spec}'s model that runs batches with {@code runner}.
   *
   * @throws IllegalArgumentException if the spec has no batching settings or an argument is null
   */
  public static Builder builder(ModelSpec spec, BatchRunner runner) {
    if (spec == null || runner == null) {
      throw new IllegalArgumentException("a batcher needs a spec and a runner but got "
          + (spec == null ? "no spec" : "no runner"));
    }
    if (spec.batching().isEmpty()) {
      throw new IllegalArgumentException("model '" + spec.id() + "' has no batching settings");
    }
    return new Builder(spec, runner);
  }

  /**
   * Queues a request. Its inputs must already be valid for the signature (see
   * {@link ai.nos.internal.Inputs}); they join a batch only with requests of the same dtypes and
   * the same dimensions but the batch dimension and the padded ones.
   *
   * <p>Failures the request meets later complete the future exceptionally: a full queue, at once
   * ({@link QueueFullException}; chosen over throwing so that every failure a correct caller can
   * meet under load arrives the same way), a passed deadline
   * ({@link ai.nos.DeadlineExceededException}), the model failing ({@link NosException}: the
   * runner's own if it threw one, else one with its exception as the cause), or {@link #close}
   * giving up waiting ({@link NosException}). Cancelling the future before its batch is formed
   * takes the request out of the queue; it never runs.
   *
   * @param inputs one tensor per input of the signature, by name
   * @param priority the request's level
   * @param deadlineNanos when the request must have started running, on the batcher's clock (see
   *     {@link #deadlineAfter}); {@link Long#MAX_VALUE} for none
   * @return the request's outputs by name, in the runner's order, each with its own rows only
   * @throws IllegalArgumentException if an argument is null, an input is missing, or the request
   *     has more rows than {@code batching.maxBatchSize}
   * @throws IllegalStateException if the batcher is closed
   */
  public CompletableFuture<Map<String, Tensor>> submit(Map<String, Tensor> inputs,
      Priority priority, long deadlineNanos) {
    return submit(inputs, priority, deadlineNanos, null);
  }

  /**
   * As {@link #submit(Map, Priority, long)}, and runs {@code onRelease} once the batcher has let
   * go of the request for good: it never joined a batch (refused, expired, taken out of the queue
   * by its caller or by {@link #close}), or the batch it joined has stopped running. It runs
   * exactly once if this method returns, never if it throws; for a request that ran, before its
   * future completes, and for one cancelled while its batch runs, only when the run ends, so a
   * submitter that holds a resource for the runner (the manager's lease on a model copy) keeps
   * it exactly as long as the runner may use it. It runs on whichever thread let go (a worker,
   * the caller cancelling, a closer) and must be short; what it throws is logged.
   *
   * @param onRelease null for none
   */
  public CompletableFuture<Map<String, Tensor>> submit(Map<String, Tensor> inputs,
      Priority priority, long deadlineNanos, Runnable onRelease) {
    if (inputs == null || priority == null) {
      throw new IllegalArgumentException("request to model '" + layout.modelId + "' needs "
          + (inputs == null ? "inputs" : "a priority") + " but it was null");
    }
    Tensor[] tensors = layout.tensors(inputs);
    ShapeKey key = layout.key(tensors);
    Map<String, Tensor> view = Collections.unmodifiableMap(layout.named(tensors));
    Request r;
    int waiting = -1;
    lock.lock();
    try {
      if (closed) {
        throw new IllegalStateException("model '" + layout.modelId
            + "' batcher is closed; request rejected");
      }
      r = new Request(tensors, view, priority, key, clock.getAsLong(), deadlineNanos, seq++,
          onRelease);
      counters.submitted.increment();
      r.future.whenComplete((v, e) -> abandoned(r));
      if (deadlineNanos > r.arrival) {
        if (queue.size() >= layout.maxQueueSize) {
          waiting = queue.size();
        } else if (queue.add(r)) {
          due.signal();
        }
      }
    } finally {
      lock.unlock();
    }
    if (deadlineNanos <= r.arrival) {
      execution.expire(r, r.arrival);
    } else if (waiting >= 0) {
      execution.fail(r, new QueueFullException(layout.modelId, waiting, layout.maxQueueSize),
          counters.rejected, true);
    } else if (deadlines != null && deadlineNanos != Long.MAX_VALUE && !r.future.isDone()) {
      armDeadline(r);
    }
    return r.future;
  }

  /** Drops {@code r} at its deadline if it still waits then (see "Dispatch"). */
  private void armDeadline(Request r) {
    java.util.concurrent.ScheduledFuture<?> timer;
    try {
      timer = deadlines.schedule(() -> expireIfQueued(r), r.deadline - r.arrival,
          java.util.concurrent.TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // The scheduler's owner is closing: a worker or the close drops the request.
      return;
    }
    r.future.whenComplete((v, e) -> timer.cancel(false));
  }

  /** The timer of {@link #armDeadline}: takes {@code r} out of the queue if its time is up. */
  private void expireIfQueued(Request r) {
    long now;
    boolean removed;
    lock.lock();
    try {
      now = clock.getAsLong();
      removed = r.deadline <= now && queue.remove(r);
    } finally {
      lock.unlock();
    }
    if (removed) {
      execution.expire(r, now);
    }
  }

  /**
   * As {@link #submit(Map, Priority, long, Runnable)}, but for a caller that waits for the result
   * anyway: if the batcher was built with {@link Builder#runOnCallerWhenIdle} and the request would
   * wait alone (nothing queued) while a worker slot is free, or the batcher has measured its
   * callers served faster on their own threads, runs it at once on the calling thread, without
   * the queue delay, and returns its completed future (see "Skipping the queue" atop the class).
   * Otherwise queues it as {@code submit} does.
   */
  public CompletableFuture<Map<String, Tensor>> submitOrRun(Map<String, Tensor> inputs,
      Priority priority, long deadlineNanos, Runnable onRelease) {
    if (!runOnCaller || callerGate != null) {
      return submit(inputs, priority, deadlineNanos, onRelease);
    }
    if (inputs == null || priority == null) {
      return submit(inputs, priority, deadlineNanos, onRelease);
    }
    Tensor[] tensors = layout.tensors(inputs);
    QueueChoice.Mode mode = choice.mode();
    Request r = null;
    boolean slotted = false;
    long now;
    lock.lock();
    try {
      now = clock.getAsLong();
      slotted = queue.isEmpty() && busy < slots;
      if (!closed && (slotted || mode == QueueChoice.Mode.CALLER) && deadlineNanos > now) {
        r = new Request(tensors, Collections.unmodifiableMap(layout.named(tensors)), priority,
            layout.key(tensors), now, deadlineNanos, seq++, onRelease);
        counters.submitted.increment();
        Request mine = r;
        r.future.whenComplete((v, e) -> abandoned(mine));
        running.add(r);
        if (slotted) {
          busy++;
        } else {
          unslotted++;
        }
      }
    } finally {
      lock.unlock();
    }
    if (r == null) {
      CompletableFuture<Map<String, Tensor>> queued =
          submit(inputs, priority, deadlineNanos, onRelease);
      queued.whenComplete((v, e) -> {
        if (e == null) {
          choice.record(mode, clock.getAsLong());
        }
      });
      return queued;
    }
    try {
      execute(new Taken(List.of(r), List.of(), now, slotted));
    } catch (RuntimeException | Error e) {
      // execute failed the request already; the caller meets the failure through its future.
      LOG.error("batcher of model '{}' failed running a call on its caller's thread",
          layout.modelId, e);
    }
    if (!r.future.isCompletedExceptionally()) {
      choice.record(mode, clock.getAsLong());
    }
    return r.future;
  }

  /**
   * A run (a batch on a worker or a call on its caller) gives back its slot, or its count outside
   * the slots: wakes the dispatcher if work waits, and closers once nothing runs. Under the lock.
   */
  private void endRun(boolean slotted) {
    if (slotted) {
      busy--;
    } else {
      unslotted--;
    }
    if (!queue.isEmpty()) {
      due.signal();
    }
    if (busy == 0 && unslotted == 0) {
      idle.signalAll();
    }
  }

  /**
   * The plain path of a synchronous call (see "The plain path" atop the class): if the batcher
   * was built with {@link Builder#runOnCallerWhenIdle} and {@link #submitOrRun} would run this
   * call on its caller now, runs {@code plain} (the replica's own infer, as a copy without
   * batching calls it) on the calling thread and returns its outputs; otherwise returns null at
   * once, having run nothing, and the caller goes through {@link #submitOrRun}, which decides
   * again (it also handles a closed batcher, a passed deadline and null arguments). The call
   * holds a slot, or counts as a run outside the slots, exactly as a request run on its caller
   * does, so close waits for it; it is counted in {@link #stats} as a batch of one, and measured
   * for the queue choice. The caller holds whatever {@code plain} needs (the manager's lease on
   * the copy) until this returns or throws.
   *
   * @throws IllegalArgumentException if an input is missing or has more rows than
   *     {@code batching.maxBatchSize} (nothing ran)
   * @throws NosException if {@code plain} fails (the runner's own if it threw one, else one with
   *     its failure as the cause), or if {@link #close} gave up waiting for the call while it ran
   */
  public Map<String, Tensor> runOnCaller(Map<String, Tensor> inputs, long deadlineNanos,
      Function<Map<String, Tensor>, Map<String, Tensor>> plain) {
    if (!runOnCaller || inputs == null || plain == null) {
      return null;
    }
    Tensor[] tensors = layout.tensors(inputs);
    if (callerGate != null && !callerGate.test(inputs)) {
      return null;
    }
    QueueChoice.Mode mode = choice == null ? QueueChoice.Mode.BATCH : choice.mode();
    boolean slotted;
    long abandons;
    lock.lock();
    try {
      slotted = queue.isEmpty() && busy < slots;
      if (closed || !(slotted || mode == QueueChoice.Mode.CALLER)
          || deadlineNanos <= clock.getAsLong()) {
        return null;
      }
      if (slotted) {
        busy++;
      } else {
        unslotted++;
      }
      abandons = callerAbandons;
    } finally {
      lock.unlock();
    }
    counters.submitted.increment();
    // tensors() checked the rows: 1 to maxBatchSize, an int.
    counters.batch((int) tensors[0].dim(0));
    Map<String, Tensor> out = null;
    Throwable failure = null;
    try {
      out = plain.apply(inputs);
    } catch (RuntimeException | Error e) {
      failure = e;
    }
    boolean given;
    lock.lock();
    try {
      endRun(slotted);
      given = callerAbandons != abandons;
    } finally {
      lock.unlock();
    }
    if (failure == null && given) {
      failure = new NosException(callerAbandonMessage);
    }
    if (failure != null) {
      counters.failed.increment();
      throw failure instanceof NosException n ? n : new NosException("model '" + layout.modelId
          + "' failed: " + failure, failure);
    }
    counters.completed.increment();
    if (choice != null) {
      choice.record(mode, clock.getAsLong());
    }
    return out;
  }

  /**
   * The deadline {@code timeout} from now on the batcher's clock, for {@link #submit};
   * {@link Long#MAX_VALUE} if that is further than a {@code long} reaches.
   *
   * @throws IllegalArgumentException if {@code timeout} is null or negative
   */
  public long deadlineAfter(Duration timeout) {
    if (timeout == null || timeout.isNegative()) {
      throw new IllegalArgumentException("timeout must be >= 0 but was " + timeout);
    }
    long now = clock.getAsLong();
    long deadline = now + nanos(timeout);
    return deadline < now ? Long.MAX_VALUE : deadline;
  }

  /** The nanoseconds of a non-negative duration, at most {@link Long#MAX_VALUE}. */
  private static long nanos(Duration d) {
    return d.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE : d.toNanos();
  }

  /** The counters since the batcher started, and the requests waiting now. */
  public BatcherStats stats() {
    int queued;
    lock.lock();
    try {
      queued = queue.size();
    } finally {
      lock.unlock();
    }
    return counters.snapshot(queued);
  }

  /**
   * Whether this batcher may run synchronous calls on their callers ({@link
   * Builder#runOnCallerWhenIdle}, with workers): if not, {@link #runOnCaller} always returns null.
   */
  public boolean runsOnCallers() {
    return runOnCaller;
  }

  /** The queue choice of a batcher built with runOnCallerWhenIdle, else null; for tests. */
  QueueChoice queueChoice() {
    return choice;
  }

  /** Whether {@link #close} was called (or a worker was interrupted or died). */
  public boolean isClosed() {
    return closed;
  }

  /** As {@link #close(Duration)} with {@link #DEFAULT_CLOSE_TIMEOUT}. */
  @Override
  public void close() {
    close(DEFAULT_CLOSE_TIMEOUT);
  }

  /**
   * Stops intake at once, runs the requests already queued, and waits for them, at most
   * {@code timeout}; then every request not done yet fails with a {@link NosException}. Safe to
   * call more than once and from any thread; on a worker thread it does not wait. If the
   * calling thread is interrupted while it waits, it stops waiting, fails what is left and keeps
   * its interrupt status.
   *
   * @throws IllegalArgumentException if {@code timeout} is null or negative
   */
  public void close(Duration timeout) {
    if (timeout == null || timeout.isNegative()) {
      throw new IllegalArgumentException("close timeout must be >= 0 but was " + timeout);
    }
    long start = System.nanoTime();
    long budget = nanos(timeout);
    shutdown();
    boolean interrupted = false;
    if (workers.isEmpty()) {
      for (Taken t; System.nanoTime() - start < budget && (t = take(false)) != null; ) {
        execute(t);
      }
    } else if (workers.isCurrent()) {
      return;
    } else {
      interrupted = workers.await(start, budget) || awaitCallers(start, budget);
    }
    abandon("model '" + layout.modelId + "' batcher was closed before the request finished (close "
        + (interrupted ? "was interrupted" : "waited " + timeout.toMillis() + " ms") + ")", true);
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Waits until no batch runs on a caller's thread, at most {@code budget} nanoseconds after
   * {@code start} on {@link System#nanoTime}; returns whether the wait was interrupted.
   */
  private boolean awaitCallers(long start, long budget) {
    lock.lock();
    try {
      while (busy > 0 || unslotted > 0) {
        long left = budget - (System.nanoTime() - start);
        if (left <= 0) {
          return false;
        }
        idle.awaitNanos(left);
      }
      return false;
    } catch (InterruptedException e) {
      return true;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Stops intake at once and lets the workers run what is queued, without waiting: the first step
   * of {@link #close}, for a closer of several batchers that lets them drain all at once before
   * it waits for each. Idempotent.
   */
  public void shutdown() {
    lock.lock();
    try {
      closed = true;
      due.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Fails everything still queued, and with {@code alsoRunning} every batch running (those are
   * released only when their run ends, by the worker that runs them).
   */
  private void abandon(String message, boolean alsoRunning) {
    List<Request> queued;
    List<Request> runs = List.of();
    lock.lock();
    try {
      queued = queue.removeAll();
      if (alsoRunning) {
        runs = new ArrayList<>(running);
        callerAbandonMessage = message;
        callerAbandons++;
      }
    } finally {
      lock.unlock();
    }
    NosException failure = new NosException(message);
    int failed = 0;
    for (Request r : queued) {
      failed += execution.fail(r, failure, counters.failed, true) ? 1 : 0;
    }
    for (Request r : runs) {
      failed += execution.fail(r, failure, counters.failed, false) ? 1 : 0;
    }
    if (failed > 0) {
      LOG.warn("{}: failed {} request(s)", message, failed);
    }
  }

  /**
   * Forms and runs, on the calling thread, every batch due now on the clock; for a batcher
   * without a worker. Returns the number of batches run.
   */
  int dispatchReady() {
    int batches = 0;
    for (Taken t; (t = take(false)) != null; ) {
      execute(t);
      batches += t.batch == null ? 0 : 1;
    }
    return batches;
  }

  /**
   * When the next batch is due on the clock: {@link Long#MIN_VALUE} if one is due whatever the
   * time, {@link Long#MAX_VALUE} if nothing waits.
   */
  long nextDispatch() {
    lock.lock();
    try {
      return queue.readyAt(closed);
    } finally {
      lock.unlock();
    }
  }

  /** A batch to run (null if none) and the requests found expired while forming it. */
  private record Taken(List<Request> batch, List<Request> expired, long now, boolean slotted) {}

  private void work() {
    boolean died = true;
    try {
      warmUpWorker();
      for (Taken t; (t = take(true)) != null; ) {
        execute(t);
      }
      died = false;
    } catch (RuntimeException | Error e) {
      LOG.error("batcher worker of model '{}' failed; failing what is left", layout.modelId, e);
    } finally {
      exit(died);
    }
  }

  /** Runs the warm-up task on this worker; a failure is logged, the worker serves regardless. */
  private void warmUpWorker() {
    if (warmUp == null) {
      return;
    }
    try {
      warmUp.run();
    } catch (RuntimeException e) {
      LOG.warn("warm-up of a batcher worker of model '{}' failed; it serves unwarmed: {}",
          layout.modelId, e.toString());
    } finally {
      warmed.countDown();
    }
  }

  /**
   * Waits until every worker has run its warm-up ({@link Builder#warmUp}), at most
   * {@code timeout}; returns whether they all have (true at once without a warm-up or without
   * workers). A warm-up that failed counts as run.
   *
   * @throws InterruptedException if the calling thread is interrupted while it waits
   */
  public boolean awaitWarmUp(Duration timeout) throws InterruptedException {
    return workers.isEmpty()
        || warmed.await(nanos(timeout), java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  /** Closes the batcher as a worker exits; one that died fails the queue; the last, the rest. */
  private void exit(boolean died) {
    boolean last;
    lock.lock();
    try {
      closed = true;
      due.signalAll();
      last = workers.leave();
    } finally {
      lock.unlock();
    }
    if (died || last) {
      // Not the running ones: a worker exits only after its own batch, so what still runs is a
      // call on its caller's thread, which keeps its outputs; close waits for it (awaitCallers).
      abandon("model '" + layout.modelId + "' batcher stopped before the request finished",
          false);
    }
    if (last) {
      workers.terminate();
    }
  }

  /**
   * Takes the next batch due, or expired requests met; with {@code wait}, sleeps until one is due
   * and returns null only once closed and drained; without, returns null if none is due now.
   */
  private Taken take(boolean wait) {
    lock.lock();
    try {
      for (;;) {
        if (wait && busy >= slots && !(closed && queue.isEmpty())) {
          // Every slot is taken by runs on callers: the one that ends first signals.
          try {
            due.await();
          } catch (InterruptedException e) {
            closed = true;
            due.signalAll();
          }
          continue;
        }
        long now = clock.getAsLong();
        List<Request> expired = new ArrayList<>(0);
        List<Request> batch = queue.take(now, closed, expired);
        if (batch != null || !expired.isEmpty()) {
          running.addAll(batch == null ? List.of() : batch);
          busy += batch == null ? 0 : 1;
          if (!queue.isEmpty()) {
            due.signal();
          }
          return new Taken(batch, expired, now, true);
        }
        if (!wait || (closed && queue.isEmpty())) {
          return null;
        }
        long at = queue.readyAt(closed);
        try {
          if (at == Long.MAX_VALUE) {
            due.await();
          } else {
            due.awaitNanos(at - now);
          }
        } catch (InterruptedException e) {
          closed = true;
          due.signalAll();
        }
      }
    } finally {
      lock.unlock();
    }
  }

  private void execute(Taken t) {
    for (Request r : t.expired) {
      execution.expire(r, t.now);
    }
    if (t.batch == null) {
      return;
    }
    List<Map<String, Tensor>> outputs = null;
    try {
      outputs = execution.run(t.batch);
    } catch (RuntimeException | Error e) {
      execution.failAll(t.batch, new NosException("model '" + layout.modelId
          + "' batcher stopped before the request finished: " + e, e));
      throw e;
    } finally {
      lock.lock();
      try {
        t.batch.forEach(running::remove);
        endRun(t.slotted);
      } finally {
        lock.unlock();
      }
      // Those the caller cancelled, or a close failed, while the batch ran.
      t.batch.forEach(Request::release);
    }
    // After the slot is free: a caller woken by its future calls again at once, and must find
    // the slot its batch held free (see "Skipping the queue").
    if (outputs != null) {
      execution.complete(t.batch, outputs);
    }
  }

  /**
   * Called once the future is done by anyone: if the caller did it, takes the request out of the
   * queue and releases it; a request already in a batch is released when the batch ends.
   */
  private void abandoned(Request r) {
    if (r.settle()) {
      counters.cancelled.increment();
      boolean removed;
      lock.lock();
      try {
        removed = queue.remove(r);
      } finally {
        lock.unlock();
      }
      if (removed) {
        r.release();
      }
    }
  }

  @Override
  public String toString() {
    return "DynamicBatcher{" + layout.modelId + ", queued=" + stats().queued()
        + (isClosed() ? ", closed" : "") + "}";
  }

  /**
   * Builds a {@link DynamicBatcher}. By default the clock is {@link System#nanoTime} and there is
   * one worker, a daemon thread named {@code nos-batcher-<model id>}. Not thread-safe.
   */
  public static final class Builder {
    private final ModelSpec spec;
    private final BatchRunner runner;
    private LongSupplier clock = System::nanoTime;
    private ThreadFactory threadFactory;
    private Executor executor;
    private String workerName;
    private int workers = 1;
    private BatchBuckets buckets = BatchBuckets.NONE;
    private Runnable warmUp;
    private boolean runOnCaller;
    private java.util.function.Predicate<Map<String, Tensor>> callerGate;
    private int epochCalls = EPOCH_CALLS;
    private java.util.concurrent.ScheduledExecutorService deadlines;

    private Builder(ModelSpec spec, BatchRunner runner) {
      this.spec = spec;
      this.runner = runner;
      this.threadFactory = task -> {
        Thread t = new Thread(task, "nos-batcher-" + spec.id());
        t.setDaemon(true);
        return t;
      };
    }

    /**
     * Sets the clock arrival times, queue delays and deadlines are read on, in nanoseconds; it
     * must never go backwards. The worker still sleeps in real time.
     *
     * @throws IllegalArgumentException if {@code nanoClock} is null
     */
    public Builder clock(LongSupplier nanoClock) {
      if (nanoClock == null) {
        throw new IllegalArgumentException("clock must not be null");
      }
      this.clock = nanoClock;
      return this;
    }

    /**
     * Sets how many worker threads form and run batches, so how many batches may run at once
     * (default 1). With more than one, the runner is called from several threads at once, and each
     * worker's name gets its index appended ({@code <name>-0}, {@code <name>-1}, ...).
     *
     * @throws IllegalArgumentException if {@code n} is less than 1
     */
    public Builder workers(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("workers must be >= 1 but was " + n);
      }
      this.workers = n;
      return this;
    }

    /**
     * Sets the batch sizes the runner runs: each batch is padded with zero rows up to the
     * smallest of them that holds it (see {@link BatchBuckets}); none by default.
     *
     * @throws IllegalArgumentException if {@code buckets} is null; {@link #start()} throws it if
     *     their largest is not {@code batching.maxBatchSize}
     */
    public Builder buckets(BatchBuckets buckets) {
      if (buckets == null) {
        throw new IllegalArgumentException("buckets must not be null (BatchBuckets.NONE for none)");
      }
      this.buckets = buckets;
      return this;
    }

    /**
     * Sets a task each worker runs once on its own thread before its first batch (warming the
     * per-thread state of native libraries); see {@link DynamicBatcher#awaitWarmUp}. A task that
     * throws is logged and the worker serves regardless. None by default.
     *
     * @throws IllegalArgumentException if {@code task} is null
     */
    public Builder warmUp(Runnable task) {
      if (task == null) {
        throw new IllegalArgumentException("warm-up task must not be null");
      }
      this.warmUp = task;
      return this;
    }

    /**
     * Lets {@link DynamicBatcher#submitOrRun} run a request on its caller's thread when it would
     * wait alone with a worker slot free, and, while the batcher measures that its callers are
     * served faster so, whenever a synchronous call arrives (see "Skipping the queue" atop the
     * class); off by default. Only for a runner that may run on any thread, on any number of
     * threads at once, with nothing to warm up per thread (the CPU), since callers' threads
     * never run the warm-up.
     */
    public Builder runOnCallerWhenIdle(boolean on) {
      this.runOnCaller = on;
      this.callerGate = null;
      return this;
    }

    /**
     * Lets {@link DynamicBatcher#runOnCaller} run a synchronous call on its caller's thread when
     * it would wait alone with a worker slot free and {@code gate} accepts its inputs: for a GPU
     * runner whose calls need per-thread state only sometimes (a replay of a recorded CUDA graph
     * needs none; an eager pass needs the warmed cuDNN plans of the workers), so the gate says
     * which calls the caller's thread can run as fast as a worker. Never more: no queue choice
     * (every other call queues), and submitOrRun never runs on the caller. Replaces
     * {@link #runOnCallerWhenIdle}.
     *
     * @throws NullPointerException if {@code gate} is null
     */
    public Builder runOnIdleCallerIf(java.util.function.Predicate<Map<String, Tensor>> gate) {
      this.callerGate = java.util.Objects.requireNonNull(gate, "gate");
      this.runOnCaller = true;
      return this;
    }

    /** Sets the calls per epoch of the queue choice; for tests that drive it with few calls. */
    Builder epochCalls(int calls) {
      this.epochCalls = calls;
      return this;
    }

    /**
     * Sets the factory of the worker threads.
     *
     * @throws IllegalArgumentException if {@code threadFactory} is null
     */
    public Builder threadFactory(ThreadFactory threadFactory) {
      if (threadFactory == null) {
        throw new IllegalArgumentException("threadFactory must not be null");
      }
      this.threadFactory = threadFactory;
      return this;
    }

    /**
     * Runs the workers as tasks on {@code executor}'s threads instead of threads of their own:
     * each task runs until the batcher closes, with its thread named {@code name} (plus its index
     * with several workers) meanwhile. The executor must run every task at once on a thread of
     * its own (a cached pool, say); threads given back are reused by the next batcher, so a
     * model loaded and evicted again and again does not start new threads each time.
     *
     * @throws IllegalArgumentException if an argument is null
     */
    public Builder executor(Executor executor, String name) {
      if (executor == null || name == null) {
        throw new IllegalArgumentException("executor and name must not be null");
      }
      this.executor = executor;
      this.workerName = name;
      return this;
    }

    /**
     * Drops a request still queued at its deadline then, on {@code scheduler}, instead of only
     * when a worker next forms a batch (see "Dispatch" atop the class). The timers run
     * nothing but the batcher's own bookkeeping; the request's future completes on the
     * scheduler's thread. The deadlines must be on {@link System#nanoTime} (the default clock);
     * with another clock a timer drops only what that clock says is due. Default: none.
     *
     * @throws IllegalArgumentException if {@code scheduler} is null
     */
    public Builder deadlines(java.util.concurrent.ScheduledExecutorService scheduler) {
      if (scheduler == null) {
        throw new IllegalArgumentException("deadline scheduler must not be null");
      }
      this.deadlines = scheduler;
      return this;
    }

    /**
     * Returns a batcher whose workers are running.
     *
     * @throws IllegalStateException if the thread factory returns no thread or the executor
     *     refuses a worker (the batcher is then closed)
     */
    public DynamicBatcher start() {
      DynamicBatcher batcher = new DynamicBatcher(this, workers);
      try {
        batcher.workers.start();
      } catch (IllegalStateException e) {
        batcher.close(Duration.ofSeconds(5));
        throw e;
      }
      return batcher;
    }

    /**
     * Returns a batcher without a worker: batches run only when the caller calls
     * {@link DynamicBatcher#dispatchReady()}, and {@link DynamicBatcher#close} drains on the
     * calling thread. For tests that drive the clock.
     */
    DynamicBatcher manual() {
      return new DynamicBatcher(this, 0);
    }
  }
}
