package ai.nos.hub.audio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.internal.audio.WhisperLogMel;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * nos-core's device log-mel ({@link WhisperLogMel}, torch.stft and a matmul, float32) on the
 * libtorch CPU device against the committed references of the numpy WhisperFeatureExtractor
 * transcription and against {@link LogMel} (bit-equal to them, double precision), within
 * {@value LogMelTest#TOLERANCE} as issue 18 asks: every committed clip, 80 and 128 bins, all
 * clips as one batch (each window floored at its own maximum, so a silent window beside loud
 * ones is unchanged). {@code WhisperLogMelGpuTest} runs the same on cuda:0.
 */
final class WhisperLogMelTest {

  static final List<String> CLIPS = List.of("silence", "tone", "noise", "speechlike", "chirp");

  @Test
  void cpu_matchesReferencesAndLogMel_80and128Bins_batched() {
    check(Device.cpu());
  }

  /** The committed clips, each cut to its own 30 s window, through {@code device}. */
  static void check(Device device) {
    float[][] windows = new float[CLIPS.size()][];
    for (int i = 0; i < windows.length; i++) {
      windows[i] = Audio.read(Clips.bytes("mel/" + CLIPS.get(i) + ".wav")).whisperWindow(0);
    }
    for (int bins : new int[] {80, 128}) {
      float[][] batched = WhisperLogMel.compute(windows, bins, device);
      LogMel java = new LogMel(bins);
      for (int i = 0; i < windows.length; i++) {
        String clip = CLIPS.get(i);
        float[] alone = WhisperLogMel.compute(new float[][] {windows[i]}, bins, device)[0];
        assertEquals(bins * LogMel.FRAMES, alone.length);
        double vsJava = Clips.maxAbsDiff(java.compute(windows[i]), alone);
        double vsBatch = Clips.maxAbsDiff(alone, batched[i]);
        String ref = "mel/" + clip + "_" + bins + ".f32.gz";
        double vsRef = Clips.class.getResource(ref) == null ? Double.NaN
            : Clips.maxAbsDiff(Clips.floats(ref), alone);
        System.out.printf("device log-mel on %s, %s %d bins: max |diff| vs LogMel %.3e, vs"
            + " reference %.3e, batch vs alone %.3e%n", device, clip, bins, vsJava, vsRef,
            vsBatch);
        String what = clip + " " + bins + " bins on " + device;
        assertTrue(vsJava <= LogMelTest.TOLERANCE, what + ": vs LogMel " + vsJava);
        assertTrue(Double.isNaN(vsRef) || vsRef <= LogMelTest.TOLERANCE,
            what + ": vs reference " + vsRef);
        assertTrue(vsBatch <= 1e-5, what + ": in a batch of " + windows.length + " vs alone "
            + vsBatch);
      }
    }
  }

  @Test
  void windowOf31s_isTheFirst30s_andTheDeviceMatchesItsReference() {
    float[] x = new float[31 * 16000];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (0.5 * Math.sin(2 * Math.PI * 440 * i / 16000.0));
    }
    float[] window = Audio.of(x, 16000).whisperWindow(0);
    assertEquals(Audio.WHISPER_WINDOW, window.length);
    float[] got = WhisperLogMel.compute(new float[][] {window}, 80, Device.cpu())[0];
    double diff = Clips.maxAbsDiff(Clips.floats("mel/tone31s_80.f32.gz"), got);
    assertTrue(diff <= LogMelTest.TOLERANCE, "max |diff| " + diff);
  }

  @Test
  void whisperWindow_padsWithZeros_andChecksItsArguments() {
    Audio audio = Audio.of(new float[] {1, 2, 3}, 16000);
    float[] w = audio.whisperWindow(1);
    assertEquals(Audio.WHISPER_WINDOW, w.length);
    assertEquals(2f, w[0]);
    assertEquals(3f, w[1]);
    assertEquals(0f, w[2]);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> audio.whisperWindow(3))
        .getMessage().contains("[0, 3) but was 3"));
    assertTrue(assertThrows(IllegalStateException.class, () -> Audio.of(new float[] {1}, 8000)
        .whisperWindow(0)).getMessage().contains("resample(16000)"));
  }

  @Test
  void badWindows_areRefusedBeforeAnyNativeCall() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WhisperLogMel.compute(new float[][] {new float[479_999]}, 80, Device.cpu()));
    assertTrue(e.getMessage().contains("window 0 must be 480000 samples")
        && e.getMessage().contains("but was 479999 samples"), e.getMessage());
    float[] nan = new float[Audio.WHISPER_WINDOW];
    nan[7] = Float.NaN;
    e = assertThrows(IllegalArgumentException.class,
        () -> WhisperLogMel.compute(new float[][] {new float[Audio.WHISPER_WINDOW], nan}, 80,
            Device.cpu()));
    assertTrue(e.getMessage().contains("window 1 must hold finite samples but sample 7 is NaN"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> WhisperLogMel.compute(
        new float[][] {new float[Audio.WHISPER_WINDOW]}, 0, Device.cpu()));
    assertTrue(e.getMessage().contains("but was 0"), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> WhisperLogMel.compute(new float[0][], 80, Device.cpu()));
  }

  /**
   * Samples of 1e18 overflowed the float32 power to infinity and gave NaN features, silently;
   * they are refused, and the loudest window accepted (a constant at the bound, whose DFT is the
   * largest one possible: 200 times it) still has finite features.
   */
  @Test
  void hugeSamples_areRefused_andTheBoundStillGivesFiniteFeatures() {
    float[] huge = new float[Audio.WHISPER_WINDOW];
    huge[11] = 1e18f;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WhisperLogMel.compute(new float[][] {huge}, 80, Device.cpu()));
    String m = e.getMessage();
    assertTrue(m.contains("window 0 must hold samples of magnitude at most 1.00000e+16")
        && m.contains("sample 11 is 1.00000e+18"), m);
    float[] loudest = new float[Audio.WHISPER_WINDOW];
    java.util.Arrays.fill(loudest, -WhisperLogMel.MAX_ABS_SAMPLE);
    for (float f : WhisperLogMel.compute(new float[][] {loudest}, 128, Device.cpu())[0]) {
      assertTrue(Float.isFinite(f), "a feature of the loudest window is " + f);
    }
  }
}
