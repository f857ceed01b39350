package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.Device;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Where SpeechRecognizer's features run: by default it sends 30 s PCM windows and the generator
 * computes the log-mel features on the model's device (TokenGenerator.Builder.whisperPcm); the
 * transcripts equal those of Java's LogMel on the calling thread (the CPU reference, kept behind
 * a package-private switch), for every committed clip and for a 65 s recording whose last window
 * is mostly padding.
 */
final class SpeechRecognizerFeaturesTest {

  @Test
  void deviceFeatures_byDefault_giveTheIdsOfJavasLogMel() {
    check(SpeechRecognizerTest.MODEL, Device.cpu());
  }

  /** The model in {@code dir} on {@code where}: device features against Java's. */
  static void check(java.nio.file.Path dir, Device where) {
    try (SpeechRecognizer device = SpeechRecognizer.builder(dir).device(where).maxSequences(4)
            .build();
        SpeechRecognizer java = SpeechRecognizer.builder(dir).device(where).maxSequences(4)
            .deviceFeatures(false).build()) {
      assertArrayEquals(new int[] {480_000}, device.generator().encoderInputShape());
      assertEquals(2, java.generator().encoderInputShape().length);
      for (String clip : List.of("silence", "tone", "noise", "speechlike", "chirp")) {
        java.nio.file.Path wav = SpeechRecognizerTest.CLIPS.resolve(clip + ".wav");
        assertArrayEquals(java.transcribe(wav, SpeechRecognizerTest.TWENTY_FOUR).tokenIds(),
            device.transcribe(wav, SpeechRecognizerTest.TWENTY_FOUR).tokenIds(), clip);
      }
      float[] pcm = new float[65 * 16_000];
      Random random = new Random(18);
      for (int i = 0; i < pcm.length; i++) {
        pcm[i] = (float) (0.3 * Math.sin(2 * Math.PI * (200 + i / 400.0) * i / 16_000.0)
            + 0.02 * random.nextGaussian());
      }
      Transcript d = device.transcribe(pcm, 16_000, SpeechRecognizerTest.TWENTY_FOUR);
      Transcript j = java.transcribe(pcm, 16_000, SpeechRecognizerTest.TWENTY_FOUR);
      assertEquals(3, d.segments().size());
      for (int s = 0; s < 3; s++) {
        assertArrayEquals(j.segments().get(s).tokenIds(), d.segments().get(s).tokenIds(),
            "window " + s + " of 65 s");
      }
    }
  }
}
