package ai.nos.hub.audio;

import ai.nos.Device;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link WhisperLogMelTest}'s check on cuda:0 (cuFFT): the committed clips, 80 and 128 bins,
 * batched and alone, within 1e-4 of LogMel and the references.
 */
@Tag("gpu")
final class WhisperLogMelGpuTest {

  @Test
  void cuda_matchesReferencesAndLogMel_80and128Bins_batched() {
    WhisperLogMelTest.check(Device.cuda(0));
  }
}
