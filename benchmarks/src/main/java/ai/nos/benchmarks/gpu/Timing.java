package ai.nos.benchmarks.gpu;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Latency sampling for the GPU benchmarks. */
final class Timing {
  private Timing() {}

  /** One call of the thing measured. */
  interface Call {
    void run() throws Exception;
  }

  /**
   * The sorted nanoseconds of each call of {@code call} over about {@code seconds} (at least 10
   * calls), after 10 unmeasured warm-up calls.
   */
  static List<Long> sortedNanos(Call call, double seconds) throws Exception {
    for (int i = 0; i < 10; i++) {
      call.run();
    }
    List<Long> times = new ArrayList<>();
    long end = System.nanoTime() + (long) (seconds * 1e9);
    while (System.nanoTime() < end || times.size() < 10) {
      long t0 = System.nanoTime();
      call.run();
      times.add(System.nanoTime() - t0);
    }
    Collections.sort(times);
    return times;
  }
}
