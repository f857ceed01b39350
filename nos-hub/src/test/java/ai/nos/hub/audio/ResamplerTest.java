package ai.nos.hub.audio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Resampling to 16 kHz against scipy.signal.resample_poly (float64, its default Kaiser window)
 * on the committed float32 inputs. Tolerance {@value #TOLERANCE}: both sides compute the same
 * filter and sums in double and round once to float32, so what may differ is the order of
 * summation and the last bit of the filter taps (Bessel series vs Cephes): ~1e-15 before the
 * rounding, half an ulp of float32 (3e-8 at 0.5) after. A filter that differs in design (another
 * window, cutoff or length) misses by 1e-3 or more, so the bound tells them apart.
 */
final class ResamplerTest {

  static final double TOLERANCE = 1e-6;

  @ParameterizedTest
  @CsvSource({"tone, 8000", "chirp, 8000", "noise, 8000", "tone, 22050", "chirp, 22050",
      "noise, 22050", "tone, 44100", "chirp, 44100", "noise, 44100", "tone, 48000",
      "chirp, 48000", "noise, 48000"})
  void resample_matchesScipy(String signal, int rate) {
    Audio in = Audio.read(Clips.bytes("resample/" + signal + "_" + rate + ".wav"));
    assertEquals(rate, in.sampleRate());
    float[] expected = Clips.floats("resample/" + signal + "_" + rate + ".f32");
    Audio out = in.resample(Audio.WHISPER_RATE);
    assertEquals(Audio.WHISPER_RATE, out.sampleRate());
    double diff = Clips.maxAbsDiff(expected, out.samples());
    assertTrue(diff <= TOLERANCE, signal + " at " + rate + ": max |diff| " + diff);
  }

  /** A 11 kHz tone at 44.1 kHz is above the 8 kHz Nyquist of 16 kHz: it must not alias in. */
  @Test
  void resample_removesWhatIsAboveTheNewNyquist() {
    int n = 44100;
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (0.5 * Math.sin(2 * Math.PI * 11000 * i / 44100.0));
    }
    float[] y = Audio.of(x, 44100).resample(16000).samples();
    double energy = 0;
    for (int i = 1000; i < y.length - 1000; i++) { // away from the edges' transients
      energy += y[i] * y[i];
    }
    double rms = Math.sqrt(energy / (y.length - 2000));
    assertTrue(rms < 0.5 / Math.sqrt(2) * 1e-2, "alias rms " + rms + " (input rms 0.354)");
  }

  @Test
  void resample_oddRates_giveCeilOfTheRatio() {
    float[] x = new float[4410];
    x[100] = 1;
    // 44101 and 16000 share no factor: up 16000, down 44101, a 882,021-tap filter.
    Audio out = Audio.of(x, 44101).resample(16000);
    assertEquals((4410L * 16000 + 44100) / 44101, out.length());
    float sum = 0;
    for (float v : out.samples()) {
      sum += v;
    }
    // The DC gain is 1: an impulse of 1 at 44101 Hz is worth 16000/44101 of one at 16 kHz.
    assertEquals(16000.0 / 44101, sum, 1e-3);
  }

  @Test
  void resample_sameRate_isTheSameInstance_andUpThenDownIsClose() {
    float[] x = new float[1600];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(2 * Math.PI * 300 * i / 16000.0);
    }
    Audio a = Audio.of(x, 16000);
    assertSame(a, a.resample(16000));
    float[] back = a.resample(48000).resample(16000).samples();
    assertEquals(x.length, back.length);
    for (int i = 200; i < x.length - 200; i++) {
      assertEquals(x[i], back[i], 1e-3, "sample " + i);
    }
  }

  @Test
  void resample_badRate_isRefused() {
    Audio a = Audio.of(new float[] {1}, 16000);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> a.resample(0)).getMessage()
        .contains("target sample rate must be 1000 to 768000 Hz but was 0"));
  }

  /**
   * 2,000,000 samples at 1 kHz would be 1.536 billion at 768 kHz (6.1 GB): refused with the
   * sizes before anything is allocated, where it used to end in an OutOfMemoryError.
   */
  @Test
  void resample_outputOverHalfTheHeap_isRefusedBeforeAllocating() {
    Audio a = Audio.of(new float[2_000_000], 1000);
    String m = assertThrows(IllegalArgumentException.class, () -> a.resample(768_000))
        .getMessage();
    assertTrue(m.contains("1536000000 samples") && m.contains("heap"), m);
  }

  @Test
  void besselI0_knownValues() {
    assertArrayEquals(new double[] {1.0, 1.2660658777520082, 27.239871823604442},
        new double[] {Resampler.besselI0(0), Resampler.besselI0(1), Resampler.besselI0(5)},
        1e-12);
  }
}
