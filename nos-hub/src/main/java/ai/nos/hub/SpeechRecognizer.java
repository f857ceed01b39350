package ai.nos.hub;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.nos.Artifact;
import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.generate.GeneratedTokens;
import ai.nos.generate.GenerationConfig;
import ai.nos.generate.GenerationStats;
import ai.nos.generate.TokenGenerator;
import ai.nos.hub.audio.Audio;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;

/**
 * Whisper speech recognition: audio in, token ids (and text, with a tokenizer) out, on the
 * generation engine of nos-core (the encoder once per 30 s window, the decoder token by token
 * with its self- and cross-attention caches on the device, many windows and callers sharing
 * decode steps by continuous batching).
 *
 * <pre>{@code
 * try (SpeechRecognizer asr = SpeechRecognizer.load(Path.of("models/whisper-tiny"))) {
 *   Transcript t = asr.transcribe(Path.of("meeting.wav"));
 *   asr.transcribe(pcm, 48_000, TranscribeOptions.builder().language("de").build());
 * }
 * try (SpeechRecognizer asr = SpeechRecognizer.load(hub, "nos/whisper-micro", downloader)) { ... }
 * }</pre>
 *
 * <p>The model directory holds {@code encoder.pt} and {@code decoder.pt}, an export of
 * {@code scripts/models/make_whisper.py}, and optionally the checkpoint's {@code tokenizer.json}
 * (without it a transcript has token ids and times but no text), and optionally the checkpoint's
 * HuggingFace {@code generation_config.json}, whose {@code suppress_tokens} and
 * {@code begin_suppress_tokens} are then never generated (the latter never as a window's first
 * token), as transformers' {@code generate} does; {@link TranscribeOptions} may replace them.
 * Its {@code max_initial_timestamp_index} bounds the first timestamp (50, 1 s, without it) and
 * its {@code lang_to_id} names the language tokens (without it, Whisper's codes from
 * {@code <|en|>} up to {@code <|translate|>}: 99, or large-v3's 100 with "yue"); a language the
 * vocabulary lacks is refused by name. A catalog entry of task
 * {@link Task#SPEECH_RECOGNITION} names the same files as artifacts
 * ({@link #load(Hub, String, Downloader)}).
 * Audio: WAV files or float PCM
 * at 1 to 768 kHz, resampled to 16 kHz with a band-limited filter ({@link Audio}) on the calling
 * thread, cut into 30 s windows ({@link Audio#whisperWindow}); Whisper's log-mel features are
 * computed on the model's device by the generator, for all the windows it admits at once
 * ({@link TokenGenerator.Builder#whisperPcm}; within 1e-4 of transformers' feature extractor),
 * so they never cross to the host and the calling thread does no FFTs.
 *
 * <p><b>Long audio.</b> The recording is cut into consecutive 30 s windows (the last one
 * shorter, zero-padded by the features; a tail under one 10 ms mel frame past the last whole
 * window is none, as openai-whisper's content frames), each decoded independently and many at
 * once, so the windows of one recording share decode steps as different callers do: up to
 * twice the generator's slots of them are queued or decoding at a time, the next queued as one
 * ends, so a recording of any length fits the queue and its windows' copies take little heap
 * beside the audio. A window gives one segment (its start and end), or with
 * {@link TranscribeOptions#timestamps()} on, the segments its timestamp tokens delimit. This is
 * Whisper's sequential long-form when its decoder writes no timestamps (the cursor then always
 * moves by a whole window) without conditioning on the previous window's text (transformers'
 * default). Why not the cursor that moves to the last closed timestamp: it makes every window
 * wait for the one before (docs/speech.md); why not overlapping chunks: without timestamps the
 * words in an overlap cannot be assigned to one chunk.
 *
 * <p><b>Timestamps.</b> With {@link TranscribeOptions#timestamps()} on, decoding follows
 * Whisper's timestamp rules as transformers' {@code WhisperTimeStampLogitsProcessor} does
 * ({@link ai.nos.generate.TimestampRules}: a timestamp first, then text between closed pairs
 * {@code <|t0|> text <|t1|>}, times never decreasing), and each closed pair is a segment; text
 * after the last pair (a window cut by {@code maxNewTokens}) is a segment to the window's end.
 *
 * <p><b>Language.</b> Given by the options ("en" by default), or with
 * {@link TranscribeOptions.Builder#detectLanguage()} detected as transformers'
 * {@code detect_language} and openai-whisper do: one decoder step from
 * {@code <|startoftranscript|>} on the recording's first 30 s, the most likely of the language
 * tokens; every window is then decoded in that language ({@link Transcript#language()}). Once
 * per recording, from its first window, as both do for long audio: a recording's windows keep
 * one language, and the windows wait for one step only (the first window's encoder runs
 * twice).
 *
 * <p>Thread-safe: any thread may transcribe; {@link #transcribeAsync}'s future completes, and
 * its dependent actions run, on the generator's callback threads, never on its scheduler.
 * {@link #close()} fails what is running with {@link IllegalStateException} and frees the
 * model, and the tokenizer once no transcript is being decoded with it; idempotent.
 */
public final class SpeechRecognizer implements AutoCloseable {
  private static final double SECONDS_PER_TIMESTAMP = 0.02;
  /** Samples per mel frame at 16 kHz (the features' hop). */
  private static final int SAMPLES_PER_FRAME = 160;

  private final TokenGenerator generator;
  /** Null without tokenizer.json; freed by close() only once no transcript is decoding. */
  private final SharedTokenizer tokenizer;
  /** Whether requests carry PCM windows (features on the device) rather than Java's features. */
  private final boolean pcmInput;
  /** Mel bins of Java's features (pcmInput false). */
  private final int melBins;
  private final int startToken;
  private final int enToken;
  private final int transcribeToken;
  private final int translateToken;
  private final int noTimestampsToken;
  private final int timestampBegin;
  private final int eos;
  /** The model's generation_config.json's settings (defaults without the file). */
  private final GenerationConfigFile generation;
  /** Language code to token id, and every other id (suppressed when detecting). */
  private final Map<String, Integer> languages;
  private final int[] notLanguages;
  private final AtomicBoolean closed = new AtomicBoolean();

  private SpeechRecognizer(TokenGenerator generator, HuggingFaceTokenizer tokenizer,
      GenerationConfigFile generation) {
    this.generator = generator;
    this.tokenizer = tokenizer == null ? null
        : new SharedTokenizer(tokenizer, "speech recognizer '" + generator.id() + "'");
    this.generation = generation;
    int[] input = generator.encoderInputShape();
    this.pcmInput = input.length == 1;
    this.melBins = input[0];
    Map<String, Long> info = generator.modelInfo();
    this.startToken = special(info, "decoder_start_token_id");
    this.enToken = special(info, "en_token_id");
    this.transcribeToken = special(info, "transcribe_token_id");
    this.translateToken = special(info, "translate_token_id");
    this.noTimestampsToken = special(info, "no_timestamps_token_id");
    this.timestampBegin = special(info, "timestamp_begin_token_id");
    this.eos = generator.eosTokenId();
    this.languages = languages(generation.langToId(), enToken, translateToken,
        generator.vocabSize());
    java.util.BitSet isLanguage = new java.util.BitSet();
    languages.values().forEach(isLanguage::set);
    this.notLanguages = java.util.stream.IntStream.range(0, generator.vocabSize())
        .filter(i -> !isLanguage.get(i)).toArray();
  }

  /**
   * The checkpoint's lang_to_id, or Whisper's codes from {@code <|en|>} up to the first task
   * token {@code <|translate|>}, which follows the last language: 99 codes in the vocabulary of
   * 51,865 (tiny to large-v2), 100 in large-v3's of 51,866, whose "yue" takes the id that is
   * {@code <|translate|>} in the others.
   */
  static Map<String, Integer> languages(Map<String, Integer> langToId, int en, int translate,
      int vocab) {
    if (!langToId.isEmpty()) {
      return langToId;
    }
    int count = translate > en ? translate - en : TranscribeOptions.LANGUAGES.size();
    Map<String, Integer> out = new java.util.LinkedHashMap<>();
    for (int i = 0; i < TranscribeOptions.LANGUAGES.size() && i < count && en + i < vocab;
        i++) {
      out.put(TranscribeOptions.LANGUAGES.get(i), en + i);
    }
    return out;
  }

  private static int special(Map<String, Long> info, String key) {
    Long v = info.get(key);
    if (v == null) {
      throw new ai.nos.ModelLoadException("the decoder's nos_generation() has no '" + key
          + "': export Whisper with scripts/models/make_whisper.py");
    }
    return v.intValue();
  }

  /** Loads {@code directory} (see the class notes) on the best device, in FP32. */
  public static SpeechRecognizer load(Path directory) {
    return builder(directory).build();
  }

  /**
   * Fetches a catalog model of task {@link Task#SPEECH_RECOGNITION} (its
   * {@value CatalogArtifact#MODEL} artifact, the decoder, its {@value CatalogEntry#ENCODER}, and
   * its {@value CatalogEntry#TOKENIZER} and {@value CatalogEntry#GENERATION_CONFIG} where the
   * entry has them; verified as the hub's trust rules say) and loads it on the entry's device in
   * its precision, 16 windows at once: the files a model directory holds (see the class notes).
   *
   * @throws IllegalArgumentException if an argument is null, the id is unknown, or its entry has
   *     another task (checked before anything is downloaded)
   * @throws DownloadException if a file cannot be fetched or verified
   * @throws ai.nos.ModelLoadException if the files are not a make_whisper.py export
   */
  public static SpeechRecognizer load(Hub hub, String id, Downloader downloader) {
    return load(hub, id, downloader, UnaryOperator.identity());
  }

  /**
   * As {@link #load(Hub, String, Downloader)}, with the recognizer's settings changed by
   * {@code settings} (it gets a builder holding the entry's device and precision, and returns
   * the builder to build, e.g. {@code b -> b.maxSequences(32).device(Device.cpu())}).
   *
   * @throws IllegalArgumentException also if {@code settings} is null or returns null, or the
   *     entry's signature names a vocabulary size other than the model's
   */
  public static SpeechRecognizer load(Hub hub, String id, Downloader downloader,
      UnaryOperator<Builder> settings) {
    TaskModel.Configured<Builder> c = TaskModel.configure("SpeechRecognizer",
        Task.SPEECH_RECOGNITION, hub, id, downloader, settings,
        (entry, pinned) -> new Builder(null, id, pinned.get(CatalogEntry.ENCODER),
            pinned.get(CatalogArtifact.MODEL), pinned.get(CatalogEntry.TOKENIZER),
            pinned.get(CatalogEntry.GENERATION_CONFIG)).device(entry.device())
            .precision(entry.precision()));
    SpeechRecognizer asr = c.builder().build();
    String mismatch = TaskModel.vocabularyMismatch(c.entry(), asr.generator.vocabSize());
    if (mismatch != null) {
      asr.close();
      throw new IllegalArgumentException(mismatch);
    }
    return asr;
  }

  /** Returns a builder of the model in {@code directory} (see the class notes). */
  public static Builder builder(Path directory) {
    Objects.requireNonNull(directory, "directory must not be null");
    return new Builder(directory, String.valueOf(directory.getFileName()),
        Artifact.of(directory.resolve("encoder.pt")), Artifact.of(directory.resolve("decoder.pt")),
        null, null);
  }

  /** Transcribes a WAV file with the default options. */
  public Transcript transcribe(Path wav) {
    return transcribe(wav, TranscribeOptions.defaults());
  }

  /**
   * Transcribes a WAV file.
   *
   * @throws IllegalArgumentException if the file does not exist or is not a WAV file NOS reads
   *     (MP3, a corrupt header, zero-length audio: the message names the file and what was
   *     found)
   * @throws IllegalStateException if closed
   * @throws ai.nos.InferenceException if a step fails
   */
  public Transcript transcribe(Path wav, TranscribeOptions options) {
    return join(transcribeAsync(Audio.read(wav), options));
  }

  /** Transcribes mono float PCM at {@code sampleRate} with the default options. */
  public Transcript transcribe(float[] pcm, int sampleRate) {
    return transcribe(pcm, sampleRate, TranscribeOptions.defaults());
  }

  /**
   * Transcribes mono float PCM at {@code sampleRate} (resampled to 16 kHz).
   *
   * @throws IllegalArgumentException if {@code pcm} is null, empty or not finite, or the rate
   *     is not in {@value Audio#MIN_SAMPLE_RATE} to {@value Audio#MAX_SAMPLE_RATE} Hz
   */
  public Transcript transcribe(float[] pcm, int sampleRate, TranscribeOptions options) {
    return join(transcribeAsync(Audio.of(pcm, sampleRate), options));
  }

  /**
   * Queues the audio's windows and returns at once; the future completes with the transcript
   * (see the class notes for its threads). Cancelling it stops every window still decoding and
   * frees their cache slots before the next step.
   *
   * @throws IllegalArgumentException if an argument is null, or the options' suppressed ids
   *     or language token are not token ids of the model's vocabulary, or the options'
   *     language is not one of the model's (e.g. "yue" for a model before large-v3)
   * @throws IllegalStateException if closed
   * @throws ai.nos.QueueFullException if the generator's queue has no room for the first
   *     windows (with {@link TranscribeOptions#detectLanguage()}: for the detection step); the
   *     later windows (all of them after a detection) are queued as earlier ones end, and a
   *     full queue then fails the future
   */
  public CompletableFuture<Transcript> transcribeAsync(Audio audio, TranscribeOptions options) {
    if (audio == null || options == null) {
      throw new IllegalArgumentException("audio and options must not be null");
    }
    if (closed.get()) {
      throw new IllegalStateException("speech recognizer is closed");
    }
    Audio pcm = audio.resample(Audio.WHISPER_RATE);
    if (!options.detectLanguage()) {
      return transcribeWindows(pcm, options, languageToken(options));
    }
    checkSuppressed(options);
    CompletableFuture<GeneratedTokens> detection = generator.generate(new int[] {startToken},
        encoderInput(pcm, 0), GenerationConfig.builder().maxNewTokens(1)
            .suppressTokens(notLanguages).build());
    // Cancelling the transcript stops the detection, or the windows once they are queued.
    java.util.concurrent.atomic.AtomicReference<CompletableFuture<Transcript>> windows =
        new java.util.concurrent.atomic.AtomicReference<>();
    AtomicBoolean stopped = new AtomicBoolean();
    CompletableFuture<Transcript> result = detection.thenCompose(d -> {
      CompletableFuture<Transcript> w = transcribeWindows(pcm, options, d.tokens()[0]);
      windows.set(w);
      if (stopped.get()) {
        w.cancel(false);
      }
      return w;
    });
    result.whenComplete((t, failure) -> {
      if (failure != null) {
        stopped.set(true);
        detection.cancel(false);
        CompletableFuture<Transcript> w = windows.get();
        if (w != null) {
          w.cancel(false);
        }
      }
    });
    return result;
  }

  /** The options' suppressed ids against the vocabulary, before detection runs a step. */
  private void checkSuppressed(TranscribeOptions options) {
    int vocab = generator.vocabSize();
    String[] names = {"suppressTokens", "beginSuppressTokens"};
    int[][] lists = {options.suppressTokens().orElse(new int[0]),
        options.beginSuppressTokens().orElse(new int[0])};
    for (int l = 0; l < 2; l++) {
      for (int i = 0; i < lists[l].length; i++) {
        if (lists[l][i] >= vocab) {
          throw new IllegalArgumentException(names[l] + "[" + i + "] is token id " + lists[l][i]
              + ", outside the model's vocabulary of " + vocab + " ids [0, " + vocab + ")");
        }
      }
    }
  }

  /** The window at {@code from} as the generator takes it: PCM, or Java's log-mel. */
  private float[] encoderInput(Audio pcm, long from) {
    return pcmInput ? pcm.whisperWindow(from) : pcm.whisperFeatures(from, melBins);
  }

  /** Decodes every window of {@code pcm} (16 kHz) in the language of token {@code language}. */
  private CompletableFuture<Transcript> transcribeWindows(Audio pcm, TranscribeOptions options,
      int language) {
    int[] prompt = prompt(options, language);
    GenerationConfig.Builder config = GenerationConfig.builder()
        .maxNewTokens(options.maxNewTokens()).temperature(options.temperature())
        .suppressTokens(options.suppressTokens().orElse(generation.tokens()))
        .beginSuppressTokens(options.beginSuppressTokens().orElse(generation.beginTokens()));
    options.seed().ifPresent(config::seed);
    if (options.timestamps()) {
      config.timestampRules(timestampBegin, noTimestampsToken, eos,
          generation.maxInitialTimestampIndex());
    }
    GenerationConfig built = config.build();
    // openai-whisper's content frames (n // 160): a tail under one frame is no window of its own.
    long content = Math.max(1, pcm.length() / SAMPLES_PER_FRAME) * SAMPLES_PER_FRAME;
    int count = Math.toIntExact((content + Audio.WHISPER_WINDOW - 1) / Audio.WHISPER_WINDOW);
    CompletableFuture<List<int[]>> windows = WindowFeed.start(generator, prompt, built, count,
        2 * generator.maxSequences(), i -> encoderInput(pcm, (long) i * Audio.WHISPER_WINDOW));
    CompletableFuture<Transcript> result = windows.thenApply(ids -> {
      List<Transcript.Segment> segments = new ArrayList<>();
      for (int i = 0; i < count; i++) {
        long from = (long) i * Audio.WHISPER_WINDOW;
        long to = Math.min(pcm.length(), from + Audio.WHISPER_WINDOW);
        segments(ids.get(i), from / (double) Audio.WHISPER_RATE,
            to / (double) Audio.WHISPER_RATE, options.timestamps(), segments);
      }
      return new Transcript(segments, languageCode(language));
    });
    // A cancelled or failed transcript stops its windows at once.
    result.whenComplete((t, failure) -> {
      if (failure != null) {
        windows.cancel(false);
      }
    });
    return result;
  }

  /** The options' language token (not for detection), checked against the vocabulary. */
  private int languageToken(TranscribeOptions options) {
    Integer named = languages.get(options.language());
    if (options.languageTokenId() < 0 && named == null) {
      throw new IllegalArgumentException("language '" + options.language() + "' is not in the"
          + " vocabulary of speech recognizer '" + generator.id() + "' (" + generator.vocabSize()
          + " ids): expected one of its " + languages.size() + " languages "
          + languages.keySet() + ("yue".equals(options.language()) ? "; 'yue' is Whisper"
          + " large-v3's (a vocabulary of 51,866)" : ""));
    }
    int language = options.languageTokenId() >= 0 ? options.languageTokenId() : named;
    if (language >= generator.vocabSize()) {
      throw new IllegalArgumentException("language token " + language + " is outside the"
          + " model's vocabulary of " + generator.vocabSize());
    }
    return language;
  }

  /** The code of language token {@code id}, or null when the vocabulary names none. */
  private String languageCode(int id) {
    for (Map.Entry<String, Integer> e : languages.entrySet()) {
      if (e.getValue() == id) {
        return e.getKey();
      }
    }
    return null;
  }

  /** The prompt of the options' given language (see below). */
  int[] prompt(TranscribeOptions options) {
    return prompt(options, languageToken(options));
  }

  /** <|startoftranscript|> <|lang|> <|task|> [<|notimestamps|>]. */
  private int[] prompt(TranscribeOptions options, int language) {
    int task = options.task() == TranscribeOptions.Task.TRANSLATE ? translateToken
        : transcribeToken;
    return options.timestamps() ? new int[] {startToken, language, task}
        : new int[] {startToken, language, task, noTimestampsToken};
  }

  /**
   * A window's segments: one for the whole window without timestamps (every new id kept), or
   * the stretches between the timestamp tokens the decoder wrote (their text ids): a closed
   * pair is a segment, text after the last pair one to the window's end, and an end of text
   * after the last pair (nothing below it) joins that pair's segment.
   */
  void segments(int[] ids, double start, double end, boolean timestamps,
      List<Transcript.Segment> out) {
    if (!timestamps) {
      out.add(segment(start, end, ids));
      return;
    }
    int before = out.size();
    Double open = null;
    List<Integer> text = new ArrayList<>();
    for (int id : ids) {
      if (id >= timestampBegin) {
        double t = Math.min(end, start + (id - timestampBegin) * SECONDS_PER_TIMESTAMP);
        if (open != null && !text.isEmpty()) {
          out.add(segment(open, Math.max(open, t), ints(text)));
          text.clear();
          open = null;
        } else {
          open = t;
        }
      } else {
        text.add(id);
      }
    }
    if (!text.isEmpty() && out.size() > before && text.stream().allMatch(id -> id >= eos)) {
      Transcript.Segment last = out.remove(out.size() - 1);
      int[] ids2 = java.util.stream.IntStream.concat(java.util.Arrays.stream(last.tokenIds()),
          text.stream().mapToInt(Integer::intValue)).toArray();
      out.add(segment(last.start(), last.end(), ids2));
    } else if (!text.isEmpty() || out.size() == before) {
      double from = open != null ? open : start;
      out.add(segment(from, end, ints(text)));
    }
  }

  private Transcript.Segment segment(double start, double end, int[] ids) {
    return new Transcript.Segment(start, end, ids, tokenizer == null ? Optional.empty()
        : Optional.of(decode(ids)));
  }

  private String decode(int[] ids) {
    long[] kept = java.util.Arrays.stream(ids).filter(i -> i < eos).asLongStream().toArray();
    return tokenizer.decode(kept);
  }

  private static int[] ints(List<Integer> list) {
    return list.stream().mapToInt(Integer::intValue).toArray();
  }

  private static Transcript join(CompletableFuture<Transcript> f) {
    try {
      return f.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        r.addSuppressed(new RuntimeException("transcription failed"));
        throw r;
      }
      throw e;
    }
  }

  /**
   * Where the recognizer's time went so far: its admissions (features, encoder, prefill) and
   * decode steps, counted and timed by the generator's scheduler ({@link GenerationStats}; take
   * two snapshots and subtract them to see one call's share).
   */
  public GenerationStats stats() {
    return generator.stats();
  }

  /** The generator running the model (tests read its step counts). */
  TokenGenerator generator() {
    return generator;
  }

  @Override
  public void close() {
    if (!closed.getAndSet(true)) {
      try {
        generator.close();
      } finally {
        if (tokenizer != null) {
          tokenizer.close();
        }
      }
    }
  }

  /** Settings of a {@link SpeechRecognizer}; validated as set. Not thread-safe. */
  public static final class Builder {
    /** The model directory, or null when the files are given one by one (a hub's). */
    private final Path directory;
    private final String id;
    /** The model's files; a hub's pinned by their digests, which every load checks. */
    private final Artifact encoder;
    private final Artifact decoder;
    /**
     * A hub's, pinned by their digests: each is read once and those bytes are checked
     * ({@link PinnedFiles}); null where the entry has none. With a directory: found there when
     * {@link #build()} runs.
     */
    private final Artifact tokenizer;
    private final Artifact generationConfig;
    private Device device = Device.auto();
    private Precision precision = Precision.FP32;
    private int maxSequences = 16;
    /** The generator's queue beyond its slots; TokenGenerator's default unless a test sets it. */
    private int maxQueued = -1;
    private boolean deviceFeatures = true;

    private Builder(Path directory, String id, Artifact encoder, Artifact decoder,
        Artifact tokenizer, Artifact generationConfig) {
      this.directory = directory;
      this.id = id;
      this.encoder = encoder;
      this.decoder = decoder;
      this.tokenizer = tokenizer;
      this.generationConfig = generationConfig;
    }

    /**
     * For tests: whether the features are computed on the device (the default) or by Java's
     * {@code LogMel} on the calling thread, the reference the device path is held to.
     */
    Builder deviceFeatures(boolean on) {
      this.deviceFeatures = on;
      return this;
    }

    /** For tests: the generator's {@code maxQueued} (TokenGenerator's default, 256, else). */
    Builder maxQueued(int n) {
      this.maxQueued = n;
      return this;
    }

    /** Where the model and its caches live; {@link Device#auto()} by default. */
    public Builder device(Device device) {
      this.device = Objects.requireNonNull(device, "device must not be null");
      return this;
    }

    public Builder precision(Precision precision) {
      this.precision = Objects.requireNonNull(precision, "precision must not be null");
      return this;
    }

    /** 30 s windows decoded at once (cache slots); 16 by default. */
    public Builder maxSequences(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("maxSequences must be at least 1, was " + n);
      }
      this.maxSequences = n;
      return this;
    }

    /**
     * Loads the model (and tokenizer.json and generation_config.json where they are).
     *
     * @throws IllegalArgumentException if the directory is not a folder (the message names it)
     *     or lacks encoder.pt or decoder.pt, or its
     *     tokenizer.json is not a HuggingFace tokenizer, or its generation_config.json is not
     *     JSON or lists a suppressed id that is not a token id of the model's vocabulary
     * @throws ai.nos.ModelLoadException if the files are not a make_whisper.py export
     */
    public SpeechRecognizer build() {
      if (directory != null) {
        Checks.modelDirectory(directory, "Whisper model",
            "encoder.pt and decoder.pt (scripts/models/make_whisper.py)");
      }
      for (Artifact file : List.of(encoder, decoder)) {
        Path p = file.localPath().orElseThrow();
        if (!Files.isRegularFile(p)) {
          throw new IllegalArgumentException(directory == null
              ? "Whisper model '" + id + "' has no file " + p
              : "Whisper model directory " + directory + " must hold encoder.pt and decoder.pt"
                  + " (scripts/models/make_whisper.py), but " + p.getFileName() + " is missing");
        }
      }
      // A hub's small files: read once, checked, and those bytes parsed (PinnedFiles).
      byte[] configJson = null;
      if (directory == null && generationConfig != null) {
        Path p = PinnedFiles.path(generationConfig);
        configJson = PinnedFiles.check(id, CatalogEntry.GENERATION_CONFIG, generationConfig,
            GenerationConfigFile.bytes(p));
      }
      HuggingFaceTokenizer tk = null;
      Map<String, String> options = Map.of("addSpecialTokens", "false", "truncation", "false",
          "padding", "false");
      if (directory == null && this.tokenizer != null) {
        Path p = PinnedFiles.path(this.tokenizer);
        tk = TextTokenizer.load(p, PinnedFiles.check(id, CatalogEntry.TOKENIZER, this.tokenizer,
            TextTokenizer.read(p)), options);
      }
      Path tokenizer = directory == null ? null : directory.resolve("tokenizer.json");
      if (tokenizer != null && Files.isRegularFile(tokenizer)) {
        tk = TextTokenizer.load(tokenizer, options);
      }
      TokenGenerator generator = null;
      try {
        TokenGenerator.Builder b = TokenGenerator.builder(decoder).encoder(encoder).id(id)
            .device(device).precision(precision).maxSequences(maxSequences)
            .whisperPcm(deviceFeatures);
        generator = (maxQueued >= 0 ? b.maxQueued(maxQueued) : b).build();
        GenerationConfigFile config = configJson != null
            ? GenerationConfigFile.read(PinnedFiles.path(generationConfig), configJson,
                generator.vocabSize())
            : GenerationConfigFile.read(directory == null ? null
                : directory.resolve(GenerationConfigFile.FILE), generator.vocabSize());
        return new SpeechRecognizer(generator, tk, config);
      } catch (RuntimeException | Error e) {
        if (generator != null) {
          generator.close();
        }
        if (tk != null) {
          tk.close();
        }
        throw e;
      }
    }
  }
}
