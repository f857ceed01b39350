package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.NosException;
import ai.nos.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A machine made of numbers: devices with memory, models whose size is their spec's
 * {@code memoryBytes}. It checks what a real device would suffer: memory over capacity at load
 * time, and a copy freed while a call runs on it. Tests read {@link #violations}.
 */
final class SimulatedBackend implements Backend {
  final List<DeviceInfo> devices = new ArrayList<>();
  final Map<Device, AtomicLong> live = new ConcurrentHashMap<>();
  final Map<Device, Long> capacity = new ConcurrentHashMap<>();
  final List<String> violations = new CopyOnWriteArrayList<>();
  final Map<String, AtomicInteger> loads = new ConcurrentHashMap<>();
  final Map<String, AtomicInteger> oomCalls = new ConcurrentHashMap<>();
  final AtomicInteger cacheReleases = new AtomicInteger();
  /** Loaded copies freed, over every model. */
  final AtomicInteger frees = new AtomicInteger();
  volatile long callNanos;
  /**
   * Bytes a model's measurement overstates it by, as a device-wide peak does when other models
   * run during the load; the device itself only holds the model's true bytes.
   */
  final Map<String, Long> measurementNoise = new ConcurrentHashMap<>();
  volatile String failLoadOf;
  /** A device that has gone: loads and calls there fail, as after an Xid error. */
  volatile Device lostDevice;
  /** The inputs map the latest call of any copy was given. */
  volatile Map<String, Tensor> lastInputs;
  /** Calls of this model wait for the gate to open: a model that hangs. */
  volatile String gatedModel;
  /** Calls of a model wait for its latch here while there is one: traffic held in flight. */
  final Map<String, java.util.concurrent.CountDownLatch> gates = new ConcurrentHashMap<>();
  volatile java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
  /** Calls started over every model (warm-ups included), and calls running now. */
  final AtomicInteger callCount = new AtomicInteger();
  final AtomicInteger running = new AtomicInteger();
  /** The most calls that ran at once, and the most of them on threads not NOS's call threads. */
  final AtomicInteger mostRunning = new AtomicInteger();
  final AtomicInteger mostOnCallers = new AtomicInteger();
  private final AtomicInteger onCallers = new AtomicInteger();
  /** The next call of a model throws this (an OutOfMemoryError, say), once. */
  final Map<String, Error> nextError = new ConcurrentHashMap<>();
  /** The next load of a model throws this, once. */
  final Map<String, Error> nextLoadError = new ConcurrentHashMap<>();
  /** The batch buckets a model's copies report; none unless set. */
  final Map<String, ai.nos.internal.batch.BatchBuckets> buckets = new ConcurrentHashMap<>();
  /** Every call of a copy: its model, rows, thread, and whether it was a worker's warm-up. */
  final List<Call> calls = new CopyOnWriteArrayList<>();
  /** Warm-ups of this model wait for it to open. */
  volatile java.util.concurrent.CountDownLatch warmUpGate;
  /** Loads wait for it to open while there is one; each counts down {@link #loadsStarted}. */
  volatile java.util.concurrent.CountDownLatch loadGate;
  final java.util.concurrent.Semaphore loadsStarted = new java.util.concurrent.Semaphore(0);

  /** Models whose copies answer runsColdThreadsWarm true (a GPU copy's recorded graphs). */
  final Set<String> replays = ConcurrentHashMap.newKeySet();
  /** Models whose copies' runsColdThreadsWarm throws (a broken replica). */
  final Set<String> replayChecksThrow = ConcurrentHashMap.newKeySet();

  record Call(String model, int rows, String thread, boolean warmUp) {}

  /** Every {@link Replica#warmUpThread} run: model and thread (even without buckets). */
  final List<Call> threadWarmUps = new CopyOnWriteArrayList<>();
  /**
   * Per device: bytes its libraries hold once anything ran there (cuBLAS/cuDNN state), counted
   * on {@link #live} by the first load there and reported by {@link #libraryBytes}; none unless
   * set.
   */
  final Map<Device, Long> libraries = new ConcurrentHashMap<>();
  private final Map<Device, Boolean> librariesMade = new ConcurrentHashMap<>();

  /** The backend's estimate of a model before it is measured, when it differs from its size. */
  final Map<String, Long> estimates = new ConcurrentHashMap<>();
  /** A model's true size, for specs that state none. */
  final Map<String, Long> realBytes = new ConcurrentHashMap<>();

  /** Whether evicted copies park in host memory ({@link Replica#park()}). */
  volatile boolean parks;
  /** Host bytes of the parked copies not yet closed or brought back. */
  final AtomicLong hostLive = new AtomicLong();
  /** Parked copies brought back, per model; its loads count only loads from the artifact. */
  final Map<String, AtomicInteger> unparks = new ConcurrentHashMap<>();
  /** Why a model's parked copy may not come back (its file changed), or absent. */
  final Map<String, String> staleReasons = new ConcurrentHashMap<>();
  /** The next unpark of a model fails with this, once. */
  final Map<String, RuntimeException> nextUnparkFailure = new ConcurrentHashMap<>();
  /** The devices each model's copies came back on, in order. */
  final List<String> unparkedOn = new CopyOnWriteArrayList<>();

  SimulatedBackend device(Device device, long bytes) {
    devices.add(new DeviceInfo(device, device.isCuda() ? "sim-gpu" : "cpu", bytes));
    live.put(device, new AtomicLong());
    capacity.put(device, bytes);
    return this;
  }

  @Override
  public List<DeviceInfo> devices() {
    return devices;
  }

  @Override
  public Replica load(ModelSpec spec, DeviceInfo device) {
    java.util.concurrent.CountDownLatch held = loadGate;
    if (held != null) {
      loadsStarted.release();
      try {
        held.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (device.device().equals(lostDevice)) {
      throw new NosException("CUDA error: device " + device.device() + " is lost (simulated)");
    }
    if (spec.id().equals(failLoadOf)) {
      throw new ModelLoadException("model '" + spec.id() + "': artifact file x.pt is corrupt");
    }
    Error error = nextLoadError.remove(spec.id());
    if (error != null) {
      throw error;
    }
    long bytes = realBytes.containsKey(spec.id()) ? realBytes.get(spec.id())
        : spec.memoryBytes().orElseThrow();
    long libs = libraries.getOrDefault(device.device(), 0L);
    if (libs > 0 && librariesMade.putIfAbsent(device.device(), true) == null) {
      live.get(device.device()).addAndGet(libs);
    }
    long now = live.get(device.device()).addAndGet(bytes);
    if (now > capacity.get(device.device())) {
      violations.add("device " + device.device() + " over capacity: " + now);
    }
    loads.computeIfAbsent(spec.id(), k -> new AtomicInteger()).incrementAndGet();
    return new SimReplica(spec, device.device(), bytes);
  }

  @Override
  public Replica unpark(Parked parked, DeviceInfo device) {
    SimParked p = (SimParked) parked;
    if (p.closed) {
      violations.add("unpark of a closed parked copy of " + p.spec.id());
    }
    RuntimeException failure = nextUnparkFailure.remove(p.spec.id());
    if (failure != null) {
      throw failure;
    }
    long now = live.get(device.device()).addAndGet(p.bytes);
    if (now > capacity.get(device.device())) {
      violations.add("device " + device.device() + " over capacity: " + now);
    }
    p.gone = true;
    hostLive.addAndGet(-p.bytes);
    unparks.computeIfAbsent(p.spec.id(), k -> new AtomicInteger()).incrementAndGet();
    unparkedOn.add(p.spec.id() + "@" + device.device());
    return new SimReplica(p.spec, device.device(), p.bytes);
  }

  /** A copy in host memory: its bytes count on {@link #hostLive} until closed or brought back. */
  final class SimParked implements Parked {
    final ModelSpec spec;
    final long bytes;
    volatile boolean closed;
    volatile boolean gone;

    SimParked(ModelSpec spec, long bytes) {
      this.spec = spec;
      this.bytes = bytes;
    }

    @Override
    public long hostBytes() {
      return bytes;
    }

    @Override
    public String staleReason() {
      return staleReasons.get(spec.id());
    }

    @Override
    public void close() {
      if (closed || gone) {
        violations.add("parked copy of " + spec.id() + " closed after it was "
            + (closed ? "closed" : "brought back"));
      }
      closed = true;
      hostLive.addAndGet(-bytes);
    }
  }

  @Override
  public long estimateBytes(ModelSpec spec) {
    Long e = estimates.get(spec.id());
    return e != null ? e : spec.memoryBytes().orElse(1);
  }

  @Override
  public String footprintKey(ModelSpec spec, DeviceInfo device) {
    return spec.id() + "|" + device.name();
  }

  @Override
  public void addLibraryBytes(DeviceInfo device, long bytes) {
    libraries.merge(device.device(), bytes, Long::sum);
    librariesMade.put(device.device(), true);
  }

  @Override
  public long libraryBytes(DeviceInfo device) {
    return librariesMade.containsKey(device.device()) ? libraries.get(device.device()) : 0;
  }

  @Override
  public long allocatedBytes(DeviceInfo device) {
    return live.get(device.device()).get();
  }

  @Override
  public void releaseCache(DeviceInfo device) {
    cacheReleases.incrementAndGet();
  }

  @Override
  public boolean isOutOfMemory(Throwable failure) {
    return failure.getMessage() != null && failure.getMessage().contains("out of memory");
  }

  /** Makes the next {@code n} calls of a model fail with an out-of-memory error. */
  void oom(String id, int n) {
    oomCalls.put(id, new AtomicInteger(n));
  }

  final class SimReplica implements Replica {
    final ModelSpec spec;
    final Device device;
    final long bytes;
    final AtomicInteger inFlight = new AtomicInteger();
    volatile boolean closed;

    SimReplica(ModelSpec spec, Device device, long bytes) {
      this.spec = spec;
      this.device = device;
      this.bytes = bytes;
    }

    @Override
    public ai.nos.internal.batch.BatchBuckets batchBuckets() {
      return buckets.getOrDefault(spec.id(), ai.nos.internal.batch.BatchBuckets.NONE);
    }

    /** As a GPU copy does: every bucket, largest first, on the calling thread. */
    @Override
    public void warmUpThread() {
      threadWarmUps.add(new Call(spec.id(), 0, Thread.currentThread().getName(), true));
      java.util.concurrent.CountDownLatch g = warmUpGate;
      if (g != null) {
        try {
          g.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      int[] sizes = batchBuckets().sizes();
      for (int i = sizes.length - 1; i >= 0; i--) {
        calls.add(new Call(spec.id(), sizes[i], Thread.currentThread().getName(), true));
      }
    }

    @Override
    public long warmUpNanos() {
      return buckets.containsKey(spec.id()) ? 1_000_000 : 0;
    }

    @Override
    public boolean runsColdThreadsWarm(Map<String, Tensor> inputs) {
      if (replayChecksThrow.contains(spec.id())) {
        throw new IllegalStateException("replay check of " + spec.id() + " failed (simulated)");
      }
      return replays.contains(spec.id());
    }

    @Override
    public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
      lastInputs = inputs;
      calls.add(new Call(spec.id(), (int) inputs.values().iterator().next().dim(0),
          Thread.currentThread().getName(), false));
      inFlight.incrementAndGet();
      callCount.incrementAndGet();
      running.incrementAndGet();
      mostRunning.accumulateAndGet(running.get(), Math::max);
      boolean onCaller = !Thread.currentThread().getName().startsWith("nos-call-");
      if (onCaller) {
        mostOnCallers.accumulateAndGet(onCallers.incrementAndGet(), Math::max);
      }
      try {
        Error error = nextError.remove(spec.id());
        if (error != null) {
          throw error;
        }
        if (closed) {
          violations.add("call on freed copy of " + spec.id());
        }
        if (device.equals(lostDevice)) {
          throw new NosException("CUDA error: device " + device + " is lost (simulated)");
        }
        java.util.concurrent.CountDownLatch held = gates.get(spec.id());
        if (held != null) {
          try {
            held.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        if (spec.id().equals(gatedModel)) {
          try {
            gate.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        AtomicInteger oom = oomCalls.get(spec.id());
        if (oom != null && oom.getAndDecrement() > 0) {
          throw new NosException("CUDA out of memory (simulated) in " + spec.id());
        }
        long t = callNanos;
        if (t > 0) {
          long end = System.nanoTime() + t;
          while (System.nanoTime() < end) {
            Thread.onSpinWait();
          }
        }
        if (closed) {
          violations.add("copy of " + spec.id() + " freed during a call");
        }
        // One output row per input row, so that batches split back per call.
        int rows = (int) inputs.values().iterator().next().dim(0);
        float[] y = new float[rows];
        long[] where = new long[rows];
        java.util.Arrays.fill(y, bytes);
        java.util.Arrays.fill(where, device.index().orElse(-1));
        // "echo": each row's first input value, so that a test sees its own rows come back.
        Tensor x = inputs.values().iterator().next();
        float[] echo = new float[rows];
        if (x.dtype() == ai.nos.DType.FLOAT32 && rows > 0) {
          float[] v = x.toFloatArray();
          for (int r = 0; r < rows; r++) {
            echo[r] = v[(int) (r * (v.length / rows))];
          }
        }
        return Map.of("y", Tensor.of(y, rows), "device", Tensor.of(where, rows),
            "echo", Tensor.of(echo, rows));
      } finally {
        running.decrementAndGet();
        if (onCaller) {
          onCallers.decrementAndGet();
        }
        inFlight.decrementAndGet();
      }
    }

    @Override
    public long footprintBytes() {
      return bytes + measurementNoise.getOrDefault(spec.id(), 0L);
    }

    @Override
    public Parked park() {
      if (!parks) {
        return null;
      }
      if (closed) {
        violations.add("park of a freed copy of " + spec.id());
      }
      if (inFlight.get() > 0) {
        violations.add("copy of " + spec.id() + " parked with " + inFlight.get() + " calls");
      }
      closed = true;
      live.get(device).addAndGet(-bytes);
      hostLive.addAndGet(bytes);
      return new SimParked(spec, bytes);
    }

    @Override
    public void close() {
      if (closed) {
        violations.add("copy of " + spec.id() + " freed twice");
      }
      if (inFlight.get() > 0) {
        violations.add("copy of " + spec.id() + " freed with " + inFlight.get() + " calls");
      }
      closed = true;
      frees.incrementAndGet();
      live.get(device).addAndGet(-bytes);
    }
  }
}
