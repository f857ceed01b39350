package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.generate.GenerationConfig;
import ai.nos.hub.audio.Audio;
import ai.nos.testing.Await;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed Whisper export (models/whisper-micro: real architecture and vocabulary, d_model
 * 16, random weights) end to end on the CPU: WAV, resampling, log-mel, encoder, cross caches,
 * decoder. reference.json is transformers' greedy output on its own features of the same clips.
 */
final class SpeechRecognizerTest {
  static final Path MODEL = Path.of("../models/whisper-micro");
  static final Path CLIPS = Path.of("src/test/resources/ai/nos/hub/audio/mel");
  /** reference.json's greedy_ids are transformers' full forward: none of the model's
   * generation_config.json suppression (make_whisper.py writes one for every export). */
  static final TranscribeOptions TWENTY_FOUR = TranscribeOptions.builder().maxNewTokens(24)
      .suppressTokens().beginSuppressTokens().build();
  static SpeechRecognizer asr;
  static List<String> clips = new ArrayList<>();
  static List<int[]> expected = new ArrayList<>();

  @BeforeAll
  static void load() throws Exception {
    asr = SpeechRecognizer.builder(MODEL).device(Device.cpu()).maxSequences(8).build();
    JsonNode ref = new ObjectMapper().readTree(MODEL.resolve("reference.json").toFile());
    for (JsonNode c : ref.get("cases")) {
      clips.add(c.get("clip").asText());
      int[] ids = new int[c.get("greedy_ids").size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = c.get("greedy_ids").get(i).asInt();
      }
      expected.add(ids);
      assertArrayEquals(new int[] {50258, 50259, 50359, 50363}, asr.prompt(TWENTY_FOUR));
    }
  }

  @AfterAll
  static void close() {
    asr.close();
  }

  /** The first window's 80-bin features of {@code wav}, as SpeechRecognizer computes them. */
  static float[] features(Path wav) {
    return Audio.read(wav).resample(Audio.WHISPER_RATE).whisperFeatures(0, 80);
  }

  /** The first window of {@code wav} as {@code r}'s generator takes it: PCM or features. */
  static float[] encoderInput(SpeechRecognizer r, Path wav) {
    Audio pcm = Audio.read(wav).resample(Audio.WHISPER_RATE);
    return r.generator().encoderInputShape().length == 1 ? pcm.whisperWindow(0)
        : pcm.whisperFeatures(0, 80);
  }

  /** {@code model} on the CPU with {@code slots} windows at once. */
  static SpeechRecognizer onCpu(Path model, int slots) {
    return SpeechRecognizer.builder(model).device(Device.cpu()).maxSequences(slots).build();
  }

  @Test
  void transcribe_wav_givesTransformersGreedyIds_everyClip() {
    for (int i = 0; i < clips.size(); i++) {
      Path wav = CLIPS.resolve(clips.get(i) + ".wav");
      Transcript t = asr.transcribe(wav, TWENTY_FOUR);
      assertArrayEquals(expected.get(i), t.tokenIds(), clips.get(i));
      assertEquals(1, t.segments().size());
      assertEquals(0.0, t.segments().get(0).start());
      assertEquals(Audio.read(wav).seconds(), t.segments().get(0).end(), 1e-9);
      assertTrue(t.text().isEmpty(), "no tokenizer.json, no text");
    }
  }

  @Test
  void concurrentCallers_equalSerial_andShareDecodeSteps() throws Exception {
    long shared = asr.generator().sharedDecodeSteps();
    int threads = 8;
    CountDownLatch go = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<List<int[]>>> results = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        results.add(pool.submit(() -> {
          go.await();
          List<int[]> ids = new ArrayList<>();
          for (String clip : clips) {
            ids.add(asr.transcribe(CLIPS.resolve(clip + ".wav"), TWENTY_FOUR).tokenIds());
          }
          return ids;
        }));
      }
      go.countDown();
      for (Future<List<int[]>> r : results) {
        List<int[]> ids = r.get();
        for (int i = 0; i < clips.size(); i++) {
          assertArrayEquals(expected.get(i), ids.get(i), clips.get(i));
        }
      }
    } finally {
      pool.shutdown();
    }
    assertTrue(asr.generator().sharedDecodeSteps() > shared,
        "8 callers' windows never shared a decode step");
  }

  @Test
  void longAudio_isCutIntoOrderedWindows() {
    int rate = Audio.WHISPER_RATE;
    float[] pcm = new float[65 * rate];
    for (int i = 0; i < pcm.length; i++) {
      pcm[i] = (float) (0.3 * Math.sin(2 * Math.PI * 440 * i / rate));
    }
    long shared = asr.generator().sharedDecodeSteps();
    Transcript t = asr.transcribe(pcm, rate, TWENTY_FOUR);
    List<Transcript.Segment> s = t.segments();
    assertEquals(3, s.size(), t.toString());
    double[][] times = {{0, 30}, {30, 60}, {60, 65}};
    for (int i = 0; i < 3; i++) {
      assertEquals(times[i][0], s.get(i).start(), 1e-9);
      assertEquals(times[i][1], s.get(i).end(), 1e-9);
      assertEquals(24, s.get(i).tokenIds().length);
    }
    assertEquals(72, t.tokenIds().length);
    assertTrue(asr.generator().sharedDecodeSteps() > shared, "one recording's windows did not"
        + " share decode steps");
  }

  /**
   * Windows follow openai-whisper's content frames (n // 160, SeekCursor): a tail under one mel
   * frame past a whole window is no window of its own (it would be 30 s of padding); one frame is.
   */
  @Test
  void longAudio_tailUnderOneFrame_isNoWindow() {
    int rate = Audio.WHISPER_RATE;
    for (int extra : new int[] {1, 159, 160}) {
      Transcript t = asr.transcribe(new float[30 * rate + extra], rate, TWENTY_FOUR);
      List<Transcript.Segment> s = t.segments();
      assertEquals(extra < 160 ? 1 : 2, s.size(), extra + " samples past 30 s: " + t);
      assertEquals(0, s.get(0).start(), 1e-9);
      assertEquals(30, s.get(0).end(), 1e-9);
      assertEquals(extra < 160 ? 30 : 30.01, s.get(s.size() - 1).end(), 1e-9);
    }
  }

  /**
   * A recording of more windows than the generator's queue holds is fed to it a few windows at
   * a time. Every window was queued at once before: 2 h 16 min of audio and more failed with
   * QueueFullException on an idle recognizer of the default settings, and the windows' copies
   * took as much heap again as the audio. Here one slot and a queue of one: five windows.
   */
  @Test
  void longAudio_moreWindowsThanTheQueueHolds_isFedAFewAtATime() throws Exception {
    try (SpeechRecognizer small = SpeechRecognizer.builder(MODEL).device(Device.cpu())
        .maxSequences(1).maxQueued(1).build()) {
      int rate = Audio.WHISPER_RATE;
      Transcript t = small.transcribe(new float[4 * 30 * rate + rate], rate,
          TranscribeOptions.builder().maxNewTokens(2).build());
      List<Transcript.Segment> s = t.segments();
      assertEquals(5, s.size(), t.toString());
      for (int i = 0; i < 5; i++) {
        assertEquals(30 * i, s.get(i).start(), 1e-9);
        assertEquals(i < 4 ? 30 * (i + 1) : 121, s.get(i).end(), 1e-9);
      }
      assertEquals(0, small.generator().queuedRequests());
      // Cancelled while fed: no later window is queued, the slot serves the next recording.
      CompletableFuture<Transcript> cancelled = small.transcribeAsync(Audio.of(
          new float[5 * 30 * rate], rate), TranscribeOptions.builder().maxNewTokens(440).build());
      long before = small.stats().encoderInputs();
      cancelled.cancel(true);
      // Cancelled windows leave the engine before its next step, not at once.
      Await.awaitTrue(() -> small.generator().activeSequences() == 0
          && small.generator().queuedRequests() == 0);
      assertArrayEquals(expected.get(clips.indexOf("silence")),
          small.transcribe(CLIPS.resolve("silence.wav"), TWENTY_FOUR).tokenIds());
      assertTrue(small.stats().encoderInputs() - before <= 3, small.stats().summary());
    }
  }

  @Test
  void cancelledTranscription_freesItsSlot_forTheNext() {
    try (SpeechRecognizer one = SpeechRecognizer.builder(MODEL).device(Device.cpu())
        .maxSequences(1).build()) {
      Audio tone = Audio.read(CLIPS.resolve("tone.wav"));
      CompletableFuture<Transcript> longOne = one.transcribeAsync(tone,
          TranscribeOptions.builder().maxNewTokens(440).build());
      CompletableFuture<Transcript> next = one.transcribeAsync(
          Audio.read(CLIPS.resolve("silence.wav")), TWENTY_FOUR);
      longOne.cancel(true);
      // One slot: the next window decodes only once the cancelled one's slot (and its cross
      // cache row) is free, and must then read its own encoder output there.
      assertArrayEquals(expected.get(clips.indexOf("silence")), next.join().tokenIds());
      assertTrue(longOne.isCancelled());
      assertArrayEquals(expected.get(clips.indexOf("tone")),
          one.transcribe(CLIPS.resolve("tone.wav"), TWENTY_FOUR).tokenIds());
    }
  }

  @Test
  void close_failsWhatRuns_andRefusesMore() {
    SpeechRecognizer r = SpeechRecognizer.builder(MODEL).device(Device.cpu()).maxSequences(1)
        .build();
    CompletableFuture<Transcript> running = r.transcribeAsync(
        Audio.read(CLIPS.resolve("tone.wav")), TranscribeOptions.builder().maxNewTokens(440)
            .build());
    r.close();
    r.close();
    // Bounded: a request that close() failed to settle hung this test once (fifteenth session,
    // on a 2-core VM); a hang is a failure here, not a stalled build.
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> running.get(2, TimeUnit.MINUTES));
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertThrows(IllegalStateException.class, () -> r.transcribe(new float[16], 16000));
  }

  @Test
  void badAudio_isRefusedNamingIt(@TempDir Path dir) throws Exception {
    Path mp3 = dir.resolve("song.mp3");
    Files.write(mp3, new byte[] {'I', 'D', '3', 4, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6});
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> asr.transcribe(mp3));
    assertTrue(e.getMessage().contains(mp3.toString()), e.getMessage());
    Path missing = dir.resolve("missing.wav");
    e = assertThrows(IllegalArgumentException.class, () -> asr.transcribe(missing));
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> asr.transcribe(new float[0], 16000));
    assertTrue(e.getMessage().contains("zero-length"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> asr.transcribe(new float[8], 0));
    assertTrue(e.getMessage().contains("but was 0"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> asr.transcribe(new float[] {0, Float.NaN}, 16000));
    assertTrue(e.getMessage().contains("samples[1]"), e.getMessage());
  }

  /** A folder that is not there is named as such, not as a folder missing its encoder.pt. */
  @Test
  void load_folderNotThere_namesTheFolder(@TempDir Path dir) throws Exception {
    String holds = "; it must hold encoder.pt and decoder.pt (scripts/models/make_whisper.py)";
    Path missing = dir.resolve("whisper");
    assertEquals("Whisper model directory " + missing + " does not exist" + holds,
        assertThrows(IllegalArgumentException.class, () -> SpeechRecognizer.load(missing))
            .getMessage());
    Path relative = Path.of("models", "no-such-whisper");
    assertEquals("Whisper model directory " + relative + " (" + relative.toAbsolutePath()
        + ") does not exist" + holds, assertThrows(IllegalArgumentException.class,
            () -> SpeechRecognizer.load(relative)).getMessage());
  }

  @Test
  void modelDirectoryWithoutEncoder_isRefused(@TempDir Path dir) throws Exception {
    Files.copy(MODEL.resolve("decoder.pt"), dir.resolve("decoder.pt"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SpeechRecognizer.load(dir));
    assertTrue(e.getMessage().contains("encoder.pt is missing"), e.getMessage());
  }

  @Test
  void options_buildWhispersPrompt() {
    TranscribeOptions de = TranscribeOptions.builder().language("de")
        .task(TranscribeOptions.Task.TRANSLATE).timestamps(true).build();
    assertArrayEquals(new int[] {50258, 50261, 50358}, asr.prompt(de));
    assertArrayEquals(new int[] {50258, 50300, 50359, 50363},
        asr.prompt(TranscribeOptions.builder().languageTokenId(50300).build()));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TranscribeOptions.builder().language("xx"));
    assertTrue(e.getMessage().contains("'xx'"), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> TranscribeOptions.builder().maxNewTokens(441));
    assertThrows(IllegalArgumentException.class,
        () -> asr.prompt(TranscribeOptions.builder().languageTokenId(60000).build()));
  }

  /**
   * A temperature the sampler refuses is refused when set, naming it: the options took any
   * value above 0 and every transcription with them then failed (with detectLanguage, its
   * future, after the detection step ran).
   */
  @Test
  void options_temperatureBelowTheSmallestSampled_refusedWhenSet() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TranscribeOptions.builder().temperature(1e-30f));
    assertTrue(e.getMessage().contains("1.0E-30"), e.getMessage());
    assertTrue(e.getMessage().contains(String.valueOf(GenerationConfig.MIN_TEMPERATURE)),
        e.getMessage());
    float smallest = GenerationConfig.MIN_TEMPERATURE;
    assertEquals(smallest, TranscribeOptions.builder().temperature(smallest).build()
        .temperature());
  }

  @Test
  void sampled_isReproducibleWithASeed() {
    TranscribeOptions hot = TranscribeOptions.builder().temperature(1.5f).seed(7)
        .maxNewTokens(16).build();
    Path wav = CLIPS.resolve("speechlike.wav");
    assertArrayEquals(asr.transcribe(wav, hot).tokenIds(), asr.transcribe(wav, hot).tokenIds());
  }
}
