package ai.nos.internal.generate;

import ai.nos.Device;
import ai.nos.ModelLoadException;
import ai.nos.Precision;
import ai.nos.internal.torch.TorchRuntime;
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
 * <p>Thread-safety: as {@link DecoderModel}: the engine's scheduler is the only caller after
 * load. {@link #close()} frees the module.
 */
public final class EncoderModel implements AutoCloseable {
  private final JitModule module;
  private final int channels;
  private final int frames;

  private EncoderModel(JitModule module, int channels, int frames) {
    this.module = module;
    this.channels = channels;
    this.frames = frames;
  }

  /**
   * Loads {@code file} for {@code decoder}, on its device in its precision, and checks that
   * they fit (see the class notes).
   *
   * @throws ModelLoadException if the file is not TorchScript, the decoder has no
   *     cross-attention or no {@code n_mels}, or the encoder's output does not fit the decoder
   */
  public static EncoderModel load(String id, Path file, DecoderModel decoder) {
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
    Device device = decoder.device();
    JitModule module = DecoderModel.loadModule(id, file, device);
    try (PointerScope scope = new PointerScope()) {
      module.eval();
      if (decoder.scalarType() != torch.ScalarType.Float) {
        module.to(decoder.scalarType(), false);
      }
      EncoderModel encoder = new EncoderModel(module, channels, frames);
      try (org.bytedeco.pytorch.InferenceMode guard = new org.bytedeco.pytorch.InferenceMode()) {
        Tensor probe = torch.zeros(new long[] {1, channels, frames},
            new org.bytedeco.pytorch.TensorOptions(decoder.scalarType()).device(
                new org.bytedeco.pytorch.DeviceOptional(decoder.torchDevice())));
        long[] shape = encoder.encode(probe).sizes().vec().get();
        if (shape.length != 3 || shape[0] != 1 || shape[1] != decoder.audioPositions()) {
          throw new ModelLoadException("generator '" + id + "': encoder " + file + " maps ["
              + "1, " + channels + ", " + frames + "] to " + java.util.Arrays.toString(shape)
              + " but the decoder's cross-attention expects [1, " + decoder.audioPositions()
              + ", d_model]");
        }
      }
      return encoder;
    } catch (ModelLoadException e) {
      module.close();
      throw e;
    } catch (RuntimeException e) {
      module.close();
      throw new ModelLoadException("generator '" + id + "': encoder " + file + " does not run"
          + " on a [1, " + channels + ", " + frames + "] input on " + device + ": "
          + DecoderModel.firstLine(e), e);
    }
  }

  /** The hidden states of {@code input} [B, channels, frames]; in the caller's scope. */
  Tensor encode(Tensor input) {
    IValueVector args = new IValueVector();
    args.push_back(new IValue(input));
    return module.forward(args).toTensor();
  }

  /** Channels of one request's input (mel bins). */
  public int channels() {
    return channels;
  }

  /** Frames of one request's input. */
  public int frames() {
    return frames;
  }

  /** Floats of one request's input: channels x frames. */
  public int inputSize() {
    return channels * frames;
  }

  public long parameterBytes() {
    return TorchRuntime.moduleBytes(module);
  }

  @Override
  public void close() {
    module.close();
  }
}
