package ai.nos.benchmarks.gpu;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GenerationStats;
import ai.nos.hub.SpeechRecognizer;
import ai.nos.hub.TranscribeOptions;
import ai.nos.hub.Transcript;
import ai.nos.hub.audio.Audio;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * Issue #18, "Fast": NOS's Whisper speed beside transformers' eager {@code generate}, measured by
 * {@code scripts/bench/hf_whisper.py} just before in the same lease ({@code bench.sh whisper}),
 * on the same weights ({@code make_whisper.py --save-hf}: DIR holds NOS's export and DIR/hf the
 * same model for transformers) and the same clips ({@code whisper_clips.py}: CLIPS/long60.wav
 * and CLIPS/clip_NN.wav).
 *
 * <p>What is timed, per precision, from PCM in memory to token ids (features included: the
 * log-mel on the model's device, computed by the generator for each admission's windows
 * together, as a user's call runs it; the WAV files are read before):
 * <ul>
 *   <li>load: building the {@link SpeechRecognizer} (both TorchScript files, caches, CUDA graph
 *       capture), and the first call after it (the 60 s clip): what a service's first user
 *       waits;
 *   <li>real-time factor of the 60 s clip: one {@code transcribe} (two 30 s windows, decoded at
 *       once), median of ROUNDS after the first call, rtf = wall / 60 s;
 *   <li>64 concurrent 30 s clips: 64 client threads, released together by a latch, each
 *       transcribing its clip; wall from the release to the last transcript, one warm-up round,
 *       then audio-hours per hour = 64 x 30 s / wall, median of ROUNDS.
 * </ul>
 * Decoding as hf_whisper.py's: English, transcribe, no timestamps (the prompt
 * {@code <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>}), greedy, MAX_NEW new
 * tokens at most per window, stopping at EOS; the token counts are printed (random weights
 * rarely write EOS, so both sides decode about MAX_NEW tokens a window).
 *
 * <p>Parity: with HF_IDS (hf_whisper.py's {@code --ids-out}), the 60 s clip's ids per window are
 * compared with transformers'; fp32 must be equal (the run exits 1 after everything is printed if
 * not), other precisions are reported only.
 *
 * <pre>
 * WhisperBench DIR CLIPS [fp16,fp32] [ROUNDS=3] [MAX_NEW=128] [HF_IDS|-] [cuda:0|cpu]
 *     [CLIPS=64]
 * </pre>
 * Lines (scripts/bench/tables.py reads them):
 * <pre>
 * WhisperBench: load precision=P load_ms=.. first_call_ms=..
 * WhisperBench: rtf clip=60s precision=P windows=2 wall_ms=.. rtf=.. tokens=.. times_ms ..
 * WhisperBench: batch clips=64 precision=P wall_ms=.. audio_h_per_h=.. tokens=.. times_ms ..
 * WhisperBench: ids clip=60s precision=P equal to transformers: yes|NO ...
 * WhisperBench: breakdown clip=60s|clips=64 precision=P wall_ms=.. prefills=.. ... (below)
 * </pre>
 * The breakdown lines are {@link GenerationStats#summary()} of the median round (the
 * generator's counters around it): admissions and their encoder windows, prefill and encode
 * milliseconds (the encode part waited for on the device), decode steps replayed as CUDA graphs
 * and eager, sequences per step, padding rows, milliseconds per decode step and how much of it
 * the host spent waiting for the device's ids. wall_ms minus prefill_ms minus decode_ms is what
 * the scheduler did not run: the callers' own work (resampling, cutting windows, queueing) and
 * idle time between admissions.
 */
public final class WhisperBench {
  private static final String LONG_CLIP = "long60.wav";

  private WhisperBench() {}

  /** One run's settings; {@code hfIds} may be null. */
  record Settings(Path model, Path clips, List<Precision> precisions, Device device, int rounds,
      int maxNewTokens, int batch, Path hfIds) {
    Settings {
      if (rounds < 1 || batch < 1) {
        throw new IllegalArgumentException("rounds and the clip count must be at least 1, were "
            + rounds + " and " + batch);
      }
      precisions = List.copyOf(precisions);
    }
  }

  /** What one precision measured; {@code parity} is null without transformers' ids. */
  record Result(Precision precision, long loadMs, long firstCallMs, double rtf, int rtfTokens,
      double audioHoursPerHour, int batchTokens, int[][] longIds, String parity) {}

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: WhisperBench DIR CLIPS [fp16,fp32] [ROUNDS] [MAX_NEW] [HF_IDS|-]"
          + " [cuda:0|cpu] [CLIPS]");
      System.exit(2);
    }
    SdpOrder.applyIfAsked("WhisperBench");
    List<Precision> precisions = Stream.of((args.length > 2 ? args[2] : "fp16,fp32").split(","))
        .map(Precision::of).toList();
    Path hf = args.length > 5 && !args[5].equals("-") ? Path.of(args[5]) : null;
    Settings s = new Settings(Path.of(args[0]), Path.of(args[1]), precisions,
        Device.parse(args.length > 6 ? args[6] : "cuda:0"),
        args.length > 3 ? Integer.parseInt(args[3]) : 3,
        args.length > 4 ? Integer.parseInt(args[4]) : 128,
        args.length > 7 ? Integer.parseInt(args[7]) : 64, hf);
    boolean fp32Differs = false;
    for (Result r : run(s, System.out)) {
      fp32Differs |= r.precision() == Precision.FP32 && r.parity() != null
          && !r.parity().startsWith("yes");
    }
    if (fp32Differs) {
      System.out.println("WhisperBench: FAILED: fp32 ids of the 60 s clip differ from"
          + " transformers'");
      System.exit(1);
    }
  }

  /**
   * Runs every precision of {@code s}, printing its lines to {@code out}; a precision that fails
   * is printed as FAILED and the next one still runs.
   *
   * @throws IllegalArgumentException if the clips directory lacks its files or the ids file is
   *     not hf_whisper.py's
   */
  static List<Result> run(Settings s, PrintStream out) throws Exception {
    Audio longClip = Audio.read(require(s.clips().resolve(LONG_CLIP)));
    List<Audio> clips = new ArrayList<>();
    try (Stream<Path> files = Files.list(s.clips())) {
      for (Path p : files.filter(p -> p.getFileName().toString().matches("clip_\\d+\\.wav"))
          .sorted().limit(s.batch()).toList()) {
        clips.add(Audio.read(p));
      }
    }
    if (clips.size() < s.batch()) {
      throw new IllegalArgumentException("clips directory " + s.clips() + " has " + clips.size()
          + " clip_NN.wav files, " + s.batch() + " needed (scripts/bench/whisper_clips.py)");
    }
    JsonNode hf = s.hfIds() == null ? null : new ObjectMapper().readTree(
        require(s.hfIds()).toFile());
    double batchSeconds = clips.stream().mapToDouble(Audio::seconds).sum();
    out.printf("WhisperBench: %s, clips %s (%.0f s + %d clips, %.0f s), max_new_tokens %d, %s,"
        + " %d rounds%n", s.model(), s.clips(), longClip.seconds(), clips.size(), batchSeconds,
        s.maxNewTokens(), s.device(), s.rounds());
    TranscribeOptions options = TranscribeOptions.builder().language("en").timestamps(false)
        .maxNewTokens(s.maxNewTokens()).build();
    List<Result> results = new ArrayList<>();
    ExecutorService clients = Executors.newFixedThreadPool(s.batch(), daemons());
    try {
      for (Precision p : s.precisions()) {
        try {
          Result r = one(s, p, options, longClip, clips, batchSeconds, hf, clients, out);
          results.add(r);
        } catch (Exception | Error e) {
          out.println("WhisperBench: precision=" + p.label() + " FAILED: " + e);
          e.printStackTrace(out);
        }
      }
    } finally {
      clients.shutdownNow();
    }
    return results;
  }

  private static Result one(Settings s, Precision p, TranscribeOptions options, Audio longClip,
      List<Audio> clips, double batchSeconds, JsonNode hf, ExecutorService clients,
      PrintStream out) throws Exception {
    String label = p.label();
    long t0 = System.nanoTime();
    try (SpeechRecognizer asr = SpeechRecognizer.builder(s.model()).device(s.device())
        .precision(p).maxSequences(Math.max(s.batch(), windows(longClip))).build()) {
      long loadMs = (System.nanoTime() - t0) / 1_000_000;
      long t1 = System.nanoTime();
      Transcript first = asr.transcribe(longClip.samples(), longClip.sampleRate(), options);
      long firstMs = (System.nanoTime() - t1) / 1_000_000;
      out.printf("WhisperBench: load precision=%s load_ms=%d first_call_ms=%d%n", label, loadMs,
          firstMs);

      double[] walls = new double[s.rounds()];
      int rtfTokens = 0;
      int[][] longIds = null;
      GenerationStats[] rtfStats = new GenerationStats[s.rounds()];
      for (int r = 0; r < s.rounds(); r++) {
        GenerationStats before = asr.stats();
        long t = System.nanoTime();
        Transcript tr = asr.transcribe(longClip.samples(), longClip.sampleRate(), options);
        walls[r] = (System.nanoTime() - t) / 1e9;
        rtfStats[r] = asr.stats().minus(before);
        longIds = ids(tr);
        rtfTokens = tr.tokenIds().length;
      }
      if (!Arrays.deepEquals(longIds, ids(first))) {
        out.println("WhisperBench: note: the first call's ids differ from the later calls'");
      }
      double wall = median(walls);
      out.printf("WhisperBench: rtf clip=%.0fs precision=%s windows=%d wall_ms=%.1f rtf=%.5f"
          + " tokens=%d times_ms %s%n", longClip.seconds(), label, longIds.length, wall * 1000,
          wall / longClip.seconds(), rtfTokens, ms(walls));
      out.printf("WhisperBench: breakdown clip=%.0fs precision=%s wall_ms=%.1f %s%n",
          longClip.seconds(), label, walls[medianIndex(walls)] * 1000,
          rtfStats[medianIndex(walls)].summary());

      double[] batchWalls = new double[s.rounds()];
      GenerationStats[] batchStats = new GenerationStats[s.rounds()];
      int batchTokens = 0;
      for (int r = -1; r < s.rounds(); r++) { // round -1: the warm-up
        double[] w = new double[1];
        GenerationStats before = asr.stats();
        batchTokens = concurrent(asr, clips, options, clients, w);
        if (r >= 0) {
          batchWalls[r] = w[0];
          batchStats[r] = asr.stats().minus(before);
        }
      }
      double batchWall = median(batchWalls);
      double perHour = batchSeconds / batchWall;
      out.printf("WhisperBench: batch clips=%d precision=%s wall_ms=%.1f audio_h_per_h=%.1f"
          + " tokens=%d times_ms %s%n", clips.size(), label, batchWall * 1000, perHour,
          batchTokens, ms(batchWalls));
      GenerationStats median = batchStats[medianIndex(batchWalls)];
      out.printf("WhisperBench: breakdown clips=%d precision=%s wall_ms=%.1f %s%n", clips.size(),
          label, batchWalls[medianIndex(batchWalls)] * 1000, median.summary());

      String parity = null;
      if (hf != null) {
        JsonNode theirs = hf.get(label);
        if (theirs == null) {
          parity = "not compared: " + s.hfIds() + " has no '" + label + "' ids";
        } else {
          String d = compareIds(ints(theirs, s.hfIds()), longIds);
          parity = d == null ? "yes (" + longIds.length + " windows, " + rtfTokens + " tokens)"
              : "NO: " + d;
        }
        out.printf("WhisperBench: ids clip=%.0fs precision=%s equal to transformers: %s%n",
            longClip.seconds(), label, parity);
      }
      if (hf != null && hf.has("parity_fp32") && p == Precision.FP32) {
        parityClips(asr, s, hf.get("parity_fp32"), options, out);
      }
      return new Result(p, loadMs, firstMs, wall / longClip.seconds(), rtfTokens, perHour,
          batchTokens, longIds, parity);
    }
  }

  /**
   * Issue #18's parity: each of whisper_clips.py's 20 clips of 5-60 s transcribed alone, its
   * windows' ids against transformers' generate on the same clip (hf_whisper.py's
   * {@code parity_fp32}); one line per clip and a count.
   */
  private static void parityClips(SpeechRecognizer asr, Settings s, JsonNode theirs,
      TranscribeOptions options, PrintStream out) throws IOException {
    int equal = 0;
    int total = 0;
    for (var it = theirs.fields(); it.hasNext(); ) {
      var clip = it.next();
      Audio audio = Audio.read(require(s.clips().resolve(clip.getKey())));
      int[][] ours = ids(asr.transcribe(audio.samples(), audio.sampleRate(), options));
      String d = compareIds(ints(clip.getValue(), s.hfIds()), ours);
      total++;
      if (d == null) {
        equal++;
      }
      out.printf("WhisperBench: parity clip=%s seconds=%.1f windows=%d equal to transformers:"
          + " %s%n", clip.getKey(), audio.seconds(), ours.length, d == null ? "yes" : "NO: " + d);
    }
    out.printf("WhisperBench: parity fp32: %d of %d clips (5-60 s) token for token equal to"
        + " transformers%n", equal, total);
  }

  /**
   * Every clip transcribed by its own client thread, all released at once; {@code wall[0]} gets
   * the seconds from the release to the last transcript. Returns the tokens decoded.
   */
  private static int concurrent(SpeechRecognizer asr, List<Audio> clips,
      TranscribeOptions options, ExecutorService clients, double[] wall) throws Exception {
    CountDownLatch ready = new CountDownLatch(clips.size());
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Transcript>> futures = new ArrayList<>();
    for (Audio clip : clips) {
      futures.add(clients.submit(() -> {
        ready.countDown();
        go.await();
        return asr.transcribe(clip.samples(), clip.sampleRate(), options);
      }));
    }
    ready.await();
    long t = System.nanoTime();
    go.countDown();
    int tokens = 0;
    for (Future<Transcript> f : futures) {
      tokens += f.get().tokenIds().length;
    }
    wall[0] = (System.nanoTime() - t) / 1e9;
    return tokens;
  }

  /**
   * Null if {@code expected} (transformers', per window) equals {@code got}; else where they
   * first differ.
   */
  static String compareIds(int[][] expected, int[][] got) {
    if (expected.length != got.length) {
      return "transformers has " + expected.length + " windows, NOS " + got.length;
    }
    for (int w = 0; w < expected.length; w++) {
      int[] e = expected[w];
      int[] g = got[w];
      int d = Arrays.mismatch(e, g);
      if (d >= 0) {
        return "window " + w + " first differs at step " + d + " (transformers "
            + (d < e.length ? e[d] : "ended") + ", NOS " + (d < g.length ? g[d] : "ended")
            + "; lengths " + e.length + " and " + g.length + ")";
      }
    }
    return null;
  }

  /** hf_whisper.py's ids of one precision: a list of windows, each a list of ids. */
  static int[][] ints(JsonNode windows, Path file) {
    if (!windows.isArray()) {
      throw new IllegalArgumentException("ids file " + file + ": expected a list of windows"
          + " (lists of token ids), found " + windows.getNodeType());
    }
    int[][] out = new int[windows.size()][];
    for (int w = 0; w < out.length; w++) {
      JsonNode ids = windows.get(w);
      if (!ids.isArray()) {
        throw new IllegalArgumentException("ids file " + file + ": window " + w + " is "
            + ids.getNodeType() + ", expected a list of token ids");
      }
      out[w] = new int[ids.size()];
      for (int i = 0; i < out[w].length; i++) {
        if (!ids.get(i).canConvertToInt()) {
          throw new IllegalArgumentException("ids file " + file + ": window " + w + " id " + i
              + " is " + ids.get(i) + ", expected an integer");
        }
        out[w][i] = ids.get(i).asInt();
      }
    }
    return out;
  }

  private static int[][] ids(Transcript t) {
    return t.segments().stream().map(Transcript.Segment::tokenIds).toArray(int[][]::new);
  }

  private static int windows(Audio a) {
    long n = a.resample(Audio.WHISPER_RATE).length();
    return (int) ((n + Audio.WHISPER_WINDOW - 1) / Audio.WHISPER_WINDOW);
  }

  private static Path require(Path p) {
    if (!Files.isRegularFile(p)) {
      throw new IllegalArgumentException("file " + p + " not found (scripts/gpu/bench.sh whisper"
          + " makes it)");
    }
    return p;
  }

  /** The index of the round whose time is {@link #median}'s (the lower middle one if even). */
  static int medianIndex(double[] a) {
    Integer[] order = new Integer[a.length];
    for (int i = 0; i < a.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (x, y) -> Double.compare(a[x], a[y]));
    return order[(a.length - 1) / 2];
  }

  private static double median(double[] a) {
    double[] s = a.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  private static String ms(double[] seconds) {
    StringBuilder b = new StringBuilder();
    for (double x : seconds) {
      b.append(b.length() == 0 ? "" : " ").append(String.format("%.1f", x * 1000));
    }
    return b.toString();
  }

  private static java.util.concurrent.ThreadFactory daemons() {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, "whisper-bench-client-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
