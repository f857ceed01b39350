package ai.nos.generate;

import static ai.nos.testing.TinyLlama.greedy;
import static ai.nos.testing.TinyLlama.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.DeviceStats;
import ai.nos.ModelManager;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.testing.TinyLlama;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A TokenGenerator booked with a ModelManager on {@code cuda:0}: what the manager books is what
 * the generator holds in the caching allocator, and its close gives it back. Runs on the GPU
 * machine only (scripts/gpu/gpu-tests.sh).
 */
@Tag("gpu")
final class TokenGeneratorBookingGpuTest {

  @Test
  void bookedOnCuda_theAllocatorHoldsTheBookedBytes_untilClose() {
    // The device's one-time library state (the CUDA-graph recording thread's cuBLAS workspaces)
    // is the device's, not the generator's: made here first, outside the measurement.
    try (TokenGenerator warm = TokenGenerator.builder(TinyLlama.MODEL).id("tiny-warm")
        .device(Device.cuda(0)).maxSequences(3).build()) {
      assertEquals(3, warm.cudaGraphBatchSizes().length, "decode graphs were not recorded");
    }
    try (ModelManager m = ModelManager.builder().devices(Device.cuda(0)).noFootprintCatalog()
        .build()) {
      long before = TorchRuntime.cudaAllocatedBytes(0);
      TokenGenerator lm = TokenGenerator.builder(TinyLlama.MODEL).id("tiny-booked")
          .device(Device.cuda(0)).maxSequences(3).manager(m).build();
      DeviceStats gpu = m.stats().get(0);
      assertEquals(lm.deviceBytes(), gpu.usedBytes(), gpu.toString());
      // The scheduler thread's cuBLAS state (32 MiB on Hopper when its handle is new) stays in
      // the process after the generator: booked as the device's library bytes, not the
      // generator's (this manager's backend has made no other: it loaded nothing else).
      long library = gpu.overheadBytes();
      long held = TorchRuntime.cudaAllocatedBytes(0) - before - library;
      // Weights, cache and decode graphs exactly, plus the allocator's rounding and the
      // sampler's small index.
      assertTrue(held >= lm.deviceBytes() && held <= lm.deviceBytes() + (1 << 20),
          "allocated " + held + " B (+ " + library + " B of thread state) for a booking of "
          + lm.deviceBytes() + " B");
      JsonNode c = TinyLlama.reference().get("cases").get(0);
      assertArrayEquals(ints(c.get("greedy_ids")),
          lm.generate(ints(c.get("prompt_ids")), greedy()).join().tokens());

      lm.close();
      assertEquals(0, m.stats().get(0).usedBytes());
      long left = TorchRuntime.cudaAllocatedBytes(0) - before - library;
      assertTrue(left < lm.deviceBytes(), "still allocated after close: " + left + " B (thread"
          + " state " + library + " B apart)");
    }
  }
}
