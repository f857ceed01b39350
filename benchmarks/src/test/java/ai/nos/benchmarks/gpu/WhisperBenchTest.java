package ai.nos.benchmarks.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.hub.SpeechRecognizer;
import ai.nos.hub.TranscribeOptions;
import ai.nos.hub.Transcript;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link WhisperBench}'s whole path on the CPU with the committed whisper-micro export (the GPU
 * run is {@code bench.sh whisper}): short clips and 4 new tokens, so it takes seconds.
 */
final class WhisperBenchTest {
  private static final Path MICRO =
      Path.of(System.getProperty("nos.models.dir", "../models")).resolve("whisper-micro");
  private static final int NEW = 4;

  @TempDir
  Path dir;

  @Test
  void run_onWhisperMicroCpu_measuresAndMatchesAnIdsFileOfTheSameDecoding() throws Exception {
    writeClips(35, 2);
    // The ids file as hf_whisper.py writes it, here from NOS's own transcription of the clip
    // from its file (another path than the bench's PCM in memory): equal if the bench decodes
    // the clip's windows as a user's call does, in order.
    int[][] expected;
    try (SpeechRecognizer asr = SpeechRecognizer.builder(MICRO).device(Device.cpu()).build()) {
      Transcript t = asr.transcribe(dir.resolve("long60.wav"),
          TranscribeOptions.builder().maxNewTokens(NEW).build());
      expected = t.segments().stream().map(Transcript.Segment::tokenIds).toArray(int[][]::new);
    }
    Path ids = dir.resolve("hf-ids.json");
    new ObjectMapper().writeValue(ids.toFile(), Map.of("fp32", expected));

    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    List<WhisperBench.Result> results;
    try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      results = WhisperBench.run(new WhisperBench.Settings(MICRO, dir, List.of(Precision.FP32),
          Device.cpu(), 1, NEW, 2, ids), out);
    }
    String log = bytes.toString(StandardCharsets.UTF_8);

    assertEquals(1, results.size(), log);
    WhisperBench.Result r = results.get(0);
    assertEquals(2, expected.length, "35 s is two windows");
    assertTrue(Arrays.deepEquals(expected, r.longIds()), log);
    assertTrue(r.parity().startsWith("yes"), log);
    assertEquals(Arrays.stream(expected).mapToInt(w -> w.length).sum(), r.rtfTokens(), log);
    assertTrue(r.batchTokens() >= 2 && r.batchTokens() <= 2 * NEW, log);
    Matcher rtf = Pattern.compile("WhisperBench: rtf clip=35s precision=fp32 windows=2"
        + " wall_ms=(\\S+) rtf=(\\S+) tokens=(\\d+) times_ms \\S+").matcher(log);
    assertTrue(rtf.find(), log);
    assertEquals(r.rtfTokens(), Integer.parseInt(rtf.group(3)));
    assertEquals(Double.parseDouble(rtf.group(1)) / 1000 / 35, Double.parseDouble(rtf.group(2)),
        1e-4);
    Matcher batch = Pattern.compile("WhisperBench: batch clips=2 precision=fp32 wall_ms=(\\S+)"
        + " audio_h_per_h=(\\S+) tokens=(\\d+)").matcher(log);
    assertTrue(batch.find(), log);
    assertEquals(60 / (Double.parseDouble(batch.group(1)) / 1000),
        Double.parseDouble(batch.group(2)), 0.05 + 1e-3 * r.audioHoursPerHour());
    assertTrue(Pattern.compile("WhisperBench: load precision=fp32 load_ms=\\d+ first_call_ms=\\d+")
        .matcher(log).find(), log);
    assertTrue(log.contains("WhisperBench: ids clip=35s precision=fp32 equal to transformers:"
        + " yes"), log);
    // The breakdowns: 2 windows admitted (in one or two admissions: a recording's windows are
    // queued one by one, and the scheduler may start on the first), decoded eagerly on the CPU.
    Matcher clip = Pattern.compile("WhisperBench: breakdown clip=35s precision=fp32 wall_ms=\\S+"
        + " prefills=[12] sequences=2 windows=2 prefill_ms=\\S+ encode_ms=\\S+ decode_steps=(\\d+)"
        + " graph_steps=0 eager_steps=(\\d+) rows_per_step=\\S+ max_rows=2 padding_rows=0"
        + " decode_ms=\\S+ ms_per_step=\\S+ wait_ms_per_step=\\S+").matcher(log);
    assertTrue(clip.find(), log);
    assertEquals(clip.group(1), clip.group(2), "every CPU step is eager: " + log);
    assertTrue(Pattern.compile("WhisperBench: breakdown clips=2 precision=fp32 wall_ms=\\S+"
        + " prefills=[12] sequences=2 windows=2 ").matcher(log).find(), log);
  }

  @Test
  void compareIds_namesTheWindowAndStepOfTheFirstDifference() {
    int[][] hf = {{1, 2, 3}, {4, 5, 6}};
    assertNull(WhisperBench.compareIds(hf, new int[][] {{1, 2, 3}, {4, 5, 6}}));
    assertEquals("window 1 first differs at step 2 (transformers 6, NOS 7; lengths 3 and 3)",
        WhisperBench.compareIds(hf, new int[][] {{1, 2, 3}, {4, 5, 7}}));
    assertEquals("window 0 first differs at step 2 (transformers 3, NOS ended; lengths 3 and 2)",
        WhisperBench.compareIds(hf, new int[][] {{1, 2}, {4, 5, 6}}));
    assertEquals("transformers has 2 windows, NOS 1",
        WhisperBench.compareIds(hf, new int[][] {{1, 2, 3}}));
  }

  @Test
  void ints_rejectsWhatHfWhisperDoesNotWrite_namingTheFile() throws Exception {
    ObjectMapper json = new ObjectMapper();
    Path f = dir.resolve("ids.json");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WhisperBench.ints(json.readTree("[[1, 2], 3]"), f));
    assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("window 1"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> WhisperBench.ints(json.readTree("[[1, \"x\"]]"), f));
    assertTrue(e.getMessage().contains("id 1 is \"x\""), e.getMessage());
    assertEquals(2, WhisperBench.ints(json.readTree("[[1, 2], []]"), f).length);
  }

  @Test
  void run_withoutTheLongClip_namesTheMissingFile() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WhisperBench.run(new WhisperBench.Settings(MICRO, dir, List.of(Precision.FP32),
            Device.cpu(), 1, NEW, 2, null), System.out));
    assertTrue(e.getMessage().contains(dir.resolve("long60.wav").toString()), e.getMessage());
  }

  @Test
  void run_withTooFewClips_saysHowManyItFoundAndNeeds() throws Exception {
    writeClips(1, 1);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WhisperBench.run(new WhisperBench.Settings(MICRO, dir, List.of(Precision.FP32),
            Device.cpu(), 1, NEW, 3, null), System.out));
    assertTrue(e.getMessage().contains("has 1 clip_NN.wav files, 3 needed"), e.getMessage());
  }

  /** long60.wav of {@code longSeconds} and {@code n} 30 s clips: seeded tone mixtures. */
  private void writeClips(int longSeconds, int n) throws IOException {
    wav(dir.resolve("long60.wav"), longSeconds, 1000);
    for (int i = 0; i < n; i++) {
      wav(dir.resolve(String.format("clip_%02d.wav", i)), 30, i);
    }
  }

  private static void wav(Path file, int seconds, long seed) throws IOException {
    Random random = new Random(seed);
    int n = seconds * 16_000;
    double[] freqs = {100 + random.nextInt(150), 500 + random.nextInt(500),
        1500 + random.nextInt(1000)};
    ByteBuffer b = ByteBuffer.allocate(44 + 2 * n).order(ByteOrder.LITTLE_ENDIAN);
    b.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + 2 * n)
        .put("WAVEfmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 1)
        .putShort((short) 1).putInt(16_000).putInt(32_000).putShort((short) 2)
        .putShort((short) 16).put("data".getBytes(StandardCharsets.US_ASCII)).putInt(2 * n);
    for (int i = 0; i < n; i++) {
      double t = i / 16_000.0;
      double v = 0;
      for (double f : freqs) {
        v += Math.sin(2 * Math.PI * f * t);
      }
      v *= 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t); // a syllable-rate envelope
      b.putShort((short) Math.round(v / 3 * 0.5 * 32767 + random.nextGaussian() * 100));
    }
    Files.write(file, b.array());
  }
}
