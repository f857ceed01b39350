package ai.nos.internal.generate;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.internal.torch.CudaStatus;
import ai.nos.internal.torch.StepGraphs;
import ai.nos.internal.torch.TorchRuntime;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;

/**
 * Benchmark-only access to the pieces of the generation engine's decode step, which are
 * package-private in nos-core, so that {@code ai.nos.benchmarks.gpu.DecodeStepProbe} times NOS's
 * own code: a {@link DecoderModel}, its {@link KvCache} (and {@link CrossCache} for Whisper), the
 * decode step recorded per bucket by GenerationEngine.recordDecode, the {@link Sampler}
 * (greedy rows) and the cache's seen-token update. One step here is what GenerationEngine.launch
 * queues for a greedy request (the packed inputs through pinned memory, the replay, the sampler,
 * the ids copied into pinned memory behind an event), without the engine's bookkeeping. It
 * shares nos-core's package from the benchmarks jar, which works on the class path only.
 *
 * <p>Not thread-safe: one caller, as the engine's scheduler (which should have run
 * TorchRuntime.prepareEngineThread first). {@link #close()} frees the graphs and the models.
 */
public final class DecodeSteps implements AutoCloseable {
  private final DecoderModel model;
  private final KvCache cache;
  private final CrossCache cross;
  private final Sampler sampler;
  private final StepGraphs graphs;
  private final boolean cuda;

  /**
   * Loads {@code file} (a decoder export of make_tiny_llama.py or make_whisper.py) with a cache of
   * {@code slots} sequences of {@code length} positions; on CUDA records the decode step for the
   * engine's buckets as the engine does (its executor settings included).
   */
  public DecodeSteps(Path file, Device device, Precision precision, int slots, int length) {
    model = DecoderModel.load("step-probe", file, device, precision);
    cuda = device.isCuda();
    cache = new KvCache(model, slots, length, cuda);
    cross = model.crossAttention() ? new CrossCache(model, cache.rows()) : null;
    sampler = new Sampler(model.vocabSize(), model.device());
    // the engine's own recording (null, with its warning, if the step cannot be captured)
    graphs = cuda ? GenerationEngine.recordDecode("step-probe", model, cache, cross) : null;
  }

  /** The bucket sizes the step is recorded for (empty off CUDA). */
  public int[] buckets() {
    return graphs == null ? new int[0] : graphs.sizes();
  }

  public int vocab() {
    return model.vocabSize();
  }

  private Tensor step(Tensor ids, Tensor positions, Tensor slots) {
    return model.decodeStep(ids, positions, slots, cache.keys(), cache.values(),
        cross == null ? null : cross.keys(), cross == null ? null : cross.values());
  }

  /**
   * The inputs of a step of {@code b} rows in slots 0..b-1 at {@code position}: [3, b] longs
   * (ids 1, positions, slots) uploaded as the engine does (Sampler.longs: pinned, asynchronous).
   */
  private List<Tensor> inputs(int b, int position) {
    long[] packed = new long[3 * b];
    for (int i = 0; i < b; i++) {
      packed[i] = 1;
      packed[b + i] = position;
      packed[2 * b + i] = i;
    }
    Tensor all = Sampler.longs(packed, new long[] {3, b}, model.torchDevice());
    return List.of(all.select(0, 0).view(b, 1), all.select(0, 1).view(b, 1), all.select(0, 2));
  }

  private Sampler.Rows greedy(int b) {
    Sampler.Rows rows = new Sampler.Rows(b);
    for (int i = 0; i < b; i++) {
      rows.set(i, 0f, 0, 1f, 1f, 17L, 0, model.vocabSize());
    }
    return rows;
  }

  /**
   * Milliseconds per step of {@code n} replays of the recorded step for {@code b} rows (a bucket
   * size) back to back, waited for once at the end (eager steps off CUDA): the step's device
   * time when the host launches faster than the device runs.
   */
  public double replayMs(int b, int position, int n) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      List<Tensor> in = inputs(b, position);
      run(in); // the first run of this size outside the window
      TorchRuntime.synchronize(model.device());
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        try (PointerScope s = new PointerScope()) {
          run(in);
        }
      }
      TorchRuntime.synchronize(model.device());
      return (System.nanoTime() - t0) / 1e6 / n;
    }
  }

  private Tensor run(List<Tensor> in) {
    Tensor out = graphs == null ? null : graphs.run(in, o -> o.get(0).clone());
    return out != null ? out : step(in.get(0), in.get(1), in.get(2));
  }

  /** How {@link #stepsMs} waits for a step's ids. */
  public enum Wait {
    /** Once, after the last step: the device's time for the engine's work of a step. */
    END,
    /** After each step, before the next is launched: the unpipelined engine. */
    EACH,
    /**
     * For step i after step i+1 is launched, whose ids are step i's draws: the pipelined engine.
     */
    AHEAD
  }

  /**
   * A step queued and not read: its ids on the device, in pinned memory, and its event; the two
   * tensors outlive the launch's scope (one reference each) until {@link #release}.
   */
  private record Queued(Tensor next, Tensor host, CUevent_st done) {
    void release() {
      next.releaseReference();
      host.releaseReference();
    }
  }

  /**
   * Milliseconds per step of {@code n} greedy steps for {@code b} rows as the engine queues them,
   * waiting as {@code wait} says; {@code launchMs[0]} gets the host's milliseconds per step in
   * the launches alone. Returns the last step's ids in {@code last} (b of them).
   */
  public double stepsMs(int b, int position, int n, Wait wait, double[] launchMs, long[] last) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Sampler.Rows rows = greedy(b);
      List<Queued> pending = new ArrayList<>();
      for (int i = 0; i < 3; i++) { // outside the window: first pinned blocks, first launches
        read(launch(b, position, rows, null));
      }
      TorchRuntime.synchronize(model.device());
      long launching = 0;
      long t0 = System.nanoTime();
      Queued previous = null;
      for (int i = 0; i < n; i++) {
        long l0 = System.nanoTime();
        Queued q = launch(b, position, rows, wait == Wait.AHEAD ? previous : null);
        launching += System.nanoTime() - l0;
        switch (wait) {
          case END -> pending.add(q);
          case EACH -> read(q, last);
          case AHEAD -> {
            if (previous != null) {
              read(previous, last);
            }
          }
        }
        previous = q;
      }
      if (wait == Wait.AHEAD) {
        read(previous, last);
      }
      TorchRuntime.synchronize(model.device());
      for (Queued q : pending) {
        read(q, last);
      }
      double ms = (System.nanoTime() - t0) / 1e6 / n;
      launchMs[0] = launching / 1e6 / n;
      return ms;
    }
  }

  /** One step in a scope of its own; what it returns holds its two tensors (see Queued). */
  private Queued launch(int b, int position, Sampler.Rows rows, Queued previous) {
    try (PointerScope scope = new PointerScope()) {
      Queued q = launchInScope(b, position, rows, previous);
      q.next.retainReference();
      q.host.retainReference();
      return q;
    }
  }

  private Queued launchInScope(int b, int position, Sampler.Rows rows, Queued previous) {
    List<Tensor> in = inputs(b, position);
    if (previous != null) {
      in.get(0).copy_(previous.next.view(b, 1));
    }
    Tensor slots = in.get(2);
    Tensor next = graphs == null ? null
        : graphs.run(in, out -> choose(out.get(0).narrow(0, 0, b), slots, rows));
    if (next == null) {
      next = choose(step(in.get(0), in.get(1), slots).narrow(0, 0, b), slots, rows);
    }
    GenerationEngine.Readback back = GenerationEngine.Readback.of(next, model.device());
    return new Queued(next, back.host(), back.done());
  }

  private Tensor choose(Tensor logits, Tensor slots, Sampler.Rows rows) {
    Tensor next = sampler.choose(logits, null, rows);
    cache.markSeen(slots, next);
    return next;
  }

  private static void read(Queued q) {
    read(q, null);
  }

  /** Waits for the step's ids, copies them into {@code out} (if not null), frees the step. */
  private static void read(Queued q, long[] out) {
    if (q.done != null) {
      CudaStatus.check(cudart.cudaEventSynchronize(q.done), "wait for a step");
      cudart.cudaEventDestroy(q.done);
    }
    if (out != null) {
      new LongPointer(q.host.data_ptr()).get(out, 0, Math.min(out.length, (int) q.host.numel()));
    }
    q.release();
  }

  @Override
  public void close() {
    if (graphs != null) {
      graphs.close();
    }
    if (cross != null) {
      cross.close();
    }
    cache.close();
    model.close();
  }
}
