package ai.nos.internal.generate;

import ai.nos.Artifact;
import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.Precision;
import ai.nos.internal.torch.LibtorchMessages;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.internal.torch.VerifiedArtifact;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.GenericDict;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A decoder exported by {@code scripts/models/make_tiny_llama.py}: a TorchScript module whose
 * {@code forward(input_ids[B,T], positions[B,T], slots[B], k_cache, v_cache)} runs one prefill or
 * decode step, writes the step's keys and values into the caches' rows {@code slots} in place,
 * and returns the logits of each row's last token, {@code [B, vocab]}. Its exported method
 * {@code nos_generation()} gives the cache's shape, read once at load and checked.
 *
 * <p>Why TorchScript with explicit cache tensors (and not AOTInductor with a static cache): the
 * caches are plain inputs, so NOS allocates, books and frees them as it does any device tensor,
 * one module serves every batch size and prompt length, and a step can be recorded into a CUDA
 * graph per batch bucket (the GPU phase) because the cache tensors never move. An AOTInductor
 * package would need one compiled shape per bucket and keeps its cache inside the library, out of
 * NOS's books. TorchScript files saved by torch 1.13 (the CI machine's) load in NOS's libtorch.
 *
 * <p><b>Encoder-decoder exports</b> ({@code scripts/models/make_whisper.py}): a decoder whose
 * {@code nos_generation()} names {@code audio_positions} and which has a {@code cross_kv} method
 * attends to an encoder's output as well. Its {@code forward} takes two more tensors, the
 * cross-attention caches {@code [layers, slots, audio_positions, heads, head_dim]}, and
 * {@code cross_kv(hidden[B, A, d], slots[B], xk, xv)} fills rows {@code slots} of them from
 * the encoder's output once per request ({@link #crossKv}); {@link #crossAttention()} says which
 * kind was loaded, and the engine passes the extra pair to every step of such a model.
 *
 * <p>Thread-safety: {@link #step} is called by the engine's scheduler thread only; the module is
 * not changed after load. {@link #close()} frees it; the engine calls it after its last step.
 */
public final class DecoderModel implements AutoCloseable {
  /** The cache layout this code knows ({@code nos_generation()["format_version"]}). */
  static final int FORMAT_VERSION = 1;

  private final String id;
  private final JitModule module;
  private final Device device;
  private final Precision precision;
  private final int layers;
  private final int kvHeads;
  private final int headDim;
  private final int vocabSize;
  private final int maxPositions;
  private final int eosTokenId;
  /** Whether the export attends to an encoder's output (see the class notes). */
  private final boolean crossAttention;
  /** Whether the export has decode_first (see {@link #decodeStep}). */
  private final boolean decodeFirst;
  /** Encoder positions the cross caches hold (audio_positions); 0 without cross-attention. */
  private final int audioPositions;
  /** Query heads (the cross caches' heads); kvHeads for self-attention. */
  private final int heads;
  /** Every integer entry of nos_generation(), for callers that build prompts (special ids). */
  private final java.util.Map<String, Long> info;

  private DecoderModel(String id, JitModule module, Device device, Precision precision,
      GenericDict info) {
    this.id = id;
    this.module = module;
    this.device = device;
    this.precision = precision;
    this.layers = positive(info, "layers");
    this.kvHeads = positive(info, "kv_heads");
    this.headDim = positive(info, "head_dim");
    this.vocabSize = positive(info, "vocab_size");
    this.maxPositions = positive(info, "max_positions");
    this.eosTokenId = (int) read(info, "eos_token_id");
    this.info = integers(info);
    boolean hasCrossKv = module.find_method("cross_kv").has_value();
    boolean hasAudio = this.info.containsKey("audio_positions");
    if (hasCrossKv != hasAudio) {
      throw new ModelLoadException("generator '" + id + "': an encoder-decoder export needs both"
          + " a cross_kv method and nos_generation()['audio_positions'], this one has "
          + (hasCrossKv ? "cross_kv only" : "audio_positions only"));
    }
    this.crossAttention = hasCrossKv;
    this.decodeFirst = module.find_method("decode_first").has_value();
    this.audioPositions = hasAudio ? positive(info, "audio_positions") : 0;
    this.heads = hasAudio ? positive(info, "heads") : kvHeads;
  }

  private static java.util.Map<String, Long> integers(GenericDict info) {
    java.util.Map<String, Long> out = new java.util.TreeMap<>();
    try (PointerScope scope = new PointerScope()) {
      for (org.bytedeco.pytorch.GenericDictIterator it = info.begin(), end = info.end();
          !it.equals(end); it.increment()) {
        org.bytedeco.pytorch.GenericDictEntryRef e = it.access();
        if (e.key().isString() && e.value().isInt()) {
          out.put(e.key().toStringRef().getString(), e.value().toInt());
        }
      }
    }
    return java.util.Collections.unmodifiableMap(out);
  }

  /**
   * Loads the exported decoder in {@code file} onto {@code device} (resolved as a spec's
   * preference is) in {@code precision}.
   *
   * @throws ModelLoadException if the file is missing, not TorchScript, or not an export of
   *     make_tiny_llama.py (no {@code nos_generation()}, or a layout of another version)
   */
  public static DecoderModel load(String id, Path file, Device device, Precision precision) {
    return load(id, file, null, device, precision);
  }

  /**
   * As {@link #load(String, Path, Device, Precision)}, the bytes read checked against
   * {@code sha256} (null: not pinned).
   *
   * @throws ModelLoadException also if the bytes are not the ones {@code sha256} pins
   */
  public static DecoderModel load(String id, Path file, String sha256, Device device,
      Precision precision) {
    TorchRuntime.ensureLoaded();
    Device resolved = TorchRuntime.resolve(device, id);
    JitModule module = loadModule(id, file, sha256, resolved);
    try (PointerScope scope = new PointerScope()) {
      module.eval();
      if (precision != Precision.FP32) {
        module.to(precision == Precision.FP16 ? torch.ScalarType.Half
            : torch.ScalarType.BFloat16, false);
      }
      if (!module.hasattr("info")) {
        throw new ModelLoadException("generator '" + id + "': " + file + " has no"
            + " nos_generation() method: export decoders with"
            + " scripts/models/make_tiny_llama.py");
      }
      GenericDict info = module.get_method("nos_generation").apply(new IValueVector())
          .toGenericDict();
      long version = read(info, "format_version");
      if (version != FORMAT_VERSION) {
        throw new ModelLoadException("generator '" + id + "': " + file + " has cache layout"
            + " version " + version + " but this NOS reads version " + FORMAT_VERSION);
      }
      return new DecoderModel(id, module, resolved, precision, info);
    } catch (ModelLoadException e) {
      module.close();
      throw e;
    } catch (RuntimeException e) {
      module.close();
      throw new ModelLoadException("generator '" + id + "': cannot prepare " + file + " on "
          + resolved + " in " + precision + ": " + firstLine(e), e);
    }
  }

  /**
   * The TorchScript module in {@code file}, mapped onto {@code resolved}: libtorch opens a
   * private copy of the bytes, checked against {@code sha256} when it is not null.
   */
  static JitModule loadModule(String id, Path file, String sha256, Device resolved) {
    Artifact artifact = sha256 == null ? Artifact.of(file) : Artifact.of(file).withSha256(sha256);
    try (VerifiedArtifact verified = VerifiedArtifact.open(id, artifact, List.of());
        org.bytedeco.pytorch.Device where = TorchRuntime.toTorch(resolved);
        DeviceOptional map = new DeviceOptional(where)) {
      return torch.load(verified.path().toString(), map, false);
    } catch (ModelLoadException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new ModelLoadException("generator '" + id + "': " + file
          + " is not a TorchScript model libtorch can load: "
          + LibtorchMessages.loadFailure(e.getMessage()), e);
    }
  }

  private static long read(GenericDict info, String key) {
    IValue k = new IValue(key);
    if (!info.contains(k)) {
      throw new ModelLoadException("nos_generation() has no '" + key + "'");
    }
    return info.at(k).toInt();
  }

  private static int positive(GenericDict info, String key) {
    long v = read(info, key);
    if (v < 1 || v > Integer.MAX_VALUE) {
      throw new ModelLoadException("nos_generation()['" + key + "'] must be a positive int, was "
          + v);
    }
    return (int) v;
  }

  /**
   * One step: {@code [B, vocab]} logits of each row's last token. Every native object it makes
   * belongs to the caller's open {@link PointerScope}.
   */
  Tensor step(Tensor inputIds, Tensor positions, Tensor slots, Tensor kCache, Tensor vCache) {
    return step(inputIds, positions, slots, kCache, vCache, null, null);
  }

  /**
   * As above; an encoder-decoder export also reads its cross caches {@code xk}, {@code xv}
   * (null for a decoder-only one).
   */
  Tensor step(Tensor inputIds, Tensor positions, Tensor slots, Tensor kCache, Tensor vCache,
      Tensor xk, Tensor xv) {
    return call("forward", inputIds, positions, slots, kCache, vCache, xk, xv);
  }

  /**
   * A decode step ({@code T} = 1) whose rows are cache slots 0..B-1 in order, as the engine keeps
   * them (GenerationEngine, "Compact slots"): the export's {@code decode_first} where it has one,
   * which reads the caches' first B slots as views instead of gathering each row's slot (its
   * padding rows therefore write into the free slots after the active ones, at position 0, where
   * nothing reads), else {@link #step}. Same arguments as {@link #step}; {@code slots} is not
   * read by {@code decode_first}.
   */
  Tensor decodeStep(Tensor inputIds, Tensor positions, Tensor slots, Tensor kCache,
      Tensor vCache, Tensor xk, Tensor xv) {
    return call(decodeFirst ? "decode_first" : "forward", inputIds, positions, slots, kCache,
        vCache, xk, xv);
  }

  /** One step through the export's {@code method}, whose arguments are forward's. */
  private Tensor call(String method, Tensor inputIds, Tensor positions, Tensor slots,
      Tensor kCache, Tensor vCache, Tensor xk, Tensor xv) {
    if ((xk != null) != crossAttention) {
      throw new IllegalStateException("generator '" + id + "': a step of "
          + (crossAttention ? "an encoder-decoder export needs" : "a decoder-only export takes no")
          + " cross caches");
    }
    IValueVector args = new IValueVector();
    args.push_back(new IValue(inputIds));
    args.push_back(new IValue(positions));
    args.push_back(new IValue(slots));
    args.push_back(new IValue(kCache));
    args.push_back(new IValue(vCache));
    if (xk != null) {
      args.push_back(new IValue(xk));
      args.push_back(new IValue(xv));
    }
    return method.equals("forward") ? module.forward(args).toTensor()
        : module.get_method(method).apply(args).toTensor();
  }

  /** Whether decode steps read the first B slots in place ({@link #decodeStep}). */
  boolean decodesFirstSlots() {
    return decodeFirst;
  }

  /**
   * Writes each layer's cross-attention keys and values of {@code hidden} [B, A, d] into rows
   * {@code slots} of {@code xk}, {@code xv}; returns what the method returns (the slots). In the
   * caller's scope.
   */
  Tensor crossKv(Tensor hidden, Tensor slots, Tensor xk, Tensor xv) {
    IValueVector args = new IValueVector();
    args.push_back(new IValue(hidden));
    args.push_back(new IValue(slots));
    args.push_back(new IValue(xk));
    args.push_back(new IValue(xv));
    return module.get_method("cross_kv").apply(args).toTensor();
  }

  /** Whether this export attends to an encoder's output (see the class notes). */
  public boolean crossAttention() {
    return crossAttention;
  }

  /** The encoder positions a cross cache row holds; 0 for a decoder-only export. */
  public int audioPositions() {
    return audioPositions;
  }

  int heads() {
    return heads;
  }

  /** The integer entries of the export's {@code nos_generation()} (special token ids and sizes). */
  public java.util.Map<String, Long> info() {
    return info;
  }

  String id() {
    return id;
  }

  Device device() {
    return device;
  }

  /** The libtorch device, attached to the caller's open {@link PointerScope}. */
  org.bytedeco.pytorch.Device torchDevice() {
    return TorchRuntime.toTorch(device);
  }

  /** The libtorch scalar type of the weights, and of the cache. */
  torch.ScalarType scalarType() {
    switch (precision) {
      case FP16:
        return torch.ScalarType.Half;
      case BF16:
        return torch.ScalarType.BFloat16;
      default:
        return torch.ScalarType.Float;
    }
  }

  int bytesPerElement() {
    return precision == Precision.FP32 ? 4 : 2;
  }

  int layers() {
    return layers;
  }

  int kvHeads() {
    return kvHeads;
  }

  int headDim() {
    return headDim;
  }

  public int vocabSize() {
    return vocabSize;
  }

  public int maxPositions() {
    return maxPositions;
  }

  public int eosTokenId() {
    return eosTokenId;
  }

  /**
   * Bytes of the module's parameters and buffers as loaded: what a ModelManager books for a
   * model's weights on the CPU (TorchLoader measures a copy the same way).
   */
  public long parameterBytes() {
    return TorchRuntime.moduleBytes(module);
  }

  @Override
  public void close() {
    module.close();
  }

  static String firstLine(RuntimeException e) {
    return LibtorchMessages.firstLine(e.getMessage());
  }
}
