package ai.nos.internal.generate;

import java.util.ArrayDeque;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/*
 * The key/value cache of a generator: slot-based. One pair of tensors on the model's device,
 * [layers, slots, length, kvHeads, headDim] each, allocated once when the generator is built; a
 * sequence owns one slot (a row of both) from its prefill to its last token, and the slot is
 * free again the moment the sequence finishes, fails or is cancelled. Beside it, "seen" [slots,
 * vocab] bool marks the tokens each slot's sequence holds, for the repetition penalty, so that
 * too stays on the device.
 *
 * Why slots and not paged blocks: with a slot per sequence the model's attention reads its rows
 * with one index_select and every decode step has the same tensors at the same addresses, which
 * is what a CUDA graph per batch bucket needs; the cost is that each slot is sized for the
 * longest sequence (length). Bytes are booked up front (bytes()), so the manager can count them
 * in placement exactly; paged blocks would save memory on mixed lengths and are the step after.
 * A stale slot needs no clearing: attention masks every position past the query's own, and a
 * new sequence writes positions 0.. before it reads them.
 *
 * With CUDA graphs the engine pads a decode step to a bucket size, and a padding row must write
 * its keys and values somewhere no sequence reads: the cache then has one scratch slot beyond
 * the sequences' (scratch(), never handed out), booked like the others.
 *
 * Not thread-safe: the engine's scheduler thread is its only user. close() frees the tensors.
 */
final class KvCache implements AutoCloseable {
  private final Tensor keys;
  private final Tensor values;
  private final Tensor seen;
  private final int slots;
  /** The scratch slot's index, or -1 without one. */
  private final int scratch;
  private final int length;
  private final int vocab;
  private final long bytes;
  private final ArrayDeque<Integer> free = new ArrayDeque<>();

  KvCache(DecoderModel model, int slots, int length) {
    this(model, slots, length, false);
  }

  /** @param scratch whether to add a scratch slot for padding rows (see the class notes) */
  KvCache(DecoderModel model, int slots, int length, boolean scratch) {
    this.slots = slots;
    this.scratch = scratch ? slots : -1;
    this.length = length;
    this.vocab = model.vocabSize();
    int rows = scratch ? slots + 1 : slots;
    this.bytes = bytesPerSequence(model, length) * rows;
    long[] shape = {model.layers(), rows, length, model.kvHeads(), model.headDim()};
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      TensorOptions options = new TensorOptions(model.scalarType())
          .device(new org.bytedeco.pytorch.DeviceOptional(model.torchDevice()));
      Tensor k = torch.empty(shape, options, new MemoryFormatOptional()).zero_();
      Tensor v = torch.empty(shape, options, new MemoryFormatOptional()).zero_();
      Tensor s = torch.empty(new long[] {rows, vocab}, new TensorOptions(
          torch.ScalarType.Bool).device(new org.bytedeco.pytorch.DeviceOptional(
              model.torchDevice())), new MemoryFormatOptional()).zero_();
      k.retainReference();
      v.retainReference();
      s.retainReference();
      this.keys = k;
      this.values = v;
      this.seen = s;
    }
    for (int i = 0; i < slots; i++) {
      free.add(i);
    }
  }

  /** Bytes of one slot: keys and values of every layer for {@code length} positions. */
  static long bytesPerSequence(DecoderModel model, int length) {
    return 2L * model.layers() * length * model.kvHeads() * model.headDim()
        * model.bytesPerElement() + model.vocabSize();
  }

  /** A free slot, or -1 if all are taken. */
  int acquire() {
    Integer s = free.poll();
    return s == null ? -1 : s;
  }

  void release(int slot) {
    if (slot < 0 || slot >= slots || free.contains(slot)) {
      throw new IllegalStateException("slot " + slot + " released twice or out of range (free "
          + free + ", slots " + slots + ")");
    }
    free.add(slot);
  }

  /** Marks {@code ids} as the only tokens slot {@code slot}'s sequence holds. In a scope. */
  void resetSeen(int slot, Tensor ids) {
    Tensor row = seen.select(0, slot);
    row.fill_(new Scalar(0L));
    row.index_fill_(0, ids, new Scalar(1L));
  }

  /** Marks token {@code next[i]} as held by slot {@code slotIds[i]}. In a scope. */
  void markSeen(Tensor slotIds, Tensor next) {
    seen.view(-1).index_fill_(0, slotIds.mul(new Scalar((long) vocab)).add(next),
        new Scalar(1L));
  }

  /** The seen rows of {@code slotIds}, [B, vocab]. In a scope. */
  Tensor seenRows(Tensor slotIds) {
    return seen.index_select(0, slotIds);
  }

  Tensor keys() {
    return keys;
  }

  Tensor values() {
    return values;
  }

  int slots() {
    return slots;
  }

  /** The slot padding rows write into, never handed out; -1 if this cache has none. */
  int scratch() {
    return scratch;
  }

  int length() {
    return length;
  }

  /** Slots plus the scratch slot, if any: the first dimension after layers. */
  int rows() {
    return scratch >= 0 ? slots + 1 : slots;
  }

  int freeSlots() {
    return free.size();
  }

  long bytes() {
    return bytes;
  }

  @Override
  public void close() {
    keys.releaseReference();
    values.releaseReference();
    seen.releaseReference();
  }
}
