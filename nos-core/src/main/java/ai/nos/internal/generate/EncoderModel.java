package ai.nos.internal.generate;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.internal.audio.MelFilters;
import ai.nos.internal.audio.WhisperLogMel;
import ai.nos.internal.Copies;
import ai.nos.internal.torch.TorchRuntime;
import ai.nos.internal.torch.TorchTensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The encoder of an encoder-decoder export ({@code scripts/models/make_whisper.py}'s
 * {@code encoder.pt}): {@code forward(input[B, channels, frames]) -> hidden[B, positions, d]},
 * batch-size generic. The engine runs it once per request at admission, on the admitted
 * requests together, and hands its output to the decoder's {@code cross_kv}; the output never
 * leaves the device.
 *
 * <p>The input's shape is the decoder's contract ({@link DecoderModel#info()}: {@code n_mels}
 * channels and {@code 2 x audio_positions} frames, Whisper's stride-2 convolution), checked on
 * the first output at load: a load runs one window of zeros through the encoder and requires
 * {@code [1, audio_positions, *]} back, so a mismatched pair of files fails at load, not in a
 * user's first request.
 *
 * <p><b>PCM input</b> (loaded with {@code pcm} true, Whisper only): a request's input is then one
 * 30 s window of 16 kHz mono PCM ({@value MelFilters#WINDOW_SAMPLES} floats) and
 * {@link #encode(float[], int)} computes its log-mel features on the device
 * ({@link WhisperLogMel}, float32, all windows of the admission together) right before the
 * encoder: no features cross the host. The load's probe runs a window of zeros through that
 * path too, so a device that cannot run it fails at load. Requires {@code 3000} frames (30 s).
 *
 * <p>Thread-safety: as {@link DecoderModel}: the engine's scheduler is the only caller after
 * load. {@link #close()} frees the module and the feature path's tensors.
 */
public final class EncoderModel implements AutoCloseable {
  private final JitModule module;
  private final int channels;
  private final int frames;
  /** The device features of PCM input; null when requests send the features themselves. */
  private final WhisperLogMel features;
  private final torch.ScalarType scalarType;
  private final Device device;

  private EncoderModel(JitModule module, int channels, int frames, WhisperLogMel features,
      torch.ScalarType scalarType, Device device) {
    this.device = device;
    this.module = module;
    this.channels = channels;
    this.frames = frames;
    this.features = features;
    this.scalarType = scalarType;
  }

  /**
   * Loads {@code file} for {@code decoder}, on its device in its precision, and checks that
   * they fit (see the class notes); with {@code pcm}, requests send PCM windows and the
   * features are computed on the device.
   *
   * @throws ModelLoadException if the file is not TorchScript, the decoder has no
   *     cross-attention or no {@code n_mels}, the encoder's output does not fit the decoder, or
   *     {@code pcm} is asked of a model whose input is not 3000 frames
   */
  public static EncoderModel load(String id, Path file, DecoderModel decoder, boolean pcm) {
    return load(id, file, null, decoder, pcm);
  }

  /**
   * As {@link #load(String, Path, DecoderModel, boolean)}, the bytes read checked against
   * {@code sha256} (null: not pinned).
   *
   * @throws ModelLoadException also if the bytes are not the ones {@code sha256} pins
   */
  public static EncoderModel load(String id, Path file, String sha256, DecoderModel decoder,
      boolean pcm) {
    if (!decoder.crossAttention()) {
      throw new ModelLoadException("generator '" + id + "': an encoder was given but the decoder"
          + " has no cross-attention (no cross_kv method): export the pair with"
          + " scripts/models/make_whisper.py");
    }
    Long mels = decoder.info().get("n_mels");
    if (mels == null || mels < 1) {
      throw new ModelLoadException("generator '" + id + "': the decoder's nos_generation() has"
          + " no positive 'n_mels' (the encoder input's channels), got " + mels);
    }
    int channels = mels.intValue();
    int frames = 2 * decoder.audioPositions();
    if (pcm && frames != MelFilters.FRAMES) {
      throw new ModelLoadException("generator '" + id + "': PCM input (whisperPcm) computes "
          + MelFilters.FRAMES + " frames of Whisper features per 30 s window, but the decoder's"
          + " audio_positions " + decoder.audioPositions() + " make the encoder's input "
          + frames + " frames: send the features instead");
    }
    Device device = decoder.device();
    JitModule module = DecoderModel.loadModule(id, file, sha256, device);
    WhisperLogMel mel = null;
    try (PointerScope scope = new PointerScope()) {
      module.eval();
      if (decoder.scalarType() != torch.ScalarType.Float) {
        module.to(decoder.scalarType(), false);
      } else if (ai.nos.internal.torch.TracedTf32.needed(device)) {
        ai.nos.internal.torch.TracedTf32.strictConvolutions(module); // fp32 means fp32
      }
      mel = pcm ? new WhisperLogMel(channels, device) : null;
      EncoderModel encoder = new EncoderModel(module, channels, frames, mel,
          decoder.scalarType(), device);
      try (org.bytedeco.pytorch.InferenceMode guard = new org.bytedeco.pytorch.InferenceMode()) {
        long[] shape = encoder.encode(new float[][] {new float[encoder.inputSize()]}).sizes()
            .vec().get();
        if (shape.length != 3 || shape[0] != 1 || shape[1] != decoder.audioPositions()) {
          throw new ModelLoadException("generator '" + id + "': encoder " + file + " maps ["
              + "1, " + channels + ", " + frames + "] to " + java.util.Arrays.toString(shape)
              + " but the decoder's cross-attention expects [1, " + decoder.audioPositions()
              + ", d_model]");
        }
      }
      return encoder;
    } catch (ModelLoadException e) {
      closeAll(module, mel);
      throw e;
    } catch (RuntimeException e) {
      closeAll(module, mel);
      throw new ModelLoadException("generator '" + id + "': encoder " + file + " does not run"
          + " on a [1, " + channels + ", " + frames + "] input" + (pcm ? " (from PCM)" : "")
          + " on " + device + ": " + DecoderModel.firstLine(e), e);
    }
  }

  private static void closeAll(JitModule module, WhisperLogMel mel) {
    module.close();
    if (mel != null) {
      mel.close();
    }
  }

  /**
   * The hidden states of the requests' {@code inputs}, {@link #inputSize()} floats each: copied
   * once, in parallel, into a pinned block of libtorch's caching host allocator (reused from
   * admission to admission: a fresh native buffer cost its page faults on every admission, 96 ms
   * for 64 windows on the H200 machine), one asynchronous transfer to the device (float32), the
   * features computed there for PCM input, then the model's precision
   * ({@link TorchTensors#staged}). In the caller's scope.
   */
  Tensor encode(float[][] inputs) {
    return encodeUploaded(upload(inputs));
  }

  /**
   * The requests' inputs on the device, float32, {@code [k, channels, frames]} or
   * {@code [k, 480000]}: the first half of {@link #encode(float[][])}. In the caller's scope.
   */
  Tensor upload(float[][] inputs) {
    int k = inputs.length;
    int n = inputSize();
    long[] shape = features == null ? new long[] {k, channels, frames}
        : new long[] {k, MelFilters.WINDOW_SAMPLES};
    return TorchTensors.staged(shape, DType.FLOAT32, 4L * k * n,
        buffer -> pack(inputs, n, buffer), TorchRuntime.toTorch(device), DType.FLOAT32);
  }

  /** The second half of {@link #encode(float[][])}: from {@link #upload}'s tensor. */
  Tensor encodeUploaded(Tensor packed) {
    if (features == null) { // the features themselves: cast on the device
      return encode(scalarType != torch.ScalarType.Float ? packed.to(scalarType) : packed);
    }
    Tensor input = features.features(packed);
    return encode(scalarType != torch.ScalarType.Float ? input.to(scalarType) : input);
  }

  /**
   * Writes window {@code r} of {@code inputs} ({@code n} floats each) at float {@code r * n} of
   * {@code buffer} (native order), the windows spread over {@link Copies}' threads: 16 PCM windows
   * are 30.7 MB, which one thread copied in about 6 ms on the H200 machine
   * (WhisperAdmitProbe, seventeenth session), longer than the encoder that reads them.
   */
  static void pack(float[][] inputs, int n, ByteBuffer buffer) {
    int k = inputs.length;
    int parts = Math.max(1, Math.min(k, Copies.parts(4L * k * n)));
    Copies.run(parts, p -> {
      FloatBuffer floats = buffer.duplicate().order(ByteOrder.nativeOrder()).asFloatBuffer();
      for (int r = p; r < k; r += parts) {
        floats.put(r * n, inputs[r], 0, n);
      }
    });
  }

  /**
   * The hidden states of {@code input} [B, channels, frames] on the device; in the caller's scope.
   */
  Tensor encode(Tensor input) {
    IValueVector args = new IValueVector();
    args.push_back(new IValue(input));
    return module.forward(args).toTensor();
  }

  /** Whether a request's input is a PCM window (see the class notes) rather than features. */
  public boolean pcmInput() {
    return features != null;
  }

  /**
   * The shape of one request's input: {@code [480000]} for PCM input, else
   * {@code [channels, frames]}.
   */
  public int[] inputShape() {
    return features != null ? new int[] {MelFilters.WINDOW_SAMPLES}
        : new int[] {channels, frames};
  }

  /** Channels of one request's input (mel bins). */
  public int channels() {
    return channels;
  }

  /** Frames of one request's input. */
  public int frames() {
    return frames;
  }

  /** Floats of one request's input: channels x frames, or one PCM window. */
  public int inputSize() {
    return features != null ? MelFilters.WINDOW_SAMPLES : channels * frames;
  }

  /**
   * Refuses a request's input of the wrong size, or for PCM input a non-finite sample (NaN
   * would spread through the window's maximum into every feature); the message names the
   * generator, what was expected and what was given.
   */
  public void checkInput(String id, float[] input) {
    checkInput(id, input, features != null, inputShape());
  }

  /**
   * {@link #checkInput(String, float[])} from the figures alone: {@code pcm} for an encoder that
   * takes PCM windows, {@code shape} its {@link #inputShape()}. For a caller without the loaded
   * encoder (a booked generator refusing an input before it pays for a reload).
   */
  public static void checkInput(String id, float[] input, boolean pcm, int[] shape) {
    if (pcm) {
      WhisperLogMel.checkWindow("generator '" + id + "': the encoder input (PCM)", input);
      return;
    }
    long size = 1;
    for (int d : shape) {
      size *= d;
    }
    if (input == null || input.length != size) {
      throw new IllegalArgumentException("generator '" + id + "': the encoder input must hold "
          + size + " floats (" + java.util.Arrays.toString(shape) + " row-major), got "
          + (input == null ? "null" : input.length + " floats"));
    }
  }

  /** The module's parameters and buffers, and the feature path's window and filter bank. */
  public long parameterBytes() {
    long mel = features == null ? 0 : 4L * (MelFilters.N_FFT + channels * MelFilters.FREQ_BINS);
    return TorchRuntime.moduleBytes(module) + mel;
  }

  @Override
  public void close() {
    closeAll(module, features);
  }
}
