package ai.nos.examples;

import ai.nos.hub.SpeechRecognizer;
import ai.nos.hub.TranscribeOptions;
import ai.nos.hub.Transcript;
import ai.nos.hub.audio.Audio;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Speech recognition with the committed {@code models/whisper-micro} (Whisper's real architecture
 * and vocabulary with random weights and no tokenizer, so a transcript is token ids and the ids
 * are gibberish; the machinery is the real one): 40 s of 44.1 kHz audio, resampled band-limited
 * to 16 kHz, cut into two 30 s windows, transcribed once, then by four callers at once, whose
 * windows share the engine's decode steps. With a checkpoint exported by
 * {@code scripts/models/make_whisper.py --pretrained openai/whisper-tiny} (tokenizer included)
 * the same code prints text.
 *
 * <pre>mvn -q -B -pl examples -am -DskipTests package exec:java \
 *     -Dexec.mainClass=ai.nos.examples.TranscribeDemo</pre>
 */
public final class TranscribeDemo {
  private TranscribeDemo() {}

  /** The one caller's transcript, then the four concurrent callers' ones. */
  record Result(Transcript alone, List<Transcript> together) {}

  public static void main(String[] args) {
    Result r = run(Path.of(args.length > 0 ? args[0] : "models/whisper-micro"));
    print("alone", r.alone());
    for (int i = 0; i < r.together().size(); i++) {
      print("caller " + i, r.together().get(i));
    }
  }

  static Result run(Path model) {
    Audio audio = Audio.of(chirp(40, 44_100), 44_100); // any rate: resampled to 16 kHz
    TranscribeOptions options = TranscribeOptions.builder().language("en").maxNewTokens(16).build();
    try (SpeechRecognizer asr = SpeechRecognizer.load(model)) {
      Transcript alone = asr.transcribe(audio.samples(), audio.sampleRate(), options);
      List<CompletableFuture<Transcript>> calls = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        calls.add(asr.transcribeAsync(audio, options));
      }
      List<Transcript> together = new ArrayList<>();
      for (CompletableFuture<Transcript> call : calls) {
        together.add(call.join());
      }
      return new Result(alone, together);
    }
  }

  private static void print(String who, Transcript t) {
    System.out.println(who + ": " + t.segments().size() + " segments");
    for (Transcript.Segment s : t.segments()) {
      System.out.printf("  %6.2f-%6.2f s  %s%n", s.start(), s.end(),
          s.text().orElse("ids " + firstIds(s.tokenIds()) + " (no tokenizer.json: ids only)"));
    }
  }

  private static String firstIds(int[] ids) {
    String head = Arrays.toString(Arrays.copyOf(ids, Math.min(6, ids.length)));
    if (ids.length <= 6) {
      return head;
    }
    return head.substring(0, head.length() - 1) + ", ... " + ids.length + " in all]";
  }

  /** A rising tone under a slow tremolo: speech-like in band, deterministic. */
  static float[] chirp(int seconds, int rate) {
    float[] pcm = new float[seconds * rate];
    double phase = 0;
    for (int i = 0; i < pcm.length; i++) {
      double t = (double) i / rate;
      phase += 2 * Math.PI * (200 + 20 * t) / rate;
      pcm[i] = (float) (0.3 * Math.sin(phase) * (0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t)));
    }
    return pcm;
  }
}
