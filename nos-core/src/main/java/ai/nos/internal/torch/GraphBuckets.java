package ai.nos.internal.torch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * A model's forward pass as replays of recorded fixed-shape programs, one per batch-size bucket
 * (CUDA graphs on a GPU): a call of {@code n} rows copies its inputs into the first {@code n} rows
 * of the smallest bucket that holds them, replays that bucket's program, and reads the first
 * {@code n} rows of its outputs. The padding rows keep whatever an earlier call left there; the
 * model's rows must not depend on each other (true of inference-mode models without batch-wide
 * operations; the load checks a padded call against the eager model).
 *
 * <h2>Concurrency</h2>
 * One lock serializes the calls: the buckets' programs share one memory pool (the largest is
 * recorded first and the others reuse its free blocks, so the set costs about as much as the
 * largest bucket alone), so two replays must never overlap, and a bucket's static outputs are
 * only valid until the next replay. A call holds the lock from its copy into the static inputs
 * until its outputs are copied out to new tensors; everything runs on the calling thread's
 * current stream, so the next holder's writes are ordered after the copy. Calls that do not fit
 * a bucket ({@link #runIfFits} returns null) run eagerly without the lock. {@link #close} takes
 * the lock (and the record lock, below), so it waits for a call or a recording in progress; the
 * owning model closes it only after its last call.
 *
 * <h2>Recorded at load, or lazily</h2>
 * {@link #record} records every bucket at once, largest first (a load: the buckets are then
 * checked against the eager model). {@link #lazy} records none: a bucket is recorded by the first
 * call that fits it, and a bucket no call fits is never recorded. That is how a copy swapped back
 * from the host tier gets its graphs again ({@link ParkedModel#restore}): the call
 * that swaps it back pays one recording of one bucket instead of every bucket's, and the check
 * is not repeated (the module, its weights, moved back bit for bit, and its input shapes are the
 * ones whose graphs the load checked). A bucket whose recording fails is marked eager for good
 * (its calls run through the module; the failure is reported once to the caller of
 * {@link #lazy}); the other buckets are unaffected. The price of laziness is the order: a small
 * bucket recorded before a larger one cannot hand the larger one its pool blocks, so the pool
 * may grow past the largest bucket's needs (by at most the smaller buckets' own).
 *
 * <p>Recording takes {@link #recordLock}, never {@link #lock}: a capture only records (it runs
 * no kernel on the pool's blocks), so replays of the buckets already recorded go on meanwhile,
 * and a thread that holds the replay lock never waits for a recording. Order, where both are
 * taken ({@link #close}): the record lock, then the replay lock. The record lock also makes a
 * bucket recorded once when two calls race for it (checked again under the lock), and keeps two
 * captures of one copy's pool from interleaving (CUDA's recorder also takes its device's side
 * stream, {@link CudaGraphs}).
 *
 * <h2>Native memory</h2>
 * The static tensors and the programs live until {@link #close}. They are made inside a private
 * {@link PointerScope} and kept with {@code retainReference}, so an outer scope on the loading
 * thread cannot free them.
 */
final class GraphBuckets implements AutoCloseable {

  /** A recorded program: replaying it reruns the forward pass on the static inputs. */
  interface Program extends AutoCloseable {
    /** Runs the program on the calling thread's current stream; returns without waiting. */
    void replay();

    @Override
    void close();
  }

  /**
   * What recording one bucket gave: the program and the static outputs each replay rewrites.
   * The output handles may be references valid only in the recording's scope; the buckets keep
   * handles of their own.
   */
  record Recorded(Program program, List<Tensor> outputs) {}

  /** Records the forward pass on fixed inputs; the inputs' first dimension is the bucket size. */
  interface Recorder {
    Recorded record(List<Tensor> staticInputs);
  }

  /** How one input looks: its shape without the batch dimension, and how to allocate it. */
  record InputShape(long[] rest, Function<long[], Tensor> allocate) {}

  /** A recorded bucket: its static inputs and what recording gave. */
  private record Filled(List<Tensor> inputs, Recorded recorded) {}

  /** Marks a bucket whose lazy recording failed: its calls run eagerly. */
  private static final Filled EAGER = new Filled(List.of(), null);

  private static final class Bucket {
    final int size;
    /** Null until recorded; then {@link #EAGER} or the recording. Written under recordLock. */
    volatile Filled filled;

    Bucket(int size, Filled filled) {
      this.size = size;
      this.filled = filled;
    }
  }

  /** Told once about each bucket whose lazy recording failed: its size and the failure. */
  interface FailureListener {
    void failed(int size, RuntimeException failure);
  }

  private final ReentrantLock lock = new ReentrantLock();
  private final ReentrantLock recordLock = new ReentrantLock();
  private final Bucket[] buckets; // ascending sizes
  private final List<long[]> rest;
  /** For lazy recording: the inputs' shapes and the recorder; null when all were recorded. */
  private final List<InputShape> shapes;
  private final Recorder recorder;
  private final FailureListener onFailure;
  private final AutoCloseable shared;
  private boolean closed; // guarded by lock and recordLock (written under both)

  private GraphBuckets(Bucket[] buckets, List<InputShape> shapes, Recorder recorder,
      FailureListener onFailure, AutoCloseable shared) {
    this.buckets = buckets;
    this.rest = new ArrayList<>();
    shapes.forEach(in -> rest.add(in.rest().clone()));
    this.shapes = recorder == null ? null : List.copyOf(shapes);
    this.recorder = recorder;
    this.onFailure = onFailure;
    this.shared = shared;
  }

  /**
   * Allocates static inputs for each bucket size and records each bucket, largest first. If a
   * recording fails, the buckets recorded so far are freed and the failure propagates.
   *
   * @param sizes the bucket sizes, each {@code >= 1}, no repeats
   * @param shared what the recordings share (a memory pool), closed after the buckets are freed,
   *     also when recording fails
   */
  static GraphBuckets record(int[] sizes, List<InputShape> inputs, Recorder recorder,
      AutoCloseable shared) {
    int[] ascending = ascending(sizes);
    Bucket[] made = new Bucket[ascending.length];
    try {
      for (int i = ascending.length - 1; i >= 0; i--) {
        made[i] = new Bucket(ascending[i], recordOne(ascending[i], inputs, recorder));
      }
    } catch (RuntimeException | Error e) {
      for (Bucket b : made) {
        if (b != null) {
          free(b.filled);
        }
      }
      closeQuietly(shared, e);
      throw e;
    }
    return new GraphBuckets(made, inputs, null, null, shared);
  }

  /**
   * Buckets of the given sizes, none recorded yet: each is recorded by the first call that fits
   * it (see the class comment). Nothing is allocated until then.
   *
   * @param sizes the bucket sizes, each {@code >= 1}, no repeats
   * @param onFailure told about a bucket whose recording failed (on the calling thread, which
   *     then runs eagerly); must not throw
   * @param shared what the recordings share, closed by {@link #close} after the buckets
   */
  static GraphBuckets lazy(int[] sizes, List<InputShape> inputs, Recorder recorder,
      FailureListener onFailure, AutoCloseable shared) {
    int[] ascending = ascending(sizes);
    Bucket[] made = new Bucket[ascending.length];
    for (int i = 0; i < ascending.length; i++) {
      made[i] = new Bucket(ascending[i], null);
    }
    return new GraphBuckets(made, inputs, recorder, onFailure, shared);
  }

  private static int[] ascending(int[] sizes) {
    int[] ascending = sizes.clone();
    Arrays.sort(ascending);
    for (int i = 0; i < ascending.length; i++) {
      if (ascending[i] < 1 || (i > 0 && ascending[i] == ascending[i - 1])) {
        throw new IllegalArgumentException("bucket sizes must be distinct and >= 1 but were "
            + Arrays.toString(sizes));
      }
    }
    return ascending;
  }

  private static Filled recordOne(int size, List<InputShape> inputs, Recorder recorder) {
    try (PointerScope scope = new PointerScope()) {
      List<Tensor> statics = new ArrayList<>();
      for (InputShape in : inputs) {
        long[] shape = new long[in.rest().length + 1];
        shape[0] = size;
        System.arraycopy(in.rest(), 0, shape, 1, in.rest().length);
        Tensor t = in.allocate().apply(shape);
        t.retainReference();
        statics.add(t);
      }
      Recorded recorded;
      try {
        recorded = recorder.record(statics);
      } catch (RuntimeException | Error e) {
        statics.forEach(Tensor::releaseReference);
        throw e;
      }
      // Own handles on the outputs: a recorder's may be references into a result the scope
      // frees (IValue.toTensor() returns one). The copies share the outputs' storage.
      List<Tensor> owned = new ArrayList<>();
      for (Tensor o : recorded.outputs()) {
        Tensor handle = new Tensor(o);
        handle.retainReference();
        owned.add(handle);
      }
      return new Filled(List.copyOf(statics),
          new Recorded(recorded.program(), List.copyOf(owned)));
    }
  }

  /** The bucket sizes, ascending. */
  int[] sizes() {
    int[] s = new int[buckets.length];
    for (int i = 0; i < s.length; i++) {
      s[i] = buckets[i].size;
    }
    return s;
  }

  /**
   * The rows {@code n} of a call that can replay a bucket, or -1: as many inputs as recorded,
   * each with the recorded shape apart from the first dimension, the same first dimension
   * {@code n} for all, and {@code 1 <= n <=} the largest bucket.
   */
  private long rows(List<Tensor> inputs) {
    return rows(inputs.size(), i -> inputs.get(i).dim(), (i, d) -> inputs.get(i).size(d));
  }

  /** A call's input dimensions: {@code size(input, dim)}. */
  private interface Sizes {
    long size(int input, int dim);
  }

  /** {@link #rows(List)} of {@code count} inputs whose ranks and sizes the functions give. */
  private long rows(int count, java.util.function.IntToLongFunction rank, Sizes sizes) {
    if (count != rest.size()) {
      return -1;
    }
    long n = -1;
    for (int i = 0; i < count; i++) {
      long[] r = rest.get(i);
      if (rank.applyAsLong(i) != r.length + 1) {
        return -1;
      }
      long rows = sizes.size(i, 0);
      if (n == -1) {
        n = rows;
      } else if (rows != n) {
        return -1;
      }
      for (int d = 0; d < r.length; d++) {
        if (sizes.size(i, d + 1) != r[d]) {
          return -1;
        }
      }
    }
    return n >= 1 && n <= buckets[buckets.length - 1].size ? n : -1;
  }

  /** The smallest bucket that holds {@code n} rows; {@code n} is one {@link #rows} returned. */
  private Bucket bucketFor(long n) {
    for (Bucket b : buckets) {
      if (b.size >= n) {
        return b;
      }
    }
    throw new AssertionError(n + " rows past the largest bucket");
  }

  /**
   * Whether inputs of these shapes fit a bucket already recorded (not eager, not to be recorded
   * lazily), so that {@link #runIfFits} would replay it at once.
   */
  boolean replaysRecorded(List<long[]> shapes) {
    if (closed) {
      return false;
    }
    long n = rows(shapes.size(), i -> shapes.get(i).length, (i, d) -> shapes.get(i)[d]);
    if (n < 0) {
      return false;
    }
    Filled f = bucketFor(n).filled;
    return f != null && f != EAGER;
  }

  /**
   * Replays the smallest bucket that holds the inputs' rows and hands the first {@code n} rows
   * of each output to {@code read}, under the lock; {@code read} must copy what it keeps (the
   * views it gets are rewritten by the next replay) and must not return null. Returns null, and
   * does nothing, when the inputs fit no bucket ({@link #rows}): the caller runs them eagerly.
   *
   * @throws IllegalStateException if closed
   */
  <R> R runIfFits(List<Tensor> inputs, Function<List<Tensor>, R> read) {
    long n = rows(inputs);
    if (n < 0) {
      return null;
    }
    Bucket bucket = bucketFor(n);
    Filled filled = bucket.filled;
    if (filled == null) {
      filled = recordLazily(bucket);
    }
    if (filled == EAGER) {
      return null;
    }
    lock.lock();
    try {
      if (closed) {
        throw new IllegalStateException("the recorded graphs are closed");
      }
      for (int i = 0; i < inputs.size(); i++) {
        Tensor target = bucket.size == n ? filled.inputs().get(i)
            : filled.inputs().get(i).narrow(0, 0, n);
        target.copy_(inputs.get(i));
      }
      filled.recorded().program().replay();
      List<Tensor> outs = new ArrayList<>();
      for (Tensor o : filled.recorded().outputs()) {
        outs.add(bucket.size == n ? o : o.narrow(0, 0, n));
      }
      return read.apply(outs);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Records a lazy bucket on the calling thread, under the record lock only (see the class
   * comment); a failure is reported and marks the bucket eager.
   */
  private Filled recordLazily(Bucket bucket) {
    recordLock.lock();
    try {
      Filled filled = bucket.filled;
      if (filled != null) {
        return filled; // another call recorded it while this one waited
      }
      if (closed) {
        throw new IllegalStateException("the recorded graphs are closed");
      }
      try {
        filled = recordOne(bucket.size, shapes, recorder);
      } catch (RuntimeException e) {
        onFailure.failed(bucket.size, e);
        filled = EAGER;
      }
      bucket.filled = filled;
      return filled;
    } finally {
      recordLock.unlock();
    }
  }

  /** The sizes of the buckets recorded so far, ascending (all of them unless {@link #lazy}). */
  int[] recordedSizes() {
    return Arrays.stream(buckets).filter(b -> b.filled != null && b.filled != EAGER)
        .mapToInt(b -> b.size).toArray();
  }

  /**
   * Frees the programs and the static tensors; waits for a call or a recording in progress.
   * Idempotent.
   */
  @Override
  public void close() {
    recordLock.lock();
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      for (Bucket b : buckets) {
        free(b.filled);
      }
      shared.close();
    } catch (Exception e) {
      throw new IllegalStateException("cannot free the recorded graphs' shared memory: "
          + e.getMessage(), e);
    } finally {
      lock.unlock();
      recordLock.unlock();
    }
  }

  private static void closeQuietly(AutoCloseable c, Throwable cause) {
    try {
      c.close();
    } catch (Exception e) {
      cause.addSuppressed(e);
    }
  }

  private static void free(Filled f) {
    if (f == null || f == EAGER) {
      return;
    }
    f.recorded().outputs().forEach(Tensor::releaseReference);
    f.inputs().forEach(Tensor::releaseReference);
    f.recorded().program().close();
  }
}
