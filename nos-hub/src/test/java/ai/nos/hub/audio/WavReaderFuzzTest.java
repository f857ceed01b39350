package ai.nos.hub.audio;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.ByteMutator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds Audio.read seeded byte mutations of every committed WAV layout (PCM 8/16/24/32, float
 * 32/64, WAVE_FORMAT_EXTENSIBLE), with the RIFF, fmt and data headers' sizes, rates, channel
 * counts and block aligns set to 0, -1 and the maxima, chunks duplicated and cut: from bytes and
 * from a file, each must be audio of finite samples no longer than the file, or an
 * IllegalArgumentException naming the input; what reads is then resampled to Whisper's rate as
 * SpeechRecognizer.transcribe does, which may refuse it (IllegalArgumentException) but not fail
 * otherwise. WavReaderTest's fuzz sets random bytes in the first 96; this one goes further.
 */
final class WavReaderFuzzTest {
  private static final int MUTATIONS = ByteMutator.rounds(3_000);
  private static final long SEED = ByteMutator.seed(0x3A7L);
  private static final ByteMutator MUTATOR = new ByteMutator(80);
  private static final List<String> CLIPS = List.of("pcm8_mono_8k", "pcm16_stereo_16k",
      "pcm24_3ch_44k", "pcm32_mono_8k", "float32_stereo_48k", "float64_mono_22k",
      "extensible_pcm16_mono_11k", "extensible_float32_stereo_48k");

  @TempDir Path dir;

  @Test
  void read_byteMutations_audioOrIllegalArgumentNamingTheInput() {
    List<byte[]> seeds = CLIPS.stream().map(c -> Clips.bytes("wav/" + c + ".wav")).toList();
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    Path file = dir.resolve("clip.wav");
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 3_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
        boolean fromFile = random.nextInt(4) == 0;
        if (fromFile) {
          Files.write(file, bytes);
        }
        outcomes.merge(check(bytes, fromFile ? file : null), 1, Integer::sum);
      }
    });
    System.out.println("WavReaderFuzzTest: " + MUTATIONS + " mutations: " + outcomes);
    assertTrue(outcomes.getOrDefault("read", 0) > 300
        && outcomes.getOrDefault("refused", 0) > 300, outcomes.toString());
  }

  private static String check(byte[] bytes, Path file) {
    String name = file == null ? "audio bytes (" + bytes.length + " bytes)" : file.toString();
    Audio audio;
    try {
      audio = file == null ? Audio.read(bytes) : Audio.read(file);
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage() != null && e.getMessage().contains(name),
          () -> "the message should name " + name + ": " + e.getMessage());
      return "refused";
    } catch (Throwable t) {
      return fail("Audio.read threw " + t + " for " + ByteMutator.hex(bytes, 200), t);
    }
    assertTrue(audio.length() > 0 && audio.length() <= bytes.length, audio::toString);
    for (float s : audio.samples()) {
      assertTrue(Float.isFinite(s), () -> "a sample is " + s + ": " + ByteMutator.hex(bytes, 200));
    }
    try {
      Audio whisper = audio.resample(Audio.WHISPER_RATE);
      assertTrue(whisper.length() > 0, whisper::toString);
      // samples() copies: a low declared rate may have filled up to half the heap (allowed).
      for (float s : whisper.whisperWindow(0)) {
        assertTrue(Float.isFinite(s), () -> "a resampled sample is " + s);
      }
    } catch (IllegalArgumentException e) {
      return "read, resampling refused";
    } catch (Throwable t) {
      return fail("resampling " + audio + " threw " + t + " for " + ByteMutator.hex(bytes, 200),
          t);
    }
    return "read";
  }
}
