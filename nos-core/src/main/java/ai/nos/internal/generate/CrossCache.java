package ai.nos.internal.generate;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/*
 * The cross-attention cache of an encoder-decoder generator: two tensors on the model's device,
 * [layers, rows, audioPositions, heads, headDim], allocated once beside the KvCache and indexed
 * by the same slots (row i belongs to whichever sequence holds slot i of the KvCache, and rows
 * has the KvCache's scratch row too, so a padding row of a decode step reads a row no sequence
 * owns). A request's row is written once, at admission, by the decoder's cross_kv from its
 * encoder output, and read by every step of that request; a freed slot's row needs no clearing,
 * as the next request's admission overwrites the whole row before its first step.
 *
 * Why a cache and not the encoder output: every step would otherwise project the 1500 encoder
 * positions to keys and values again in every layer, which is most of a Whisper decode step's
 * arithmetic. The tensors never move, so CUDA graphs of the decode step capture them as they do
 * the KvCache.
 *
 * Rows move with their slots: when the engine moves a sequence into a lower slot (the KvCache's
 * "Compact slots"), move() copies its rows of both tensors on the device with the same index
 * tensors, as the KvCache does its own.
 *
 * Not thread-safe: the engine's scheduler is its only user. close() frees the tensors.
 */
final class CrossCache implements AutoCloseable {
  private final Tensor keys;
  private final Tensor values;
  private final long bytes;

  CrossCache(DecoderModel model, int rows) {
    this.bytes = bytesPerSequence(model) * rows;
    long[] shape = {model.layers(), rows, model.audioPositions(), model.heads(), model.headDim()};
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      TensorOptions options = new TensorOptions(model.scalarType())
          .device(new org.bytedeco.pytorch.DeviceOptional(model.torchDevice()));
      Tensor k = torch.empty(shape, options, new MemoryFormatOptional()).zero_();
      Tensor v = torch.empty(shape, options, new MemoryFormatOptional()).zero_();
      k.retainReference();
      v.retainReference();
      this.keys = k;
      this.values = v;
    }
  }

  /** Bytes of one row: keys and values of every layer for every encoder position. */
  static long bytesPerSequence(DecoderModel model) {
    return model.crossAttention() ? 2L * model.layers() * model.audioPositions() * model.heads()
        * model.headDim() * model.bytesPerElement() : 0;
  }

  /**
   * Copies rows {@code from} of both tensors into rows {@code to} ([m] int64 on the device, the
   * same as the KvCache's move of these sequences). In a scope.
   */
  void move(Tensor from, Tensor to) {
    KvCache.moveRows(keys, 1, from, to);
    KvCache.moveRows(values, 1, from, to);
  }

  Tensor keys() {
    return keys;
  }

  Tensor values() {
    return values;
  }

  long bytes() {
    return bytes;
  }

  @Override
  public void close() {
    keys.releaseReference();
    values.releaseReference();
  }
}
