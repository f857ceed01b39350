package ai.nos.internal.generate;

import ai.nos.DType;
import ai.nos.internal.torch.TorchTensors;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/*
 * Chooses each row's next token from its logits with libtorch ops on the logits' device: only
 * the chosen ids ([B] int64) go to the host. The order and meaning are transformers':
 *
 *   repetition penalty  a logit of a token the sequence holds (its "seen" row, kept on the device
 *                       beside the cache) is divided by the penalty if positive, else multiplied
 *   suppression         the logits of the row's suppressed ids are -inf, and at its first
 *                       generated token those of its begin-suppressed ids too (transformers'
 *                       SuppressTokens and SuppressTokensAtBegin processors, which come after
 *                       the penalty; -inf stays -inf through every later rule)
 *   timestamp rules     Whisper's (transformers' WhisperTimeStampLogitsProcessor, after the
 *                       suppression there too), for rows that have them: see below
 *   greedy              argmax of that
 *   temperature         logits / t
 *   top-k               of the logits sorted descending, ranks >= k are removed
 *   top-p               of what is left, softmax; a token is removed when the probability of the
 *                       tokens ranked above it already reaches p (so the top one always stays)
 *   draw                argmax(filtered + Gumbel noise): the Gumbel-max trick draws exactly from
 *                       softmax(filtered), with one argmax instead of multinomial's prefix sums
 *
 * Reproducible whatever the batch: the noise of row b for token v is a hash of (the request's
 * seed, the index of the token being drawn, v), computed on the device with int64 ops
 * (splitmix64's finalizer), so it depends on nothing else in the batch, needs no generator
 * state per request, and fits a CUDA graph (the keys are an input tensor). The same hash in Java
 * ({@link #uniform}) lets a test replay a draw.
 *
 * Rows of different settings share one batch: settings are [B,1] tensors; a row with a filter
 * off gets the value that keeps everything (k = V, p = 2), a greedy row temperature 1, and its
 * result is taken from the greedy argmax by a where.
 *
 * Suppression costs nothing in a step where no row has it. Otherwise it is one index_fill_ on
 * the logits, in place: when every row suppresses the same ids (Whisper's batches: one list for
 * all windows) the ids alone, filled along the vocabulary, from a copy kept on the device
 * (SHARED_LISTS lists at most, by content: Whisper's two, the suppressed ids and those of a first
 * token, are sent once per generator, not once per step: a pageable copy waits for the stream,
 * so each one would hold the host until the step's graph has run); else row * V + id for each
 * pair, sent with the step and filled in the flattened logits. Writing in place
 * is safe: the logits are the step's own output (or, with CUDA graphs, the graph's static
 * output, rewritten by the next replay before anyone reads it again). A decode step runs after
 * the graph's replay, so suppression never enters a graph, and per-row lists need no per-slot
 * state on the device.
 *
 * Timestamp rules: the engine reduces a row's rules to five bounds on the host from the ids it
 * generated (TimestampBounds); one [5, B] transfer, a mask of the vocabulary index against
 * them, and the rule that needs the logits (the log-softmax mass of the timestamps above the
 * best other token: only timestamps) as masks on the device. Rows without rules get bounds that
 * mask nothing and no timestamp ids, so rows of both kinds share the step; a step without any
 * such row does none of it. Like suppression it runs after a graph's replay: nothing per slot on
 * the device, nothing captured.
 *
 * Every native object made here belongs to the caller's open PointerScope except the vocabulary
 * index, made once, and the shared suppression lists kept on the device; close() frees them.
 */
final class Sampler implements AutoCloseable {
  /** splitmix64's increment: consecutive token ids land far apart before mixing. */
  static final long GAMMA = 0x9E3779B97F4A7C15L;
  private static final long M1 = 0xBF58476D1CE4E5B9L;
  private static final long M2 = 0x94D049BB133111EBL;

  private final int vocab;
  private final ai.nos.Device device;
  /** [1, V] int64: 0..V-1 on the device. */
  private final Tensor vocabIndex;
  /** Suppression lists every row of a step shared, on the device (see the class notes). */
  static final int SHARED_LISTS = 8;
  private final java.util.LinkedHashMap<IdList, Tensor> sharedLists =
      new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<IdList, Tensor> eldest) {
          if (size() > SHARED_LISTS) {
            eldest.getValue().releaseReference();
            return true;
          }
          return false;
        }
      };
  /** Suppression lists sent to the device so far, shared or per row (for tests). */
  private long suppressionUploads;

  /** An id list as a map key: equal by content. */
  private record IdList(int[] ids) {
    @Override
    public boolean equals(Object o) {
      return o instanceof IdList other && java.util.Arrays.equals(ids, other.ids);
    }

    @Override
    public int hashCode() {
      return java.util.Arrays.hashCode(ids);
    }
  }

  Sampler(int vocab, ai.nos.Device device) {
    this.vocab = vocab;
    this.device = device;
    try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope()) {
      Tensor t = torch.arange(new Scalar(vocab), new TensorOptions(torch.ScalarType.Long)
          .device(new org.bytedeco.pytorch.DeviceOptional(dev()))).view(1, vocab);
      t.retainReference();
      this.vocabIndex = t;
    }
  }

  /** The settings of the rows of one step, in Java arrays; see the class notes. */
  static final class Rows {
    final int size;
    final float[] temperature;
    final long[] topK;
    final float[] topP;
    final float[] penalty;
    final long[] noiseKey;
    final boolean[] greedy;
    /** The ids whose logits are -inf in each row; null for none. */
    final int[][] suppressed;
    /** Each row's timestamp bounds (TimestampBounds); null for a row without the rules. */
    final long[][] timestamps;

    Rows(int size) {
      this.size = size;
      temperature = new float[size];
      topK = new long[size];
      topP = new float[size];
      penalty = new float[size];
      noiseKey = new long[size];
      greedy = new boolean[size];
      suppressed = new int[size][];
      timestamps = new long[size][];
    }

    /** Sets row {@code i}: {@code topK} 0 and {@code topP} 1 are off; temperature 0 greedy. */
    void set(int i, float temperature, int topK, float topP, float penalty, long seed,
        int drawIndex, int vocab) {
      this.greedy[i] = temperature == 0f;
      this.temperature[i] = temperature == 0f ? 1f : temperature;
      this.topK[i] = topK == 0 ? vocab : topK;
      this.topP[i] = topP >= 1f ? 2f : topP;
      this.penalty[i] = penalty;
      this.noiseKey[i] = noiseKey(seed, drawIndex);
    }

    /** Row {@code i}'s suppressed ids (not copied); null or empty for none. */
    void suppress(int i, int[] ids) {
      this.suppressed[i] = ids == null || ids.length == 0 ? null : ids;
    }

    /** Row {@code i}'s timestamp bounds (TimestampBounds, not copied); null for none. */
    void timestamps(int i, long[] bounds) {
      this.timestamps[i] = bounds;
    }
  }

  static long mix(long z) {
    z = (z ^ (z >>> 30)) * M1;
    z = (z ^ (z >>> 27)) * M2;
    return z ^ (z >>> 31);
  }

  /** The key of the noise for draw {@code drawIndex} (0 for a request's first token). */
  static long noiseKey(long seed, int drawIndex) {
    return mix(seed ^ mix(drawIndex + 1L));
  }

  /** The uniform in (0, 1) of {@code token} under {@code key}: 23 hashed bits, exact in float. */
  static float uniform(long key, int token) {
    long bits = mix(key + token * GAMMA) >>> 41;
    return (2 * bits + 1) * 0x1p-24f;
  }

  /**
   * The ids chosen for each row, [B] int64 on the device. {@code seen} may be null when no row
   * has a penalty ({@link #anyPenalty}): a penalty of 1 changes no logit, so the step skips it.
   * Float32 {@code logits} may come back with suppressed ids set to -inf (see the class notes).
   */
  Tensor choose(Tensor logits, Tensor seen, Rows rows) {
    Tensor floats = logits.to(torch.ScalarType.Float);
    Tensor penalized = timestamps(suppress(anyPenalty(rows) ? penalize(floats, seen, rows)
        : floats, rows), rows);
    Tensor greedyIds = penalized.argmax(new LongOptional(1), false);
    if (allGreedy(rows)) {
      return greedyIds;
    }
    Tensor filtered = filter(penalized, rows);
    Tensor noise = gumbel(rows, dev());
    Tensor sampled = filtered.add(noise).argmax(new LongOptional(1), false);
    Tensor greedy = bools(rows.greedy, dev());
    return torch.where(greedy, greedyIds, sampled);
  }

  /** The repetition penalty applied to {@code logits} [B, V] float32 where {@code seen}. */
  Tensor penalize(Tensor logits, Tensor seen, Rows rows) {
    Tensor p = floats(rows.penalty, dev());
    Tensor penalized = torch.where(logits.lt(new Scalar(0f)), logits.mul(p), logits.div(p));
    return torch.where(seen, penalized, logits);
  }

  /**
   * {@code logits} [B, V] float32 with each row's suppressed ids at -inf: the same tensor,
   * filled in place, or a contiguous copy when it is not contiguous and rows differ.
   */
  Tensor suppress(Tensor logits, Rows rows) {
    int[] first = rows.suppressed[0];
    boolean same = first != null;
    int pairs = 0;
    for (int[] ids : rows.suppressed) {
      pairs += ids == null ? 0 : ids.length;
      same = same && (ids == first || java.util.Arrays.equals(ids, first));
    }
    if (pairs == 0) {
      return logits;
    }
    Scalar minusInf = new Scalar(Float.NEGATIVE_INFINITY);
    if (same) {
      logits.index_fill_(1, shared(first), minusInf);
      return logits;
    }
    suppressionUploads++;
    long[] flat = new long[pairs];
    int n = 0;
    for (int i = 0; i < rows.size; i++) {
      if (rows.suppressed[i] != null) {
        for (int id : rows.suppressed[i]) {
          flat[n++] = (long) i * vocab + id;
        }
      }
    }
    Tensor target = logits.is_contiguous() ? logits : logits.contiguous();
    target.view(-1).index_fill_(0, longs(flat, new long[] {pairs}, dev()), minusInf);
    return target;
  }

  /**
   * {@code logits} [B, V] float32 with the timestamp rules of the rows that have them (see the
   * class notes): a new tensor, or {@code logits} itself when no row has them.
   */
  Tensor timestamps(Tensor logits, Rows rows) {
    int b = rows.size;
    if (java.util.Arrays.stream(rows.timestamps, 0, b).allMatch(java.util.Objects::isNull)) {
      return logits; // every step of a model without the rules: nothing packed
    }
    long[] none = TimestampBounds.none(vocab);
    long[] packed = new long[TimestampBounds.SIZE * b];
    for (int i = 0; i < b; i++) {
      long[] bounds = rows.timestamps[i] != null ? rows.timestamps[i] : none;
      for (int k = 0; k < TimestampBounds.SIZE; k++) {
        packed[k * b + i] = bounds[k];
      }
    }
    Tensor cols = longs(packed, new long[] {TimestampBounds.SIZE, b, 1}, dev());
    Tensor timestamp = vocabIndex.ge(cols.select(0, TimestampBounds.BEGIN));
    Tensor text = timestamp.logical_not();
    Tensor ban = vocabIndex.eq(cols.select(0, TimestampBounds.NO_TIMESTAMPS))
        .logical_or(vocabIndex.lt(cols.select(0, TimestampBounds.TEXT_BELOW)))
        .logical_or(timestamp.logical_and(vocabIndex.lt(cols.select(0, TimestampBounds.TS_FROM))
            .logical_or(vocabIndex.ge(cols.select(0, TimestampBounds.TS_TO)))));
    Scalar minusInf = new Scalar(Float.NEGATIVE_INFINITY);
    Tensor masked = logits.masked_fill(ban, minusInf);
    Tensor logprobs = masked.log_softmax(1);
    Tensor timestampMass = logprobs.masked_fill(text, minusInf).logsumexp(new long[] {1}, true);
    Tensor bestText = logprobs.masked_fill(timestamp, minusInf).amax(new long[] {1}, true);
    return masked.masked_fill(text.logical_and(timestampMass.gt(bestText)), minusInf);
  }

  /** The device copy of a list every row suppresses: sent on its first use, then kept. */
  private Tensor shared(int[] list) {
    IdList key = new IdList(list);
    Tensor kept = sharedLists.get(key);
    if (kept == null) {
      long[] ids = new long[list.length];
      for (int j = 0; j < ids.length; j++) {
        ids[j] = list[j];
      }
      try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope()) {
        kept = longs(ids, new long[] {ids.length}, dev());
        kept.retainReference(); // outlives this scope and the step's; freed by eviction or close
      }
      suppressionUploads++;
      sharedLists.put(new IdList(list.clone()), kept);
    }
    return kept;
  }

  /** Suppression lists sent to the device so far (see the class notes). */
  long suppressionUploads() {
    return suppressionUploads;
  }

  /** Temperature, top-k and top-p of penalized logits: removed tokens are -inf. */
  Tensor filter(Tensor penalized, Rows rows) {
    org.bytedeco.pytorch.Device device = dev();
    Tensor scaled = penalized.div(floats(rows.temperature, device));
    org.bytedeco.pytorch.T_TensorTensor_T sort = torch.sort(scaled, 1, true);
    Tensor sorted = sort.get0();
    Tensor order = sort.get1();
    Tensor removeSorted = vocabIndex.ge(longs(rows.topK, device));
    Tensor probs = sorted.masked_fill(removeSorted, new Scalar(Float.NEGATIVE_INFINITY))
        .softmax(1);
    Tensor above = probs.cumsum(1).sub(probs);
    removeSorted = removeSorted.logical_or(above.ge(floats(rows.topP, device)));
    Tensor remove = removeSorted.scatter(1, order, removeSorted);
    return scaled.masked_fill(remove, new Scalar(Float.NEGATIVE_INFINITY));
  }

  /** -log(-log(u)) of {@link #uniform} for every row and token, [B, V] float32. */
  Tensor gumbel(Rows rows, org.bytedeco.pytorch.Device device) {
    Tensor x = vocabIndex.mul(new Scalar(GAMMA)).add(longs(rows.noiseKey, device));
    x = mixOnDevice(x);
    Tensor bits = shiftRightUnsigned(x, 41);
    Tensor u = bits.mul(new Scalar(2L)).add(new Scalar(1L)).to(torch.ScalarType.Float)
        .mul(new Scalar(0x1p-24f));
    return u.log().neg().log().neg();
  }

  private static Tensor mixOnDevice(Tensor z) {
    z = z.bitwise_xor(shiftRightUnsigned(z, 30)).mul(new Scalar(M1));
    z = z.bitwise_xor(shiftRightUnsigned(z, 27)).mul(new Scalar(M2));
    return z.bitwise_xor(shiftRightUnsigned(z, 31));
  }

  /** Java's {@code >>>} on int64: libtorch shifts signed values arithmetically. */
  private static Tensor shiftRightUnsigned(Tensor z, int k) {
    return z.__rshift__(new Scalar((long) k)).bitwise_and(new Scalar((1L << (64 - k)) - 1));
  }

  /** Whether some row's repetition penalty is not 1 (then {@link #choose} needs the seen rows). */
  static boolean anyPenalty(Rows rows) {
    for (float p : rows.penalty) {
      if (p != 1f) {
        return true;
      }
    }
    return false;
  }

  private static boolean allGreedy(Rows rows) {
    for (boolean g : rows.greedy) {
      if (!g) {
        return false;
      }
    }
    return true;
  }

  /**
   * {@code values} as a [n, 1] float32 tensor on {@code device}. This and {@link #longs} and
   * {@link #bools} go through {@link TorchTensors#staged}: on CUDA a pinned block and an
   * asynchronous copy, so the host does not wait for the stream (a pageable copy synchronizes
   * it, which waited for the whole decode step queued before: the engine's pipelining launches
   * the next step while one runs, GenerationEngine's essay).
   */
  static Tensor floats(float[] values, org.bytedeco.pytorch.Device device) {
    return TorchTensors.staged(new long[] {values.length, 1}, DType.FLOAT32, 4L * values.length,
        b -> b.asFloatBuffer().put(values), device, DType.FLOAT32);
  }

  /**
   * From native floats at {@code values}' position 0, as {@code type}, with a pageable copy that
   * waits for the stream (the admission's upload before the seventeenth session; the benchmarks'
   * WhisperAdmitProbe times it).
   */
  static Tensor floats(FloatPointer values, long[] shape, torch.ScalarType type,
      org.bytedeco.pytorch.Device device) {
    Tensor host = torch.from_blob(values, shape, new TensorOptions(torch.ScalarType.Float));
    return host.to(device, type, false, true, new org.bytedeco.pytorch.MemoryFormatOptional());
  }

  static Tensor longs(long[] values, org.bytedeco.pytorch.Device device) {
    return longs(values, new long[] {values.length, 1}, device);
  }

  /** A copy on {@code device} of {@code values} shaped {@code shape} (see {@link #floats}). */
  static Tensor longs(long[] values, long[] shape, org.bytedeco.pytorch.Device device) {
    return TorchTensors.staged(shape, DType.INT64, 8L * values.length,
        b -> b.asLongBuffer().put(values), device, DType.INT64);
  }

  static Tensor bools(boolean[] values, org.bytedeco.pytorch.Device device) {
    return TorchTensors.staged(new long[] {values.length}, DType.BOOL, values.length, b -> {
      for (int i = 0; i < values.length; i++) {
        b.put(i, (byte) (values[i] ? 1 : 0));
      }
    }, device, DType.BOOL);
  }

  /** The libtorch device, attached to the caller's open scope. */
  private org.bytedeco.pytorch.Device dev() {
    return ai.nos.internal.torch.TorchRuntime.toTorch(device);
  }

  int vocab() {
    return vocab;
  }

  @Override
  public void close() {
    vocabIndex.releaseReference();
    sharedLists.values().forEach(Tensor::releaseReference);
    sharedLists.clear();
  }
}
