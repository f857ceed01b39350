package ai.nos.internal.generate;

import ai.nos.Device;
import ai.nos.Precision;
import java.nio.file.Path;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Benchmark-only access to the generation engine's admission steps, which are package-private in
 * nos-core, so that {@code ai.nos.benchmarks.gpu.WhisperAdmitProbe} times NOS's own code rather
 * than a copy of it: the loads ({@link DecoderModel#load}, {@link EncoderModel#load} with PCM
 * input), the upload ({@link Sampler#floats}), the encoder ({@link EncoderModel#encode(Tensor)}),
 * {@link DecoderModel#crossKv} into a {@link CrossCache}, and the whole admission as
 * GenerationEngine.encode runs it. It shares nos-core's package from the benchmarks jar, which
 * works on the class path only (the benchmarks run there; nos-core's module does not export this
 * package).
 *
 * <p>Not thread-safe: one caller, as the engine's scheduler. {@link #close()} frees the models and
 * the cross cache.
 */
public final class AdmissionSteps implements AutoCloseable {
  private final DecoderModel decoder;
  private final EncoderModel encoder;
  private final CrossCache cross;

  /**
   * Loads {@code dir}'s decoder.pt and encoder.pt (PCM input) and a cross cache of {@code slots}.
   */
  public AdmissionSteps(Path dir, Device device, Precision precision, int slots) {
    decoder = DecoderModel.load("admission-probe", dir.resolve("decoder.pt"), device, precision);
    EncoderModel e = null;
    try {
      e = EncoderModel.load("admission-probe", dir.resolve("encoder.pt"), decoder, true);
      cross = new CrossCache(decoder, slots);
    } catch (RuntimeException x) {
      if (e != null) {
        e.close();
      }
      decoder.close();
      throw x;
    }
    encoder = e;
  }

  /** The mel bins of the encoder's input. */
  public int bins() {
    return encoder.channels();
  }

  /** The cross cache's shape, for the probe's first line. */
  public long[] crossShape() {
    return cross.keys().sizes().vec().get();
  }

  /** The engine's pageable upload of packed PCM before the seventeenth session (float32). */
  public Tensor upload(FloatPointer packed, long[] shape) {
    return Sampler.floats(packed, shape, torch.ScalarType.Float, decoder.torchDevice());
  }

  /**
   * The engine's upload since the seventeenth session: the windows copied in parallel into a
   * pinned block of libtorch's caching host allocator, then one asynchronous transfer
   * (EncoderModel.upload).
   */
  public Tensor stagedUpload(float[][] windows) {
    return encoder.upload(windows);
  }

  /** Features in the model's precision, then the encoder, as EncoderModel.encode(float[][]). */
  public Tensor encode(Tensor features) {
    torch.ScalarType type = decoder.scalarType();
    return encoder.encode(type != torch.ScalarType.Float ? features.to(type) : features);
  }

  /** The decoder's cross_kv of {@code hidden} into the rows {@code slots} (device longs). */
  public Tensor crossKv(Tensor hidden, Tensor slots) {
    return decoder.crossKv(hidden, slots, cross.keys(), cross.values());
  }

  /** The whole admission as GenerationEngine.encode runs it (without its wait). */
  public Tensor admit(float[][] windows, Tensor slots) {
    return crossKv(encoder.encode(windows), slots);
  }

  @Override
  public void close() {
    cross.close();
    encoder.close();
    decoder.close();
  }
}
