package ai.nos;

import java.time.Duration;
import java.util.List;

/**
 * A snapshot of one model in a {@link ModelManager}.
 *
 * @param id the spec's id
 * @param state loading, ready or evicted
 * @param devices the devices holding a loaded copy now
 * @param bytes device bytes one copy takes (measured once loaded, else the estimate)
 * @param measured whether {@code bytes} was measured on this kind of device (now or in an earlier
 *     run, from the footprint catalog) rather than estimated
 * @param replicas copies wanted
 * @param inFlight calls running now
 * @param requests calls completed, successful or not
 * @param failures calls that failed, Errors such as an OutOfMemoryError included (a call its caller
 *     cancelled or completed first is not one)
 * @param loads copies loaded so far (reloads after eviction included)
 * @param batches model runs made by the dynamic batcher (0 without batching); {@code requests /
 *     batches} is the mean number of calls a run served
 * @param queued calls waiting in the batchers' queues now
 * @param p50Micros median latency of recent calls, in microseconds (0 before the first call)
 * @param p99Micros 99th percentile latency of recent calls, in microseconds
 * @param optimizations the load-time steps ({@link Optimization} labels) the most recently
 *     loaded copy runs with, in order: a step its load's check rejected, or one that does not
 *     apply there (CUDA graphs on the CPU), is missing; empty before the first load
 * @param warmUp how long the most recently loaded copy spent warming up before it was ready: its
 *     calls at the largest batch and at each of {@code batchBuckets} on the loading thread, then
 *     on each of its batch workers; {@link Duration#ZERO} before the first load
 * @param batchBuckets the batch sizes the most recently loaded copy runs, ascending: with
 *     batching on a CUDA device every batch is padded up to one of them (the preferred batch
 *     sizes and {@code maxBatchSize}, else the powers of two up to it and {@code maxBatchSize}),
 *     and on the CPU when preferred sizes are set; empty when batches run at their own size
 * @param currentReplicas copies loading or serving now ({@code replicas} is how many are wanted)
 * @param maxReplicas the most copies its {@link ScalingPolicy} allows; {@code replicas} without
 *     one
 * @param lastScaling the last scaling decision that changed the wanted copies, with its reason
 *     (e.g. {@code "up 1 -> 3: 12 calls outstanding on 1 copies (target 4 per copy)"}); empty
 *     before the first or without a policy
 */
public record ModelInfo(String id, ModelState state, List<Device> devices, long bytes,
    boolean measured, int replicas, int inFlight, long requests, long failures, long loads,
    long batches, int queued, long p50Micros, long p99Micros, List<String> optimizations,
    Duration warmUp, List<Integer> batchBuckets, int currentReplicas, int maxReplicas,
    String lastScaling) {

  /** A model without a scaling policy: {@code replicas} current, wanted and most. */
  public ModelInfo(String id, ModelState state, List<Device> devices, long bytes,
      boolean measured, int replicas, int inFlight, long requests, long failures, long loads,
      long batches, int queued, long p50Micros, long p99Micros, List<String> optimizations,
      Duration warmUp, List<Integer> batchBuckets) {
    this(id, state, devices, bytes, measured, replicas, inFlight, requests, failures, loads,
        batches, queued, p50Micros, p99Micros, optimizations, warmUp, batchBuckets, replicas,
        replicas, "");
  }

  public ModelInfo {
    devices = List.copyOf(devices);
    optimizations = List.copyOf(optimizations);
    batchBuckets = List.copyOf(batchBuckets);
  }
}
